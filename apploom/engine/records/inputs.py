"""Reading a record's input: every value coerced and checked by its field type,
every problem collected under the field's name (``lines.0.qty`` for child rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from apploom.engine.definitions.model import SYSTEM_COLUMNS, AppSet, Entity, Field, Option
from apploom.engine.fields.base import Invalid
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import msg


@dataclass
class RowInput:
    """One child row as sent: its id if it already exists, and the values given."""

    id: int | None
    values: dict[str, Any]


@dataclass
class Input:
    values: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[RowInput]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    by_rule: bool = False  # read for a rule or a plugin (see read_input)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_input(
    entity: Entity,
    data: Any,
    apps: AppSet,
    types: FieldTypes,
    prefix: str = "",
    *,
    by_rule: bool = False,
) -> Input:
    """``by_rule``: a rule or a plugin is writing, which may set read-only fields and
    choose ``system`` options (they are the app's rules' to keep, not people's)."""
    result = Input(by_rule=by_rule)
    if not isinstance(data, Mapping):
        result.errors[prefix.rstrip(".") or "body"] = "must be an object of field: value pairs"
        return result
    for name, raw in data.items():
        key = prefix + str(name)
        fld = entity.fields.get(name)
        if fld is None:
            result.errors[key] = (
                "is set by the system"
                if name in SYSTEM_COLUMNS
                else f"is not a field of {entity.name}"
            )
            continue
        if types.computed(fld):
            result.errors[key] = "is computed and cannot be set"
            continue
        if entity.workflow is not None and name == entity.workflow.field:
            result.errors[key] = "changes only through the workflow's transitions: " + ", ".join(
                entity.workflow.transitions
            )
            continue
        if fld.readonly and not by_rule:
            result.errors[key] = "is read-only"
            continue
        if fld.holds_rows:
            result.tables[name] = _read_rows(fld, raw, apps, types, key, result, by_rule)
            continue
        if is_blank(raw):
            result.values[name] = None
            continue
        ftype = types[fld.type]
        if ftype.text_only and not by_rule and _is_number(raw):
            # Not turned into text: 1e3 or 0.10 would be stored as someone else's text.
            result.errors[key] = msg("must be text: send it as a JSON string, in quotes")
            continue
        try:
            value = ftype.coerce(fld, raw)
            ftype.check(fld, value)
        except Invalid as exc:
            result.errors[key] = exc.message
            continue
        chosen = _system_options(fld, value)
        if chosen and not by_rule:
            result.errors[key] = msg(
                "'{option}' is recorded by the app's rules only; choose one of: {options}",
                option=chosen[0].label,
                options=", ".join(o.value for o in fld.options if not o.system),
            )
            continue
        result.values[name] = value
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _system_options(fld: Field, value: Any) -> list[Option]:
    """The ``system`` options a value chooses (one for a select, any of a multi-select)."""
    chosen = set(value) if isinstance(value, list) else {value}
    return [o for o in fld.options if o.system and o.value in chosen]


def _read_rows(
    fld: Field,
    raw: Any,
    apps: AppSet,
    types: FieldTypes,
    key: str,
    parent: Input,
    by_rule: bool,
) -> list[RowInput]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        parent.errors[key] = "must be a list of rows"
        return []
    if len(raw) > fld.row_limit:  # refused before any row is read
        parent.errors[key] = f"has {len(raw)} rows; at most {fld.row_limit} are allowed"
        return []
    child = apps.entity(fld.child)
    rows = []
    for i, row in enumerate(raw):
        row_id = None
        if isinstance(row, Mapping) and "id" in row:
            row = dict(row)
            row_id = row.pop("id")
            if row_id is not None and (not isinstance(row_id, int) or isinstance(row_id, bool)):
                parent.errors[f"{key}.{i}.id"] = "must be the id of an existing row"
                continue
        read = read_input(child, row, apps, types, prefix=f"{key}.{i}.", by_rule=by_rule)
        parent.errors.update(read.errors)
        rows.append(RowInput(row_id, read.values))
    return rows
