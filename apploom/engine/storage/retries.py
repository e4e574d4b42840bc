"""Lock conflicts, retried: PostgreSQL ends one transaction of a deadlock, or one it could
not serialize, SQLite gives up on a write lock held longer than its busy timeout (a long
rule script, say), and the same work run again from the start almost always goes through.

A unit of work is a whole transaction: a failed attempt rolled back everything it wrote
(numbers, history, outbox messages), so running it again is safe. Only when a few
attempts, each after a random pause whose bound doubles, have all lost does the user
hear of it, as a :class:`Conflict` to try again.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError

from apploom.engine.errors import Conflict

LOCK_CONFLICTS = {"40P01", "40001", "55P03"}  # deadlock, serialization failure, NOWAIT
SQLITE_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}  # "database is locked"
ATTEMPTS = 8
PAUSE = 0.02  # seconds: the first pause's upper bound, doubled after each attempt
LONGEST = 1.0  # seconds, the bound the pauses' bound stops doubling at

T = TypeVar("T")
log = logging.getLogger(__name__)


class ConcurrentUpdate(Exception):
    """A row this transaction read was changed since by one that committed (its version
    check found out): what PostgreSQL reports as a serialization failure at stricter
    isolation levels, and retried like one."""


def lock_conflict(exc: BaseException | None) -> BaseException | None:
    """The lock conflict ``exc`` is, or was raised because of (a rule action or a
    savepoint may have turned it into an error of its own); None if there is none."""
    while exc is not None:
        if isinstance(exc, ConcurrentUpdate) or (
            isinstance(exc, DBAPIError)
            and (
                getattr(exc.orig, "sqlstate", None) in LOCK_CONFLICTS
                or getattr(exc.orig, "sqlite_errorname", None) in SQLITE_BUSY
            )
        ):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def retrying(work: Callable[[], T], attempts: int = ATTEMPTS, pause: float = PAUSE) -> T:
    """``work()``, run again while it fails with a lock conflict, at most ``attempts``
    times in all; then a :class:`Conflict`. Any other error goes through at once."""
    for attempt in range(attempts):
        try:
            return work()
        except Exception as exc:
            conflict = lock_conflict(exc)
            if conflict is None:
                raise
            cause = conflict.orig if isinstance(conflict, DBAPIError) else conflict
            log.info(
                "attempt %d of %d lost a lock conflict (%s)",
                attempt + 1,
                attempts,
                type(cause).__name__,
            )
        if attempt + 1 < attempts:
            time.sleep(random.uniform(0, min(pause * 2**attempt, LONGEST)))
    raise Conflict(
        "This could not be saved because of a change made at the same time; please try again"
    )
