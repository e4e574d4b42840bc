"""Values as people read them on screens, as their field types show them: option labels,
money in the instance's currency, refs by their title (fetched once per list, not once
per row), and the template filters for figures and times that no field holds."""

from __future__ import annotations

from typing import Any

from flask import g

from apploom.engine import formatting
from apploom.engine.access import permissions
from apploom.engine.definitions.model import Entity, Field
from apploom.engine.fields.base import parse_int
from apploom.engine.messages import msg
from apploom.web.context import runtime
from apploom.web.i18n import current_language, translate


def ref_titles(entity: Entity, records: list[dict]) -> dict[str, dict[int, str]]:
    """{field: {id: title}} for every ref and user field shown for ``records``."""
    rt = runtime()
    result: dict[str, dict[int, str]] = {}
    users = ["created_by", "updated_by"]
    for fld in entity.fields.values():
        ftype = rt.types[fld.type]
        if ftype.is_reference:
            ids = {i for r in records if (i := parse_int(r.get(fld.name))) is not None}
            result[fld.name] = rt.records.titles(
                g.user, fld.target, ids, current_language(), via=(entity.qualified, fld.name)
            )
        elif ftype.is_user:
            users.append(fld.name)
    names = rt.users.names(
        {i for r in records for n in users if (i := parse_int(r.get(n))) is not None}
    )
    return {**result, **dict.fromkeys(users, names)}


def key_titles(fld: Field, values: set) -> dict[Any, str]:
    """{value: text} for the values of a balance's key: a ref's records by title, any other
    field's values as shown."""
    if runtime().types[fld.type].is_reference:
        return runtime().records.titles(g.user, fld.target, values, current_language())
    return {value: show(fld, value) for value in values}


def show(fld: Field, value: Any, titles: dict[str, dict[int, str]] | None = None) -> str:
    """The text shown for one stored (JSON-form) value."""
    if value is None or value == []:
        return ""
    return (
        runtime()
        .types[fld.type]
        .display(fld, value, current_language(), (titles or {}).get(fld.name, {}))
    )


def local_time(value: Any) -> str:
    """A moment (or its ISO text) on the business's clock, as the screen's language reads it."""
    return "" if value in (None, "") else formatting.moment(value, current_language())


def money(value: Any) -> str:
    return "" if value in (None, "") else formatting.money(value, current_language())


def day(value: Any) -> str:
    """A day (or its ISO text) as the screen's language writes it."""
    return "" if value in (None, "") else formatting.day(value, current_language())


FILTERS = {"local_time": local_time, "money": money, "day": day}

# what set a rule off, as a rule run keeps it (a transition: "transition:<name>")
TRIGGERS = {
    "created": msg("created"),
    "updated": msg("changed"),
    "deleted": msg("deleted"),
    "transition": msg("moved it"),
    "schedule": msg("on its schedule"),
    "webhook": msg("called from outside"),
}


def rule_trigger(entity: Entity, trigger: str) -> str:
    """What set a rule run off, in the reader's words: a transition by its label."""
    kind, _, name = trigger.partition(":")
    move = entity.workflow.transitions.get(name) if entity.workflow and name else None
    if move is not None:
        return move.label.get(current_language())
    return translate(TRIGGERS.get(kind, trigger))


def user_choices(entity: Entity, current: Any = None) -> list[tuple[int, str]]:
    """(id, name) of the active users who may read ``entity``, for a user field's select;
    the user it holds now comes too, disabled or not, so saving keeps them."""
    rt = runtime()
    choices = [
        (u.id, u.display_name)
        for u in rt.users.everyone_active()
        if u.id is not None and permissions.scope(rt.apps, u, entity, "read") is not None
    ]
    held = parse_int(current)
    if held is not None and held not in {i for i, _ in choices}:
        choices.insert(0, (held, rt.users.names({held}).get(held, f"#{held}")))
    return choices


def change_titles(entity: Entity, timeline: list[dict]) -> dict[str, dict[int, str]]:
    """Titles of the records and users a timeline's changes name, before and after."""
    values = [
        {name: change[side]}
        for entry in timeline
        for name, change in (entry.get("changes") or {}).items()
        if isinstance(change, list) and len(change) == 2
        for side in (0, 1)
    ]
    return ref_titles(entity, values)
