"""Values as people read them on screens: option labels, money with two decimals,
refs by their title (fetched once per list, not once per row)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import g

from apploom.engine.definitions.model import Entity, Field
from apploom.engine.fields.types import parse_int
from apploom.web.context import runtime
from apploom.web.i18n import current_language, label, translate


def ref_titles(entity: Entity, records: list[dict]) -> dict[str, dict[int, str]]:
    """{field: {id: title}} for every ref and user field shown for ``records``."""
    rt = runtime()
    result: dict[str, dict[int, str]] = {}
    users: set[int] = set()
    for fld in entity.fields.values():
        ids = {i for r in records if (i := parse_int(r.get(fld.name))) is not None}
        if fld.type == "ref":
            result[fld.name] = rt.records.titles(g.user, fld.target, ids, current_language())
        elif fld.type == "user":
            users |= ids
    for record in records:
        users |= {u for u in (record.get("created_by"), record.get("updated_by"))
                  if u is not None}
    result["_users"] = rt.users.names(users)
    return result


def key_titles(fld: Field, values: set) -> dict[Any, str]:
    """{value: text} for the values of a balance's key: a ref's records by title, any other
    field's values as shown."""
    if fld.type == "ref":
        return runtime().records.titles(g.user, fld.target, values, current_language())
    return {value: show(fld, value) for value in values}


def show(fld: Field, value: Any, titles: dict[str, dict[int, str]] | None = None) -> str:
    """The text shown for one stored (JSON-form) value."""
    if value is None or value == []:
        return ""
    if fld.type in ("select", "multiselect"):
        labels = {o.value: label(o.label) for o in fld.options}
        values = value if isinstance(value, list) else [value]
        return ", ".join(labels[v] if v in labels else str(v) for v in values)
    if fld.type == "boolean":
        return translate("Yes") if value else translate("No")
    if fld.type == "money":
        return f"{Decimal(value):,.2f}"
    if fld.type in ("ref", "user"):
        key = fld.name if fld.type == "ref" else "_users"
        record_id = parse_int(value)
        found = None if record_id is None else (titles or {}).get(key, {}).get(record_id)
        return f"#{value}" if found is None else found
    if fld.type == "datetime":
        return value.replace("T", " ")[:16]
    if fld.type == "percent":
        return f"{value} %"
    return str(value)
