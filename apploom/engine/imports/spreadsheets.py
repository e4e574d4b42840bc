"""Reading a spreadsheet a user uploads (CSV or Excel) into a header and rows of text."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from itertools import islice

from openpyxl import load_workbook

from apploom.engine.errors import ValidationFailed

MAX_ROWS = 200_000


def read_table(name: str, data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every cell as text, blank rows dropped. CSV may be UTF-8 (with or
    without a BOM) or GB18030, as Excel in Chinese saves it; comma, semicolon or tab."""
    if name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(data)
    elif name.lower().endswith((".csv", ".txt")):
        rows = _csv_rows(data)
    else:
        raise ValidationFailed({"file": "must be a .csv or .xlsx file"})
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ValidationFailed({"file": "is empty"})
    if len(rows) > MAX_ROWS + 1:
        raise ValidationFailed({"file": f"has more than {MAX_ROWS} rows; split it"})
    header = [cell.strip() for cell in rows[0]]
    width = len(header)
    return header, [(row + [""] * width)[:width] for row in rows[1:]]


def _csv_rows(data: bytes) -> list[list[str]]:
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
    return list(csv.reader(io.StringIO(text), dialect))


def _xlsx_rows(data: bytes) -> list[list[str]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ValidationFailed({"file": f"is not a readable Excel file ({exc})"}) from None
    try:  # stop reading past the limit: a small compressed file can hold many rows
        cells = book.worksheets[0].iter_rows(values_only=True)
        return [[_cell_text(v) for v in row] for row in islice(cells, MAX_ROWS + 2)]
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
