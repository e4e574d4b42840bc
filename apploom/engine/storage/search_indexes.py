"""Indexes that let a search find text anywhere in a field on PostgreSQL.

A list's search is ``field ILIKE '%text%'``, which no b-tree index can answer: on a
million orders it reads every row. PostgreSQL's pg_trgm gives GIN indexes of three-letter
pieces that can (for text of three letters or more). SQLite has no such index; it scans,
about as fast as the SQL one would write by hand there.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, String
from sqlalchemy.exc import DBAPIError

from apploom.engine.definitions.model import Entity
from apploom.engine.fields.registry import FieldTypes

log = logging.getLogger(__name__)
PREFIX = "tg"  # their names: tg_<table>_<column>


def trigram_ops(conn: Connection) -> str | None:
    """pg_trgm's operator class, named with the schema it is in (installed in ``public``
    when it is not yet); None on SQLite, or where the database may not install it."""
    if conn.dialect.name != "postgresql":
        return None
    schema = _schema(conn)
    if schema is None:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except DBAPIError as exc:
            log.warning("searches will scan: pg_trgm cannot be installed here: %s", exc.orig)
            return None
        schema = _schema(conn)
    return f'"{schema}".gin_trgm_ops'


def _schema(conn: Connection) -> str | None:
    return conn.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    ).scalar()


def searched_text(entity: Entity, types: FieldTypes) -> list[str]:
    """The entity's own text columns its list searches (a ref searches its target's)."""
    found = []
    for name in entity.list.search:
        fld = entity.fields.get(name)
        if fld is None:
            continue
        ftype = types[fld.type]
        if (
            ftype.has_column
            and not ftype.is_reference
            and isinstance(ftype.column_type(fld), String)
        ):
            found.append(name)
    return found
