"""Days and moments: dates, and date-times kept in UTC and read in the business's zone."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import Date

from apploom.engine import clock
from apploom.engine.fields.base import Invalid, RangedType
from apploom.engine.storage.column_types import UTCDateTime


class DateType(RangedType):
    name = "date"
    settings = frozenset({"min", "max"})
    dated = True
    dynamic_defaults = ("today",)
    input_type = "date"

    def column_type(self, field):
        return Date()

    def coerce(self, field, value):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise Invalid("must be a date like 2026-01-31")

    def dump(self, field, value):
        return None if value is None else value.isoformat()

    def json_schema(self, field):
        return {"type": "string", "format": "date"}

    def default(self, field, user_id, now):
        return clock.local(now).date() if field.default == "today" else field.default


class DateTimeType(RangedType):
    name = "datetime"
    settings = frozenset({"min", "max"})
    dated = True
    timed = True
    dynamic_defaults = ("now",)
    input_type = "datetime-local"

    def column_type(self, field):
        return UTCDateTime()

    def coerce(self, field, value):
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time())  # a day alone: its start
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise Invalid("must be a date and time like 2026-01-31T14:30:00Z") from None
        if not isinstance(value, datetime):
            raise Invalid("must be a date and time like 2026-01-31T14:30:00Z")
        if value.tzinfo is None:  # as a clock in the shop reads: the business's zone
            value = value.replace(tzinfo=clock.zone())
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise Invalid("is out of range") from None

    def dump(self, field, value):
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    def json_schema(self, field):
        return {"type": "string", "format": "date-time"}

    def default(self, field, user_id, now):
        return now if field.default == "now" else field.default

    def display(self, field, value, lang, titles):
        return local_time(value)


def local_time(value: datetime | str | None, form: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment (or its ISO text) as the business's clock reads it."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return clock.local(value).strftime(form)
