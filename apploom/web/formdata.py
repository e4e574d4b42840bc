"""Turning a submitted HTML form into record input, child rows included.

Row inputs are named ``<table>-<n>-<field>`` (``lines-3-qty``); ``n`` only orders
the rows, so rows added in the browser can pick any increasing number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from werkzeug.datastructures import FileStorage, ImmutableMultiDict, MultiDict

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import AppSet, Entity, Field
from apploom.engine.fields.base import parse_int
from apploom.engine.fields.registry import FieldTypes

ROW_KEY = re.compile(r"([a-z][a-z0-9_]*)-([0-9]{1,20})-([a-z][a-z0-9_]*)")

StoreFile = Callable[[FileStorage], str | None]  # the stored file's id; None: not kept


def editable(entity: Entity, types: FieldTypes, user: User | None = None) -> list[Field]:
    """The fields a form lets ``user`` type in (a row's fields: ``user`` left out)."""
    return [
        f
        for f in entity.fields.values()
        if not types.computed(f)
        and not f.readonly
        and (user is None or permissions.may_set(user, f))
    ]


@dataclass
class FormInput:
    data: dict[str, Any]  # what the record service takes
    row_numbers: dict[str, list[int]]  # per table field, the form's number of each row


def read_form(
    entity: Entity,
    apps: AppSet,
    types: FieldTypes,
    user: User,
    form: MultiDict,
    files: ImmutableMultiDict,
    store_file: StoreFile,
) -> FormInput:
    result = FormInput({}, {})
    for fld in editable(entity, types, user):
        if fld.holds_rows:
            numbered = _rows(apps.entity(fld.child), types, fld.name, form, files, store_file)
            result.data[fld.name] = [row for _, row in numbered]
            result.row_numbers[fld.name] = [number for number, _ in numbered]
        else:
            result.data[fld.name] = _value(
                types[fld.type].widget, fld.name, form, files, store_file
            )
    return result


def _rows(
    child: Entity,
    types: FieldTypes,
    table: str,
    form: MultiDict,
    files: ImmutableMultiDict,
    store_file: StoreFile,
) -> list[tuple[int, dict]]:
    numbers = sorted(
        {
            int(m.group(2))
            for key in form.keys()
            if (m := ROW_KEY.fullmatch(key)) and m.group(1) == table
        }
    )
    rows = []
    for number in numbers:
        prefix = f"{table}-{number}-"
        row = {
            f.name: _value(types[f.type].widget, prefix + f.name, form, files, store_file)
            for f in editable(child, types)
        }
        row_id = parse_int(form.get(prefix + "id", ""))
        if row_id is not None:
            row["id"] = row_id
        elif all(v in (None, "", [], "false") for v in row.values()):
            continue  # a new row left empty
        rows.append((number, row))
    return rows


def _value(
    widget: str, name: str, form: MultiDict, files: ImmutableMultiDict, store_file: StoreFile
) -> Any:
    """What the widget (records/_inputs.html) sent under ``name``."""
    if widget == "switch":  # a hidden "false", then the checkbox's "true" if ticked
        sent = form.getlist(name)
        return sent[-1] if sent else "false"
    if widget == "chips":
        return form.getlist(name)
    if widget == "file":
        upload = files.get(name + "__file")
        if upload is not None and upload.filename:
            return store_file(upload)
    return form.get(name, "")
