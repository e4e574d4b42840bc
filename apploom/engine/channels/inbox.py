"""The channels' inbox: every payload that could not go in, kept as it came with the
reason and the path at fault, until an admin fixes it and replays it."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select, update

from apploom.engine import clock
from apploom.engine.errors import NotFound, ValidationFailed
from apploom.engine.kept_messages import kept_text, restored_text
from apploom.engine.messages import joined, message_of, msg
from apploom.engine.storage.database import Database, inserted_id
from apploom.engine.storage.system_tables import sys_channel_inbox

MAX_BODY = 1_000_000  # characters of a payload kept (a platform's order is far smaller)


class Inbox:
    def __init__(self, db: Database):
        self.db = db

    def keep(self, channel: str, body: bytes, error: Exception) -> int:
        with self.db.write() as conn:
            return self.keep_in(conn, channel, body, error)

    def keep_in(self, conn: Connection, channel: str, body: bytes, error: Exception) -> int:
        """Keep it inside the caller's transaction (a pull's, which stores its cursor with
        what the pull took in: a payload kept is then kept once)."""
        path, reason = _why(error)
        return inserted_id(
            conn,
            insert(sys_channel_inbox).values(
                channel=channel,
                received_at=clock.now(),
                body=body.decode("utf-8", "replace")[:MAX_BODY],
                reason=reason[:4000],
                said=kept_text(reason),
                path=path[:300] if path else None,
                status="waiting",
            ),
        )

    def list(self, status: str | None = "waiting", limit: int = 100) -> list[dict]:
        query = select(sys_channel_inbox).order_by(sys_channel_inbox.c.id.desc()).limit(limit)
        if status:
            query = query.where(sys_channel_inbox.c.status == status)
        with self.db.read() as conn:
            return [_entry(r) for r in conn.execute(query).mappings()]

    def waiting(self) -> int:
        with self.db.read() as conn:
            return conn.execute(
                select(func.count()).where(sys_channel_inbox.c.status == "waiting")
            ).scalar_one()

    def get(self, entry_id: int) -> dict:
        with self.db.read() as conn:
            found = (
                conn.execute(select(sys_channel_inbox).where(sys_channel_inbox.c.id == entry_id))
                .mappings()
                .first()
            )
        if found is None:
            raise NotFound(msg("There is no inbox entry {id}", id=entry_id))
        return _entry(found)

    def replayed(self, entry_id: int, body: str, order_id: int | None) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(sys_channel_inbox)
                .where(sys_channel_inbox.c.id == entry_id)
                .values(status="replayed", body=body[:MAX_BODY], order_id=order_id)
            )

    def refused_again(self, entry_id: int, body: str, error: Exception) -> None:
        """A replay that failed: the body as fixed so far, and the new reason."""
        path, reason = _why(error)
        with self.db.write() as conn:
            conn.execute(
                update(sys_channel_inbox)
                .where(sys_channel_inbox.c.id == entry_id)
                .values(
                    body=body[:MAX_BODY], reason=reason[:4000], said=kept_text(reason), path=path
                )
            )


def _why(error: Exception) -> tuple[str | None, str]:
    """The path at fault (the first one) and the reason, kept to be worded in the
    admin's language when the inbox is read."""
    fields = error.fields if isinstance(error, ValidationFailed) else {}
    said = [msg("{path}: {problem}", path=k, problem=v) for k, v in fields.items()]
    return next(iter(fields), None), joined(said) if said else message_of(error)


def _entry(row) -> dict:
    """An entry as stored, its reason a Message again where it was kept as one."""
    entry = dict(row)
    entry["reason"] = restored_text(entry["reason"], entry.pop("said"))
    return entry
