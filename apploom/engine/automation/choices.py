"""Where each user's notifications go: the bell, an email to their address, their roles'
group robots. A user who never chose gets the bell and the robots, and no email."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

from sqlalchemy import Connection, delete, select

from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_notification_choice

CHANNELS = ("bell", "email", "robot")


@dataclass(frozen=True)
class Choice:
    bell: bool = True
    email: bool = False
    robot: bool = True


DEFAULT = Choice()


def of_users(conn: Connection, user_ids: Iterable[int]) -> dict[int, Choice]:
    """Each user's choice, the default for those who made none."""
    ids = list(user_ids)
    rows = conn.execute(
        select(sys_notification_choice).where(sys_notification_choice.c.user_id.in_(ids))
    ).mappings()
    chosen = {r["user_id"]: Choice(**{c: r[c] for c in CHANNELS}) for r in rows}
    return {i: chosen.get(i, DEFAULT) for i in ids}


def get(db: Database, user_id: int) -> Choice:
    with db.read() as conn:
        return of_users(conn, [user_id])[user_id]


def choose(db: Database, user_id: int, choice: Choice) -> None:
    with db.write() as conn:
        table = sys_notification_choice
        conn.execute(delete(table).where(table.c.user_id == user_id))
        conn.execute(table.insert().values(user_id=user_id, **asdict(choice)))
