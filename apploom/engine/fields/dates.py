"""Days and moments: dates, and date-times kept in UTC and read in the business's zone."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date

from apploom.engine import clock, formatting
from apploom.engine.fields.base import DATED_OPS, Invalid, RangedType
from apploom.engine.messages import msg
from apploom.engine.storage.column_types import UTCDateTime

# How shops and spreadsheets write a day and a time: 2024-05-01, 2024/05/01, 2024.5.1,
# 2024年5月1日, 20240501; a time after it (12:30, 12:30:00, 12:30:00.5; after a space or
# a T); an offset (Z, +08:00, +0800, as Shopify's "2024-05-01 12:30:00 -0400").
WRITTEN = re.compile(
    r"(?P<y>[0-9]{4})(?:[-/.年](?P<m>[0-9]{1,2})[-/.月](?P<d>[0-9]{1,2})日?"
    r"|(?P<m8>[0-9]{2})(?P<d8>[0-9]{2}))"
    r"(?:(?:\s+|T)(?P<H>[0-9]{1,2})[:时](?P<M>[0-9]{2})分?"
    r"(?:[:分](?P<S>[0-9]{2})(?P<f>\.[0-9]{1,6})?秒?)?)?"
    r"\s*(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def written_moment(text: str) -> tuple[datetime, bool] | None:
    """(the moment, whether a time was written) for a day or a date-time as shops write
    it, naive unless it states its offset; None for text of another shape."""
    found = WRITTEN.fullmatch(text.strip())
    if found is None:
        return None
    part = found.groupdict()
    try:
        moment = datetime(
            int(part["y"]),
            int(part["m"] or part["m8"]),
            int(part["d"] or part["d8"]),
            int(part["H"] or 0),
            int(part["M"] or 0),
            int(part["S"] or 0),
            round(float(part["f"] or 0) * 1_000_000),
        )
    except ValueError:
        return None  # 2024-02-30, 25:00: the type's own message says what is wanted
    if part["tz"]:
        moment = moment.replace(tzinfo=_offset(part["tz"]))
    return moment, part["H"] is not None


def _offset(text: str) -> timezone:
    if text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


class DateType(RangedType):
    name = "date"
    settings = frozenset({"min", "max"})
    ops = DATED_OPS
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
        raise Invalid(msg("must be a date like 2026-01-31"))

    def parse_text(self, field, text):
        """A day as a shop's file writes it; a date-time with an offset is the day it
        was in the business's zone."""
        found = written_moment(text)
        if found is None:
            return text
        moment, _ = found
        return clock.local(moment).date() if moment.tzinfo else moment.date()

    def dump(self, field, value):
        return None if value is None else value.isoformat()

    def json_schema(self, field):
        return {"type": "string", "format": "date"}

    def display(self, field, value, lang, titles):
        return formatting.day(value, lang)

    def default(self, field, user_id, now):
        return clock.local(now).date() if field.default == "today" else field.default


WANTED_MOMENT = msg("must be a date and time like 2026-01-31T14:30:00Z")


class DateTimeType(RangedType):
    name = "datetime"
    settings = frozenset({"min", "max"})
    ops = DATED_OPS
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
                raise Invalid(WANTED_MOMENT) from None
        if not isinstance(value, datetime):
            raise Invalid(WANTED_MOMENT)
        if value.tzinfo is None:  # as a clock in the shop reads: the business's zone
            value = value.replace(tzinfo=clock.zone())
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise Invalid(msg("is out of range")) from None

    def parse_text(self, field, text):
        """A date-time as a shop's file writes it (a day alone: its start); one without
        an offset is on the business's clock."""
        found = written_moment(text)
        return text if found is None else found[0]

    def dump(self, field, value):
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    def json_schema(self, field):
        return {"type": "string", "format": "date-time"}

    def default(self, field, user_id, now):
        return now if field.default == "now" else field.default

    def display(self, field, value, lang, titles):
        return formatting.moment(value, lang)


def local_time(value: datetime | str | None, form: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment (or its ISO text) as the business's clock reads it. Text without
    an offset was typed into a form on that clock already (a refused form shows it again)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value.tzinfo is None:
            return value.strftime(form)
    return clock.local(value).strftime(form)
