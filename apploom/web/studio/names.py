"""The names the studio makes for what an admin adds (a field, a status, a transition, a
rule, a report): rules, reports and the API call them by these, so they are made from
the English label, and never one already taken."""

from __future__ import annotations

import re

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def new_name(english: str, taken, fallback: str) -> str:
    """A name made from the English label (``fallback`` for a Chinese-only one), free."""
    made = re.sub(r"[^a-z0-9]+", "_", english.lower()).strip("_")[:32]
    return free_name(made if NAME.fullmatch(made) else fallback, taken)


def free_name(name: str, taken) -> str:
    """``name``, or ``name_2`` and so on if it is taken."""
    return next(
        candidate
        for candidate in (name, *(f"{name}_{n}" for n in range(2, len(taken) + 3)))
        if candidate not in taken
    )
