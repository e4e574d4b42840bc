"""Naming series: human numbers like SO-202611-00042, unique and gap-free per series.

The counter lives in ``sys_series`` and is bumped with one UPDATE in the
record's own transaction: the row lock serialises concurrent creates, and a
rolled-back create gives its number back.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import bindparam, update

from apploom.engine.messages import msg
from apploom.engine.storage.database import insert_ignore
from apploom.engine.storage.system_tables import sys_series

TOKEN = re.compile(r"\{([^{}]*)\}")
DATE_TOKENS = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d"}
_BUMP = (
    update(sys_series)
    .where(sys_series.c.key == bindparam("series"))
    .values(last=sys_series.c.last + 1)
    .returning(sys_series.c.last)
)


def format_problems(pattern: str) -> list[str]:
    tokens = TOKEN.findall(pattern)
    problems: list[str] = [
        msg(
            "'{{{token}}}' is not a numbering token; use {{YYYY}}, {{YY}}, {{MM}}, {{DD}} "
            "or {{#####}} (one # per digit)",
            token=t,
        )
        for t in tokens
        if t not in DATE_TOKENS and not re.fullmatch(r"#+", t)
    ]
    counters = [t for t in tokens if t.startswith("#")]
    if len(counters) != 1:
        problems.append(msg("needs exactly one counter such as {{#####}}"))
    elif not pattern.endswith("{" + counters[0] + "}"):
        problems.append(msg("must end with its counter, e.g. SO-{{YYYY}}-{{#####}}"))
    return problems


def series_prefix(pattern: str, now: datetime) -> str:
    """The pattern up to its counter, with today's date filled in."""
    head = pattern[: pattern.index("{#")]
    return TOKEN.sub(lambda m: now.strftime(DATE_TOKENS[m.group(1)]), head)


def next_number(conn, series: str, pattern: str, now: datetime) -> str:
    prefix = series_prefix(pattern, now)
    key = f"{series}:{prefix}"
    width = pattern[pattern.index("{#") + 1 : -1].count("#")
    value = conn.execute(_BUMP, {"series": key}).scalar()
    if value is None:
        insert_ignore(conn, sys_series, {"key": key, "last": 0})
        value = conn.execute(_BUMP, {"series": key}).scalar_one()
    return f"{prefix}{value:0{width}d}"
