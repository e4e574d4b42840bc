"""Record history: one entry per change, saying who changed what, when, from what to what."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from .model import Entity
from .permissions import User
from .systables import sys_history, sys_user

_INSERT = sys_history.insert()


def write_history(conn: Connection, entity: Entity, record_id: int, version: int, action: str,
                  user: User, now: datetime, changes: dict) -> None:
    conn.execute(_INSERT, {"entity": entity.qualified, "record_id": record_id,
                           "version": version, "action": action, "user_id": user.id, "at": now,
                           "changes": changes})


def read_history(conn: Connection, entity: Entity, record_id: int) -> list[dict]:
    query = (select(sys_history.c.version, sys_history.c.action, sys_history.c.at,
                    sys_history.c.changes, sys_user.c.username)
             .outerjoin(sys_user, sys_user.c.id == sys_history.c.user_id)
             .where(sys_history.c.entity == entity.qualified,
                    sys_history.c.record_id == record_id)
             .order_by(sys_history.c.id))
    return [{"version": r.version, "action": r.action,
             "at": r.at.isoformat().replace("+00:00", "Z"),
             "user": r.username or "system", "changes": r.changes}
            for r in conn.execute(query)]
