"""Every app's data written to a folder in open formats, readable without AppLoom: a file
per entity (child rows and balances too), the users, the uploaded files, the
definitions as applied, and README.txt saying what each file holds. Read in one
snapshot, so the files agree with each other."""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from sqlalchemy import Connection, func, select

from apploom.engine.errors import ValidationFailed
from apploom.engine.exports.index import readme
from apploom.engine.exports.sheets import FILES, Sheet, sheets
from apploom.engine.exports.spreadsheets import XLSX_MAX_ROWS, write_csv, write_xlsx
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.runtime import Runtime
from apploom.engine.storage.system_tables import sys_attachment

FORMATS = ("csv", "xlsx", "json")
BATCH = 2000
SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}$")
Cells = Callable[[list[Any], list[bool]], list[Any]]


def export_data(runtime: Runtime, folder: Path, fmt: str) -> dict[str, int]:
    """Write the export to ``folder`` (new or empty); returns each sheet's row count.
    Written beside it first, so a failed export leaves no folder that looks whole."""
    if fmt not in FORMATS:
        raise ValidationFailed({"format": f"'{fmt}' is not a format; choose csv, xlsx or json"})
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValidationFailed({"folder": f"{folder} is not an empty folder; choose a new one"})
    work = folder.with_name(folder.name + ".part")
    shutil.rmtree(work, ignore_errors=True)  # what an export that died left
    (work / "apps").mkdir(parents=True)
    (work / FILES).mkdir()
    found = sheets(runtime.apps, runtime.types, runtime.records.tables)
    try:
        counts = _write_data(runtime, found, work, fmt)
        for app in runtime.apps.ordered():
            (work / "apps" / Path(app.file).name).write_text(app.source, encoding="utf-8")
        (work / "README.txt").write_text(
            readme(found, counts, fmt, runtime.types), encoding="utf-8"
        )
        if folder.exists():
            folder.rmdir()
        work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return counts


def _write_data(runtime: Runtime, found: list[Sheet], work: Path, fmt: str) -> dict[str, int]:
    with runtime.db.snapshot() as conn:
        counts = {
            s.name: conn.execute(select(func.count()).select_from(s.table)).scalar() or 0
            for s in found
        }
        if fmt == "xlsx":
            _write_book(conn, runtime.types, found, counts, work / "data.xlsx")
        else:
            (work / "data").mkdir()
            for sheet in found:
                path = work / "data" / f"{sheet.name}.{fmt}"
                with path.open("w", encoding="utf-8", newline="") as out:
                    if fmt == "csv":
                        write_csv(out, _table(conn, runtime.types, sheet, _text_cells))
                    else:
                        _write_json(out, conn, runtime.types, sheet)
        files = list(conn.execute(select(sys_attachment.c.id, sys_attachment.c.name)))
    for file_id, name in files:
        kept = runtime.attachments.path(file_id)
        if kept.is_file():
            suffix = SUFFIX.search(name)
            shutil.copyfile(kept, work / FILES / (file_id + (suffix.group() if suffix else "")))
    return counts


def _write_book(
    conn: Connection, types: FieldTypes, found: list[Sheet], counts: dict[str, int], path: Path
) -> None:
    too_big = [name for name, n in counts.items() if n >= XLSX_MAX_ROWS]
    if too_big:
        raise ValidationFailed(
            {"format": f"{too_big[0]} has more rows than an Excel sheet holds: use csv"}
        )
    write_xlsx(str(path), [(s.name, _table(conn, types, s, _sheet_cells)) for s in found])


def _values(conn: Connection, types: FieldTypes, sheet: Sheet) -> Iterator[list[Any]]:
    """Each row's values in their JSON form, in id order."""
    table = sheet.table
    dumps = [partial(types[f.type].dump, f) for f in sheet.fields]
    query = select(*(table.c[f.name] for f in sheet.fields)).order_by(table.c.id)
    for row in conn.execution_options(yield_per=BATCH).execute(query):
        yield [dump(value) for dump, value in zip(dumps, row, strict=True)]


def _table(conn: Connection, types: FieldTypes, sheet: Sheet, cells: Cells) -> Iterator[list]:
    """The header (field names), then the rows as ``cells`` makes them."""
    yield [f.name for f in sheet.fields]
    numeric = [types[f.type].numeric for f in sheet.fields]
    for values in _values(conn, types, sheet):
        yield cells(values, numeric)


def _text_cells(values: list[Any], numeric: list[bool]) -> list[Any]:
    return [_text(v) for v in values]


def _sheet_cells(values: list[Any], numeric: list[bool]) -> list[Any]:
    """Numbers as numbers a spreadsheet can sum; the rest as text, true/false kept."""
    return [
        Decimal(v) if n and v is not None else v if isinstance(v, bool) else _text(v)
        for v, n in zip(values, numeric, strict=True)
    ]


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _write_json(out: IO[str], conn: Connection, types: FieldTypes, sheet: Sheet) -> None:
    """A JSON array of objects, a record a line."""
    names = [f.name for f in sheet.fields]
    out.write("[")
    for n, values in enumerate(_values(conn, types, sheet)):
        record = json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False)
        out.write(("," if n else "") + "\n" + record)
    out.write("\n]\n")
