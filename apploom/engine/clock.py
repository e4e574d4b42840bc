"""The time the engine stamps on what it writes: now, unless a caller replays the past.

Loading history (a year of demo orders, records migrated from another system) runs
under ``at(moment)``, so each record, transition, rule run and message carries the
time it happened then, and ``today()`` in rules is that day.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timezone
from typing import Iterator

_replayed: ContextVar[datetime | None] = ContextVar("apploom_replayed_time", default=None)


def now() -> datetime:
    return _replayed.get() or datetime.now(timezone.utc)


def today() -> date:
    return now().date()


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Stamp everything done inside the block (in this thread) with ``moment``."""
    token = _replayed.set(moment)
    try:
        yield
    finally:
        _replayed.reset(token)
