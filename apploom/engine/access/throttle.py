"""Failed sign-ins counted per username and per client address in the database, so that
every worker process refuses a password guesser after a few tries, not each on its own."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, select

from apploom.engine import clock
from apploom.engine.errors import TooManyAttempts
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_auth_failure

_KEY = sys_auth_failure.c.key.type.length  # type: ignore[attr-defined]


def user_key(username: str) -> str:
    return f"user:{username}"[:_KEY]


def address_key(address: str) -> str:
    return f"address:{address}"[:_KEY]


class Throttle:
    """``limit`` failures of a key within ``window`` refuse it until the oldest of them
    is ``window`` old; refused attempts are not counted, so the wait never grows."""

    def __init__(self, db: Database, limit: int, window: timedelta):
        self.db = db
        self.limit = limit
        self.window = window

    def check(self, *keys: str) -> None:
        now = clock.now()
        t = sys_auth_failure.c
        with self.db.read() as conn:
            for key in keys:
                recent = (
                    conn.execute(
                        select(t.at)
                        .where(t.key == key, t.at > now - self.window)
                        .order_by(t.at.desc())
                        .limit(self.limit)
                    )
                    .scalars()
                    .all()
                )
                if len(recent) >= self.limit:
                    wait = recent[-1] + self.window - now
                    raise TooManyAttempts(max(1, math.ceil(wait.total_seconds())))

    def failed(self, *keys: str) -> None:
        """Count a failure for each key (and forget those too old to count)."""
        now = clock.now()
        with self.db.write() as conn:
            conn.execute(delete(sys_auth_failure).where(sys_auth_failure.c.at <= now - self.window))
            conn.execute(sys_auth_failure.insert(), [{"key": k, "at": now} for k in keys])

    def clear(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(sys_auth_failure).where(sys_auth_failure.c.key == key))
