"""Column values as JSON and back, exactly: decimals and dates as text, bytes as base64,
and JSON columns as the very text stored, so a JSON null stays apart from SQL NULL."""

from __future__ import annotations

import base64
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Callable, Sequence

from sqlalchemy import JSON, BindParameter, Column, ColumnElement, Text, bindparam, cast
from sqlalchemy.types import TypeDecorator, TypeEngine

Convert = Callable[[Any], Any]


def is_json(type_: TypeEngine) -> bool:
    return isinstance(_base(type_), JSON)


def read_expression(column: Column) -> ColumnElement:
    """What to select for ``column``: JSON as its stored text, the rest typed."""
    if is_json(column.type):
        return cast(column, Text).label(column.name)
    return column


def write_expression(column: Column, dialect: str) -> BindParameter | ColumnElement:
    """The bound value inserted into ``column``, named by :func:`bound_name`; JSON text is
    cast where the database wants it (PostgreSQL's json columns take no text)."""
    if not is_json(column.type):
        return bindparam(bound_name(column.name), type_=column.type)
    value = bindparam(bound_name(column.name), type_=Text())
    return value if dialect == "sqlite" else cast(value, column.type)


def bound_name(column: str) -> str:
    """A parameter's name for ``column`` (SQLAlchemy keeps the column's own for itself)."""
    return f"b_{column}"


def row_encoder(types: Sequence[TypeEngine]) -> Callable[[Sequence[Any]], list[Any]]:
    """A row's values (as selected by :func:`read_expression`) in their JSON form; only
    the columns that need it are converted."""
    each = [(i, encoder(t)) for i, t in enumerate(types)]
    converting = [(i, convert_one) for i, convert_one in each if convert_one is not _same]

    def convert(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for i, convert_one in converting:
            values[i] = convert_one(values[i])
        return values

    return convert


def encoder(type_: TypeEngine) -> Convert:
    """A column's value (as selected by :func:`read_expression`) in its JSON form."""
    python = _python_type(type_)
    if python is Decimal:
        return _keep_none(str)
    if python in (datetime, date, time):
        return _keep_none(lambda v: v.isoformat())
    if python is bytes:
        return _keep_none(lambda v: base64.b64encode(v).decode("ascii"))
    return _same


def row_decoder(
    types: Sequence[TypeEngine], keys: Sequence[str]
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """The inverse of :func:`row_encoder`, keyed by ``keys``; a row of another length is
    refused (ValueError)."""
    each = [(key, decoder(t)) for key, t in zip(keys, types, strict=True)]
    converting = [(key, convert_one) for key, convert_one in each if convert_one is not _same]

    def convert(values: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(keys, values, strict=True))
        for key, convert_one in converting:
            row[key] = convert_one(row[key])
        return row

    return convert


def decoder(type_: TypeEngine) -> Convert:
    """The inverse of :func:`encoder`."""
    python = _python_type(type_)
    parse: dict[type, Convert] = {
        Decimal: Decimal,
        datetime: datetime.fromisoformat,
        date: date.fromisoformat,
        time: time.fromisoformat,
        bytes: base64.b64decode,
    }
    return _keep_none(parse[python]) if python in parse else _same


def _base(type_: TypeEngine) -> TypeEngine:
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


def _python_type(type_: TypeEngine) -> type:
    if is_json(type_):
        return str  # selected as text
    try:
        return _base(type_).python_type
    except NotImplementedError:  # a type that names no Python class
        return object


def _same(value: Any) -> Any:
    return value


def _keep_none(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)
