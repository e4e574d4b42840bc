"""Lists exported as CSV or Excel, with the same filters and permissions as on screen."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal
from typing import Iterable

from flask import Response, abort, g

from apploom.engine.definitions.model import Entity
from apploom.engine.exports.spreadsheets import write_csv, write_xlsx
from apploom.engine.fields.dates import local_time
from apploom.engine.query.filters import SYSTEM_FIELDS, Query
from apploom.web.context import runtime
from apploom.web.display import ref_titles, show
from apploom.web.i18n import label

PAGE = 500
MAX_ROWS = 100_000


def _rows(entity: Entity, query: Query):
    """Header, then one list of cells per record, fetched a page at a time."""
    records = runtime().records
    fields = [f for f in entity.fields.values() if not f.holds_rows] + [
        SYSTEM_FIELDS["created_at"],
        SYSTEM_FIELDS["updated_at"],
    ]
    yield [label(f.label) for f in fields]
    wanted = replace(query, limit=PAGE, offset=0, after=None, fields=tuple(f.name for f in fields))
    exported = 0
    while exported < MAX_ROWS:
        page = records.list(g.user, entity.qualified, wanted)
        titles = ref_titles(entity, page.data)
        for record in page.data:
            yield [_cell(f, record.get(f.name), titles) for f in fields]
        exported += len(page.data)
        if page.next is None:
            break
        wanted = replace(wanted, after=page.next)  # a cursor: page 200 as fast as page 1


def _cell(fld, value, titles):
    ftype = runtime().types[fld.type]
    if value is not None and ftype.numeric:
        return Decimal(value)  # a number the spreadsheet can sum
    if value and ftype.timed:
        return local_time(value)  # the business's clock, in a shape spreadsheets read
    if value and ftype.dated:
        return value  # ISO, as a spreadsheet reads a day
    return show(fld, value, titles)


def download(entity: Entity, query: Query, fmt: str) -> Response:
    return send_table(f"{entity.app}-{entity.name}", _rows(entity, query), fmt)


def send_table(name: str, rows: Iterable[list], fmt: str) -> Response:
    """Rows (the header first) as a CSV or Excel download named ``name``; the writers make
    formula-like text inert."""
    if fmt == "csv":
        out = io.StringIO()
        write_csv(out, rows)
        return _attachment(out.getvalue().encode(), f"{name}.csv", "text/csv; charset=utf-8")
    if fmt == "xlsx":
        data = io.BytesIO()
        write_xlsx(data, [(name, rows)])
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
