"""Channel secrets, kept in the instance's database: set by an admin (`apploom channels
secret`), read by the hooks and the outbox on each call, so a new one applies at once.
Nothing reads them back out: a secret is set, or replaced, never shown."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from apploom.engine import clock
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_channel_secret

SIGNING = "signing"  # the secret a channel's calls are signed with


class ChannelSecrets:
    def __init__(self, db: Database):
        self.db = db

    def set(self, channel: str, value: str, name: str = SIGNING) -> None:
        if not value.strip():
            raise ValueError("a secret cannot be empty")
        table = sys_channel_secret
        with self.db.write() as conn:
            conn.execute(delete(table).where(table.c.channel == channel, table.c.name == name))
            conn.execute(
                insert(table).values(
                    channel=channel, name=name, value=value, updated_at=clock.now()
                )
            )

    def get(self, channel: str, name: str = SIGNING) -> str | None:
        table = sys_channel_secret
        with self.db.read() as conn:
            return conn.execute(
                select(table.c.value).where(table.c.channel == channel, table.c.name == name)
            ).scalar()

    def values(self, channel: str) -> dict[str, str]:
        """Every secret of the channel, {name: value}: for its puller, read at each pull."""
        table = sys_channel_secret
        with self.db.read() as conn:
            return dict(
                conn.execute(
                    select(table.c.name, table.c.value).where(table.c.channel == channel)
                ).all()
            )

    def names(self, channel: str) -> list[str]:
        """Which secrets the channel has (their names only)."""
        table = sys_channel_secret
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(table.c.name).where(table.c.channel == channel).order_by(table.c.name)
                ).scalars()
            )
