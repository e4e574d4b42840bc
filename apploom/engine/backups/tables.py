"""What a backup holds of the database, table by table.

The tables the live definitions describe are dumped through their typed columns, so
their values restore into either database. A column or table the definitions no longer
describe (an archived field's, a removed entity's) keeps its data too: it is carried
with the generic type the database reports for it, exact when restored into the same
kind of database. And each table's last id given, so ids carry on past deleted records.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.types import TypeEngine

from apploom.engine.errors import BackupError

_GENERIC: dict[str, type[TypeEngine]] = {
    t.__name__: t
    for t in (
        BigInteger,
        Boolean,
        Date,
        DateTime,
        Double,
        Float,
        Integer,
        JSON,
        LargeBinary,
        Numeric,
        SmallInteger,
        String,
        Text,
        Time,
    )
}
_SETTINGS = ("length", "precision", "scale", "timezone")


def database_tables(conn: Connection, metadata: MetaData) -> tuple[list[Table], dict]:
    """The database's tables, typed by ``metadata`` where it describes them, in an order
    that puts a table after those it refers to. What ``metadata`` lacks (tables, columns)
    is added to it, typed as the database reports, and returned as specs for the
    manifest: {table: {column: spec}}."""
    inspector = inspect(conn)
    columns = {name: found for (_, name), found in inspector.get_multi_columns().items()}
    undescribed: dict[str, dict[str, dict]] = {}
    for name in sorted(columns):
        table = metadata.tables.get(name)
        keys = set()
        if table is None:
            keys = set(inspector.get_pk_constraint(name)["constrained_columns"])
        extra = {}
        for info in columns[name]:
            if table is not None and info["name"] in table.c:
                continue
            spec = type_spec(name, info["name"], info["type"])
            spec.update(nullable=info["nullable"], primary_key=info["name"] in keys)
            extra[info["name"]] = spec
        if extra:
            undescribed[name] = extra
            describe(metadata, name, extra)
    return [t for t in metadata.sorted_tables if t.name in columns], undescribed


def describe(metadata: MetaData, name: str, columns: Mapping[str, dict]) -> Table:
    """The table ``name`` of ``metadata`` with ``columns`` (specs) added, made if new."""
    table = metadata.tables.get(name)
    if table is None:
        table = Table(name, metadata)
    for column, spec in columns.items():
        table.append_column(
            Column(
                column,
                _type(spec),
                nullable=spec["nullable"],
                primary_key=spec["primary_key"],
                autoincrement=False,
            )
        )
    return table


def type_spec(table: str, column: str, type_: TypeEngine) -> dict[str, Any]:
    try:
        generic = type_.as_generic()
    except NotImplementedError:
        generic = type_
    if type(generic).__name__ not in _GENERIC:
        raise BackupError(
            f"{table}.{column} holds {type_}, a type the backup cannot carry; "
            "copy its data elsewhere and drop the column"
        )
    spec: dict[str, Any] = {"type": type(generic).__name__}
    for setting in _SETTINGS:
        value = getattr(generic, setting, None)
        if value not in (None, False):
            spec[setting] = value
    return spec


def _type(spec: Mapping[str, Any]) -> TypeEngine:
    kind = _GENERIC.get(spec.get("type", ""))
    if kind is None:
        raise BackupError(f"the backup names an unknown column type {spec.get('type')!r}")
    return kind(**{k: v for k, v in spec.items() if k in _SETTINGS})


def last_ids(conn: Connection, tables: list[Table]) -> dict[str, int]:
    """The last id each table with a generated id gave: at least its highest id, and more
    where newer rows were deleted (AUTOINCREMENT on SQLite, a sequence on PostgreSQL)."""
    found = {}
    sqlite = conn.dialect.name == "sqlite"
    counted = sqlite and bool(
        conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first()
    )
    for table in tables:
        column = _generated_id(table)
        if column is None:
            continue
        given = conn.execute(select(func.max(column))).scalar() or 0
        if counted:
            query = "SELECT seq FROM sqlite_sequence WHERE name = :t"
            given = max(given, conn.execute(text(query), {"t": table.name}).scalar() or 0)
        elif not sqlite:
            query = (
                "SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:t, :c) AS regclass))"
            )
            sequence = conn.execute(text(query), _names(conn, table, column)).scalar()
            given = max(given, sequence or 0)
        found[table.name] = given
    return found


def continue_ids(conn: Connection, tables: list[Table], last: Mapping[str, int]) -> None:
    """Make each table's next generated id follow ``last``, not only its rows' highest."""
    for table in tables:
        column = _generated_id(table)
        if column is None:
            continue
        value = last.get(table.name, 0)
        if conn.dialect.name != "sqlite":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, :called)"),
                {**_names(conn, table, column), "v": max(value, 1), "called": value > 0},
            )
        elif value and table.dialect_options["sqlite"]["autoincrement"]:
            conn.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table.name})
            conn.execute(
                text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :v)"),
                {"t": table.name, "v": value},
            )


def _generated_id(table: Table) -> Column | None:
    column = table.autoincrement_column
    return column if column is not None and column.autoincrement is not False else None


def _names(conn: Connection, table: Table, column: Column) -> dict[str, str]:
    return {"t": conn.dialect.identifier_preparer.quote(table.name), "c": column.name}
