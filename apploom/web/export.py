"""Lists exported as CSV or Excel, with the same filters and permissions as on screen."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal
from typing import Iterable

from flask import Response, abort, g
from openpyxl import Workbook

from apploom.engine.definitions.model import Entity
from apploom.engine.query.filters import SYSTEM_FIELDS, Query
from apploom.web.context import runtime
from apploom.web.display import ref_titles, show
from apploom.web.i18n import label

PAGE = 500
MAX_ROWS = 100_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _rows(entity: Entity, query: Query):
    """Header, then one list of cells per record, fetched a page at a time."""
    records = runtime().records
    fields = [f for f in entity.fields.values() if not f.holds_rows] + [
        SYSTEM_FIELDS["created_at"],
        SYSTEM_FIELDS["updated_at"],
    ]
    yield [label(f.label) for f in fields]
    offset = 0
    while offset < MAX_ROWS:
        page = records.list(g.user, entity.qualified, replace(query, limit=PAGE, offset=offset))
        titles = ref_titles(entity, page.data)
        for record in page.data:
            yield [_cell(f, record.get(f.name), titles) for f in fields]
        offset += PAGE
        if offset >= page.total:
            break


def _cell(fld, value, titles):
    if value is not None and runtime().types[fld.type].numeric:
        return Decimal(value)  # a number the spreadsheet can sum
    return show(fld, value, titles)


def _inert(cell):
    """A text cell starting like a formula would run as one in a spreadsheet (OWASP's CSV
    injection): a quote in front keeps it text. Numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def download(entity: Entity, query: Query, fmt: str) -> Response:
    return send_table(f"{entity.app}-{entity.name}", _rows(entity, query), fmt)


def send_table(name: str, rows: Iterable[list], fmt: str) -> Response:
    """Rows (the header first) as a CSV or Excel download named ``name``; every text cell,
    headers included, is made :func:`_inert` here, so no export can miss one."""
    rows = ([_inert(cell) for cell in row] for row in rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        for row in rows:
            writer.writerow(row)
        body = "\ufeff" + out.getvalue()  # the BOM tells Excel the file is UTF-8
        return _attachment(body.encode(), f"{name}.csv", "text/csv; charset=utf-8")
    if fmt == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet(name[:31])
        for row in rows:
            sheet.append(row)
        data = io.BytesIO()
        book.save(data)
        return _attachment(
            data.getvalue(),
            f"{name}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    abort(404)


def _attachment(body: bytes, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
