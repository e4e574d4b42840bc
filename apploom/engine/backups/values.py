"""Column values as JSON and back, exactly: decimals and dates as text, bytes as base64,
and JSON columns as the very text stored, so a JSON null stays apart from SQL NULL.
Then as the driver takes them, for a restore that hands rows straight to it."""

from __future__ import annotations

import base64
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Callable, Sequence

from sqlalchemy import JSON, Column, ColumnElement, Dialect, Text, cast
from sqlalchemy.types import TypeDecorator, TypeEngine

Convert = Callable[[Any], Any]
Row = Callable[[Sequence[Any]], tuple]


def is_json(type_: TypeEngine) -> bool:
    return isinstance(_base(type_), JSON)


def read_expression(column: Column) -> ColumnElement:
    """What to select for ``column``: JSON as its stored text, the rest typed."""
    if is_json(column.type):
        return cast(column, Text).label(column.name)
    return column


def row_encoder(types: Sequence[TypeEngine]) -> Row:
    """A row's values (as selected by :func:`read_expression`) in their JSON form."""
    return _each([encoder(t) for t in types])


def row_decoder(types: Sequence[TypeEngine]) -> Row:
    """The inverse of :func:`row_encoder`; a row of another length is refused
    (ValueError)."""
    return _each([decoder(t) for t in types])


def row_binder(columns: Sequence[Column], dialect: Dialect) -> Row:
    """Decoded values as the driver takes them, converted the way SQLAlchemy would bind
    them (SQLite's dates as text, its decimals as scaled integers); JSON text as it is."""
    return _each(
        [
            None if is_json(c.type) else c.type.dialect_impl(dialect).bind_processor(dialect)
            for c in columns
        ]
    )


def encoder(type_: TypeEngine) -> Convert | None:
    """How a column's value (as selected) takes its JSON form; None: as it is."""
    python = _python_type(type_)
    if python is Decimal:
        return str
    if python in (datetime, date, time):
        return lambda v: v.isoformat()
    if python is bytes:
        return lambda v: base64.b64encode(v).decode("ascii")
    return None


def decoder(type_: TypeEngine) -> Convert | None:
    """The inverse of :func:`encoder`."""
    parse: dict[type, Convert] = {
        Decimal: Decimal,
        datetime: datetime.fromisoformat,
        date: date.fromisoformat,
        time: time.fromisoformat,
        bytes: base64.b64decode,
    }
    return parse.get(_python_type(type_))


def _each(converters: Sequence[Convert | None]) -> Row:
    """Apply each column's converter (None: none) to its value, leaving NULL alone; only
    the columns that have one are touched."""
    width = len(converters)
    converting = [(i, c) for i, c in enumerate(converters) if c is not None]

    def convert(row: Sequence[Any]) -> tuple:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} values, not {width}")
        values = list(row)
        for i, convert_one in converting:
            if values[i] is not None:
                values[i] = convert_one(values[i])
        return tuple(values)

    return convert


def _base(type_: TypeEngine) -> TypeEngine:
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


def _python_type(type_: TypeEngine) -> type:
    if is_json(type_):
        return str  # selected as text
    try:
        return _base(type_).python_type
    except NotImplementedError:  # a type that names no Python class
        return object
