"""Rows written as CSV or Excel. Every text cell, headers included, is made inert here,
so no export can miss one."""

from __future__ import annotations

import csv
from typing import IO, Any, Iterable, Iterator

from openpyxl import Workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # a sheet's rows in Excel, the header among them
Rows = Iterable[list[Any]]


def inert(cell: Any) -> Any:
    """A text cell starting like a formula would run as one in a spreadsheet (OWASP's CSV
    injection): a quote in front keeps it text. Numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _inert_rows(rows: Rows) -> Iterator[list[Any]]:
    return ([inert(cell) for cell in row] for row in rows)


def write_csv(out: IO[str], rows: Rows) -> None:
    """``rows`` (the header first) as CSV, after a BOM that tells Excel it is UTF-8."""
    out.write("\ufeff")
    csv.writer(out).writerows(_inert_rows(rows))


def write_xlsx(out: IO[bytes] | str, sheets: Iterable[tuple[str, Rows]]) -> None:
    """One sheet per (name, rows), streamed: write-only, so a big table is never whole
    in memory. Names are cut to Excel's 31 characters."""
    book = Workbook(write_only=True)
    for name, rows in sheets:
        sheet = book.create_sheet(name[:31])
        for row in _inert_rows(rows):
            sheet.append(row)
    book.save(out)
