"""Polled channels: the worker pulls each one when its turn is due, through the puller
its plugin provides, and takes each payload in as a pushed one is taken in.

Each channel has a row in sys_channel_pull: its cursor, when the next pull is due, and
how the last ones failed. A worker claims a turn by moving the due time on (one
conditional UPDATE: of several workers, on PostgreSQL or SQLite, one wins), pulls
outside any transaction, then, in one transaction, takes the batch in and stores the
new cursor only if its claim still holds. A crash before that commit leaves the cursor
where it was: the batch is pulled again, and its orders, known by (channel, external
id), are not made twice. A failed pull keeps the cursor and is tried again later,
backing off; its error is shown on /admin/channels.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from croniter import croniter
from sqlalchemy import Connection, select, update

from apploom.engine import clock
from apploom.engine.access.users import User
from apploom.engine.automation.outbox import backoff
from apploom.engine.channels.definition import Channel, Pull
from apploom.engine.channels.pullers import Batch, Puller
from apploom.engine.channels.service import Channels, Outcome, raced
from apploom.engine.definitions.model import App
from apploom.engine.errors import RuleError, ValidationFailed
from apploom.engine.storage.database import insert_ignore
from apploom.engine.storage.system_tables import sys_channel_pull

LEASE = timedelta(minutes=5)  # how long a claimed turn is left to its worker
log = logging.getLogger(__name__)


class LostTurn(RuntimeError):
    """The pull took longer than its lease, and another worker has the turn now."""


class Pulls:
    def __init__(
        self, channels: Channels, pullers: Mapping[str, Puller], acting: Callable[[], User]
    ):
        self.channels = channels
        self.pullers = pullers
        self.acting = acting  # the user the pulled orders are made as
        self.db = channels.records.db

    def run_due(self, now: datetime | None = None) -> int:
        """Pull every polled channel whose turn is due; how many were pulled."""
        now = now or clock.now()
        polled = [
            (app, channel)
            for app in self.channels.records.apps.ordered()
            for channel in app.channels.values()
            if channel.pull is not None
        ]
        return sum(self._pull(app, channel, now) for app, channel in polled)

    def states(self) -> dict[str, dict]:
        """Each polled channel's row: cursor, next pull, failures, last error."""
        with self.db.read() as conn:
            rows = conn.execute(select(sys_channel_pull)).mappings()
            return {row["channel"]: dict(row) for row in rows}

    def _pull(self, app: App, channel: Channel, now: datetime) -> bool:
        claimed = self._claim(channel.name, now)
        if claimed is None:
            return False
        token, cursor = claimed
        assert channel.pull is not None
        try:
            user = self.acting()
            self.channels.require_taker(user, app)
            puller = self.pullers[channel.pull.kind]  # the definition checks made sure
            batch = puller.pull(channel, self.channels.secrets.values(channel.name), cursor)
            self._take_batch(user, app, channel, token, batch, now)
        except Exception as exc:  # noqa: BLE001 - any failure is tried again, backing off
            self._failed(channel.name, token, exc, now)
        return True

    def _claim(self, name: str, now: datetime) -> tuple[str, str | None] | None:
        """The turn, if it is due and no other worker took it: (token, cursor)."""
        table = sys_channel_pull
        with self.db.read() as conn:
            due = conn.execute(select(table.c.next_pull_at).where(table.c.channel == name)).scalar()
        if due is not None and due > now:
            return None  # not due: no write transaction, which would take SQLite's lock
        token = uuid.uuid4().hex
        with self.db.write() as conn:
            insert_ignore(conn, table, {"channel": name, "next_pull_at": now, "failures": 0})
            claimed = conn.execute(
                update(table)
                .where(table.c.channel == name, table.c.next_pull_at <= now)
                .values(claim=token, next_pull_at=now + LEASE)
            )
            if claimed.rowcount != 1:
                return None
            cursor = conn.execute(select(table.c.cursor).where(table.c.channel == name)).scalar()
        return token, cursor

    def _take_batch(
        self, user: User, app: App, channel: Channel, token: str, batch: Batch, now: datetime
    ) -> list[Outcome]:
        table = sys_channel_pull
        assert channel.pull is not None
        pull = channel.pull

        def work(conn: Connection) -> list[Outcome]:
            held = conn.execute(
                select(table.c.claim).where(table.c.channel == channel.name).with_for_update()
            ).scalar()
            if held != token:
                raise LostTurn(f"the pull of {channel.name} outlasted its lease")
            outcomes = [self._one(conn, user, app, channel, p) for p in batch.payloads]
            moved = {} if batch.cursor is None else {"cursor": batch.cursor}
            conn.execute(
                update(table)
                .where(table.c.channel == channel.name)
                .values(
                    claim=None,
                    failures=0,
                    last_error=None,
                    last_pulled_at=now,
                    next_pull_at=next_pull(pull, now),
                    **moved,
                )
            )
            return outcomes

        return self.channels.records.transaction(work)

    def _one(
        self, conn: Connection, user: User, app: App, channel: Channel, payload: Any
    ) -> Outcome:
        """One payload in, under a savepoint: one the mapping cannot read is kept in the
        inbox (with the rest of the batch going in), as a pushed one would be."""
        body = payload if isinstance(payload, bytes) else _canonical(payload)
        try:
            with conn.begin_nested():
                return self.channels.take_in(conn, user, app, channel, body)
        except (ValidationFailed, RuleError) as exc:
            if isinstance(exc, ValidationFailed) and raced(exc):
                raise  # a push made it meanwhile: the next pull finds it
            self.channels.inbox.keep_in(conn, channel.name, body, exc)
            return Outcome("kept")

    def _failed(self, name: str, token: str, error: Exception, now: datetime) -> None:
        table = sys_channel_pull
        message = f"{type(error).__name__}: {error}"[:2000]
        with self.db.write() as conn:
            failures = conn.execute(
                select(table.c.failures).where(table.c.channel == name, table.c.claim == token)
            ).scalar()
            if failures is None:
                return  # another worker has the turn now, and says how it went
            conn.execute(
                update(table)
                .where(table.c.channel == name, table.c.claim == token)
                .values(
                    claim=None,
                    failures=failures + 1,
                    last_error=message,
                    next_pull_at=now + backoff(failures + 1),
                )
            )
        log.warning("pulling channel %s failed (%d in a row): %s", name, failures + 1, message)


def next_pull(pull: Pull, after: datetime) -> datetime:
    if isinstance(pull.every, int):
        return after + timedelta(seconds=pull.every)
    return croniter(pull.every, after).get_next(datetime)


def _canonical(payload: Any) -> bytes:
    """A JSON payload as bytes that are the same each time it comes, so a page pulled
    again finds its orders unchanged."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
