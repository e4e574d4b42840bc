"""In-app notifications: what rules told each user, read or not yet."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, func, select, update

from apploom.engine import clock
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_notification


def send(conn: Connection, user_ids: list[int], message: str, link: str | None) -> None:
    """Tell ``user_ids`` something, inside the caller's transaction."""
    now = clock.now()
    if user_ids:
        conn.execute(
            sys_notification.insert(),
            [
                {"user_id": user_id, "message": message, "link": link, "created_at": now}
                for user_id in user_ids
            ],
        )


def record_link(entity: Entity, record_id: int) -> str:
    """The page a notification about a record opens."""
    return f"/a/{entity.app}/{entity.name}/{record_id}"


class Notifications:
    def __init__(self, db: Database):
        self.db = db

    def unread(self, user: User) -> int:
        with self.db.read() as conn:
            return conn.execute(
                select(func.count())
                .select_from(sys_notification)
                .where(sys_notification.c.user_id == user.id, sys_notification.c.read_at.is_(None))
            ).scalar_one()

    def latest(self, user: User, limit: int = 50) -> list[dict]:
        query = (
            select(sys_notification)
            .where(sys_notification.c.user_id == user.id)
            .order_by(sys_notification.c.id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def mark_read(self, user: User) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(sys_notification)
                .where(sys_notification.c.user_id == user.id, sys_notification.c.read_at.is_(None))
                .values(read_at=datetime.now(timezone.utc))
            )
