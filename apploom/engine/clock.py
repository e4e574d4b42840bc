"""The time the engine stamps on what it writes, and the business's time zone.

Moments are stored in UTC. The instance's zone (APPLOOM_TIME_ZONE, Asia/Shanghai unless
set) says what day it is: ``today()``, the day an order was placed, and how times read
on screens; a time typed or imported without an offset is a time in that zone.

Loading history (a year of demo orders, records migrated from another system) runs
under ``at(moment)``, so each record, transition, rule run and message carries the
time it happened then, and ``today()`` in rules is that day.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"
_replayed: ContextVar[datetime | None] = ContextVar("apploom_replayed_time", default=None)
_zone = [ZoneInfo(DEFAULT_ZONE)]  # one business, one zone, per process


def use_zone(name: str) -> None:
    _zone[0] = ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone[0]


def now() -> datetime:
    return _replayed.get() or datetime.now(timezone.utc)


def local(moment: datetime) -> datetime:
    """``moment`` on the business's clock; a naive one is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone())


def today() -> date:
    return local(now()).date()


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Stamp everything done inside the block (in this thread) with ``moment``."""
    token = _replayed.set(moment)
    try:
        yield
    finally:
        _replayed.reset(token)
