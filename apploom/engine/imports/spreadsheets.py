"""Reading a spreadsheet a user uploads (CSV or Excel) into a header and rows of text."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from itertools import islice
from typing import Generator, Iterator

from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg

MAX_ROWS = 200_000
MAX_COLUMNS = 200


def read_table(name: str, data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every cell as text, blank rows dropped. CSV may be UTF-8 (with or
    without a BOM) or GB18030, as Excel in Chinese saves it; comma, semicolon or tab.

    Rows are read one at a time and cut to the header's width, never padded to it: a row
    may be shorter than the header (its missing cells are empty). At most MAX_COLUMNS
    columns, so a small file cannot claim a width that fills memory."""
    rows = _rows(name, data)
    try:
        header, kept = _header(rows)
        body: list[list[str]] = []
        for row in kept:
            if len(body) == MAX_ROWS:
                raise ValidationFailed(
                    {"file": msg("has more than {count} rows; split it", count=MAX_ROWS)}
                )
            body.append(row[: len(header)])
        return header, body
    finally:
        rows.close()


def read_head(name: str, data: bytes, count: int) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``count`` rows, as :func:`read_table` reads them: what
    an upload is checked by while its sender waits, quick however long the file (reading
    a workbook of 100,000 rows takes tens of seconds)."""
    rows = _rows(name, data)
    try:
        header, kept = _header(rows)
        return header, [row[: len(header)] for row in islice(kept, count)]
    finally:
        rows.close()


def _rows(name: str, data: bytes) -> Generator[list[str], None, None]:
    if name.lower().endswith(".xlsx"):
        return _xlsx_rows(data)
    if name.lower().endswith((".csv", ".txt")):
        return _csv_rows(data)
    raise ValidationFailed({"file": msg("must be a .csv or .xlsx file")})


def _header(rows: Iterator[list[str]]) -> tuple[list[str], Iterator[list[str]]]:
    """The first row that is not blank, as the header; and the rows after it that are
    not blank either."""
    kept = (row for row in rows if any(cell.strip() for cell in row))
    first = next(kept, None)
    if first is None:
        raise ValidationFailed({"file": msg("is empty")})
    header = [cell.strip() for cell in first]
    while not header[-1]:  # cells formatted but empty past the last heading
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(
            {
                "file": msg(
                    "has more than {count} columns; at most {count} can be imported",
                    count=MAX_COLUMNS,
                )
            }
        )
    return header, kept


def _csv_rows(data: bytes) -> Generator[list[str], None, None]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationFailed({"file": msg("is neither UTF-8 nor GB18030 text")})
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _xlsx_rows(data: bytes) -> Generator[list[str], None, None]:
    """The first sheet's rows, streamed (read-only mode) and never wider than one column
    past MAX_COLUMNS (openpyxl pads each row to the width it is asked for)."""
    try:
        reader, sheet = _first_sheet(data)
        try:
            rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)  # type: ignore[misc]
            for row in rows:
                yield [_cell_text(v) for v in row]
        finally:
            reader.archive.close()
    except ValidationFailed:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ValidationFailed(
            {"file": msg("is not a readable Excel file ({reason})", reason=str(exc))}
        ) from None


def _first_sheet(data: bytes) -> tuple[ExcelReader, ReadOnlyWorksheet]:
    """The workbook's first worksheet, opened as openpyxl's load_workbook does but for
    the sheets' sizes: a sheet that does not state its own (some exporters' files) is
    otherwise read through to its end just to open it, 20 s for a 10 MB file, which a
    check made while its sender waits cannot afford."""
    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    for found, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return reader, _Unsized(reader.wb, found.name, rel.target, reader.shared_strings)
    reader.archive.close()
    raise ValidationFailed({"file": msg("has no worksheet")})


class _Unsized(ReadOnlyWorksheet):
    def _get_size(self) -> None:
        """Rows are read as they come: how many there are is not needed first."""


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
