"""Reading a spreadsheet a user uploads (CSV or Excel) into a header and rows of text."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Iterator

from openpyxl import load_workbook

from apploom.engine.errors import ValidationFailed

MAX_ROWS = 200_000
MAX_COLUMNS = 200


def read_table(name: str, data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every cell as text, blank rows dropped. CSV may be UTF-8 (with or
    without a BOM) or GB18030, as Excel in Chinese saves it; comma, semicolon or tab.

    Rows are read one at a time and cut to the header's width, never padded to it: a row
    may be shorter than the header (its missing cells are empty). At most MAX_COLUMNS
    columns, so a small file cannot claim a width that fills memory."""
    if name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(data)
    elif name.lower().endswith((".csv", ".txt")):
        rows = _csv_rows(data)
    else:
        raise ValidationFailed({"file": "must be a .csv or .xlsx file"})
    kept = (row for row in rows if any(cell.strip() for cell in row))
    first = next(kept, None)
    if first is None:
        raise ValidationFailed({"file": "is empty"})
    header = [cell.strip() for cell in first]
    while not header[-1]:  # cells formatted but empty past the last heading
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(
            {"file": f"has more than {MAX_COLUMNS} columns; at most {MAX_COLUMNS} can be imported"}
        )
    width = len(header)
    body: list[list[str]] = []
    for row in kept:
        if len(body) == MAX_ROWS:
            raise ValidationFailed({"file": f"has more than {MAX_ROWS} rows; split it"})
        body.append(row[:width])
    return header, body


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationFailed({"file": "is neither UTF-8 nor GB18030 text"})
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text), dialect)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    """The first sheet's rows, streamed (read-only mode) and never wider than one column
    past MAX_COLUMNS: openpyxl pads every row to the width the sheet claims."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ValidationFailed({"file": f"is not a readable Excel file ({exc})"}) from None
    try:
        cells = book.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        for row in cells:
            yield [_cell_text(v) for v in row]
    finally:
        book.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
