"""README.txt of a full export: what each file holds, row by row and column by column,
for someone who has the files and not AppLoom."""

from __future__ import annotations

from apploom.engine.definitions.model import Field, Label
from apploom.engine.exports.sheets import FILES, USERS, Sheet
from apploom.engine.fields.registry import FieldTypes

HEAD = """AppLoom data export
===================

Everything here opens without AppLoom: {data}.
  apps/           each app's definition as applied (YAML): fields, workflows, rules, reports
  {FILES}/          uploaded files, named by their id (see {files})
  README.txt      this list

Values: ids are whole numbers; a reference column holds the id of a row in the file it
names; dates and times are ISO 8601 (times in UTC, ending in Z); amounts are decimals
with a point; several options are separated by ", ". Text that starts like a spreadsheet
formula (= + - @) starts with ' in CSV and Excel, so a spreadsheet shows it as text
instead of running it.

"""


def readme(sheets: list[Sheet], counts: dict[str, int], fmt: str, types: FieldTypes) -> str:
    where = {s.name: _place(s.name, fmt) for s in sheets}
    data = (
        "data.xlsx holds a sheet per table, named below"
        if fmt == "xlsx"
        else f"data/ holds a {fmt.upper()} file per table"
        + (" with a header row" if fmt == "csv" else ", an array of objects")
    )
    parts = [HEAD.format(data=data, FILES=FILES, files=where[FILES])]
    for sheet in sheets:
        rows = counts[sheet.name]
        parts.append(f"{where[sheet.name]}: {_label(sheet.label)}, {sheet.about}, {rows} rows\n")
        parts += [f"  {f.name:24} {_meaning(f, where, types)}\n" for f in sheet.fields]
        parts.append("\n")
    return "".join(parts)


def _place(name: str, fmt: str) -> str:
    return f"data.xlsx, sheet {name[:31]}" if fmt == "xlsx" else f"data/{name}.{fmt}"


def _label(label: Label) -> str:
    return label.en if label.zh == label.en else f"{label.en} ({label.zh})"


def _meaning(field: Field, where: dict[str, str], types: FieldTypes) -> str:
    kind, points = types[field.type], None
    if kind.holds_file:
        points = FILES
    elif kind.is_user:
        points = USERS
    elif kind.is_reference:
        points = field.to
    target = f" -> id in {where.get(points, points)}" if points else ""
    return f"{_label(field.label)}: {field.type}{target}"
