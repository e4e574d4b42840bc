"""Schema changes from definition changes: plan, then apply in one transaction.

The plan compares the tables the new definitions want with the database (and
with the previously applied definitions, which know the exact field types).
Adding is free; widening a type is allowed; a removed field is archived, its
column and data kept, so it can come back. Anything that could lose data is
refused with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import (
    Column,
    ColumnClause,
    Connection,
    Index,
    MetaData,
    Table,
    delete,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from apploom.engine.definitions.model import AppSet, Field
from apploom.engine.errors import MigrationRefused
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import Message, joined, msg
from apploom.engine.storage.entity_tables import build_metadata
from apploom.engine.storage.search_indexes import PREFIX as SEARCH_PREFIX
from apploom.engine.storage.search_indexes import trigram_ops
from apploom.engine.storage.system_tables import sys_archived_field


@dataclass(frozen=True)
class Step:
    kind: str  # create_table, add_column, widen, archive, restore, add_index, drop_index
    table: str
    column: str = ""
    old: tuple = ()
    new: tuple = ()

    @property
    def said(self) -> Message:
        """The step in words, for the studio's preview and the CLI."""
        target = f"{self.table}.{self.column}" if self.column else self.table
        if self.kind == "widen":
            old, new = _key_words(self.old), _key_words(self.new)
            return msg("widen column {target} {old} -> {new}", target=target, old=old, new=new)
        return {
            "create_table": msg("create table {target}", target=target),
            "add_column": msg("add column {target}", target=target),
            "archive": msg("archive column {target} (data kept)", target=target),
            "restore": msg("restore archived column {target}", target=target),
            "add_index": msg("add index {target}", target=target),
            "drop_index": msg("drop index {target}", target=target),
        }[self.kind]

    def __str__(self) -> str:
        return str(self.said)


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    refused: list[Message] = field(default_factory=list)
    metadata: MetaData = field(default_factory=MetaData)

    @property
    def empty(self) -> bool:
        return not self.steps


def _key_words(key: tuple) -> str:
    return key[0] + (f"({', '.join(map(str, key[1:]))})" if len(key) > 1 else "")


def _column_fields(apps: AppSet | None, types: FieldTypes) -> dict[tuple[str, str], Field]:
    if apps is None:
        return {}
    return {
        (e.table, f.name): f
        for e in apps.entities()
        for f in e.fields.values()
        if types[f.type].has_column
    }


def widening(old: tuple, new: tuple) -> str | None:
    """How to move a column from storage key ``old`` to ``new`` without loss, or None."""
    if old[0] == "text" and new[0] == "text" and new[1] >= old[1]:
        return "length"
    if old[0] in ("text", "email", "phone", "url") and new[0] in ("text", "long_text"):
        return "length" if new[0] == "long_text" or new[1] >= 254 else None
    if old[0] == "integer" and new[0] == "decimal":
        return "to_decimal"
    if old[0] == "decimal" and new[0] == "decimal":
        if new[2] >= old[2] and new[1] - new[2] >= old[1] - old[2]:
            return "scale"
    return None


def plan_migration(conn: Connection, new: AppSet, old: AppSet | None, types: FieldTypes) -> Plan:
    desired = build_metadata(new, types, trigram_ops(conn))
    plan = Plan(metadata=desired)
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    archived: dict[tuple[str, str], tuple | None] = {}
    if sys_archived_field.name in existing:
        archived = {
            (t, c): tuple(storage) if storage else None
            for t, c, storage in conn.execute(
                select(
                    sys_archived_field.c.table_name,
                    sys_archived_field.c.column_name,
                    sys_archived_field.c.storage,
                )
            )
        }
    old_fields = _column_fields(old, types)
    new_fields = _column_fields(new, types)
    for table in desired.sorted_tables:
        if table.name not in existing:
            plan.steps.append(Step("create_table", table.name))
            continue
        in_db = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            key = (table.name, column.name)
            if column.name not in in_db:
                plan.steps.append(Step("add_column", table.name, column.name))
                continue
            if key in archived:
                plan.steps.append(Step("restore", table.name, column.name))
            before, after = old_fields.get(key), new_fields.get(key)
            old_key = (
                archived.get(key)
                if key in archived
                else (None if before is None else types[before.type].storage_key(before))
            )
            if old_key is None or after is None:
                continue
            new_key = types[after.type].storage_key(after)
            if old_key == new_key:
                continue
            if widening(old_key, new_key):
                plan.steps.append(Step("widen", table.name, column.name, old_key, new_key))
            else:
                target = f"{table.name}.{column.name}"
                plan.refused.append(
                    msg(
                        "{target}: changing it from {old} to {new} could lose data; "
                        "add a new field instead",
                        target=target,
                        old=_key_words(old_key),
                        new=_key_words(new_key),
                    )
                )
        for name in sorted(in_db - {c.name for c in table.columns}):
            if (table.name, name) not in archived:
                removed = old_fields.get((table.name, name))
                plan.steps.append(
                    Step(
                        "archive",
                        table.name,
                        name,
                        old=(types[removed.type].storage_key(removed) if removed else ()),
                    )
                )
        in_db_indexes = {
            ix["name"]
            for ix in inspector.get_indexes(table.name)
            if ix["name"] and not ix.get("duplicates_constraint")
        }
        wanted = {ix.name for ix in table.indexes} | {c.name for c in table.constraints if c.name}
        plan.steps += [
            Step("add_index", table.name, ix.name)
            for ix in table.indexes
            if ix.name and ix.name not in in_db_indexes
        ]
        plan.steps += [
            Step("drop_index", table.name, name)
            for name in sorted(in_db_indexes)
            if name not in wanted and name.startswith(("ix_", "uq_", f"{SEARCH_PREFIX}_"))
        ]
    return plan


def apply_plan(conn: Connection, plan: Plan) -> None:
    """Apply every step on ``conn``, inside the caller's transaction."""
    if plan.refused:
        refused = joined(plan.refused, "\n  ")
        raise MigrationRefused(msg("This change could lose data:\n  {refused}", refused=refused))
    ops = Operations(MigrationContext.configure(conn))
    tables = plan.metadata.tables
    now = datetime.now(timezone.utc)
    for step in plan.steps:
        table = tables[step.table]  # every step is on a table of the plan's metadata
        if step.kind == "create_table":
            table.create(conn)
        elif step.kind == "add_column":
            _add_column(conn, ops, table, table.c[step.column])
        elif step.kind == "widen":
            _widen(conn, ops, table, step)
        elif step.kind == "archive":
            conn.execute(
                sys_archived_field.insert().values(
                    table_name=step.table,
                    column_name=step.column,
                    archived_at=now,
                    storage=list(step.old) or None,
                )
            )
        elif step.kind == "restore":
            conn.execute(
                delete(sys_archived_field).where(
                    sys_archived_field.c.table_name == step.table,
                    sys_archived_field.c.column_name == step.column,
                )
            )
        elif step.kind == "add_index":
            index = next(ix for ix in table.indexes if ix.name == step.column)
            if index.unique:
                _refuse_duplicates(conn, table, index)
            index.create(conn)
        elif step.kind == "drop_index":
            ops.drop_index(step.column, table_name=step.table)


def _refuse_duplicates(conn: Connection, table: Table, index: Index) -> None:
    columns = list(index.columns)
    clash = conn.execute(
        select(*columns, func.count()).group_by(*columns).having(func.count() > 1).limit(1)
    ).first()
    if clash is not None:
        target = f"{table.name}.{', '.join(c.name for c in columns)}"
        raise MigrationRefused(
            msg(
                "{target} cannot be made unique: the value {value} is used {count} times",
                target=target,
                value=tuple(clash)[:-1],
                count=clash[-1],
            )
        )


def _add_column(conn: Connection, ops: Operations, table: Table, column: Column) -> None:
    if conn.dialect.name != "sqlite" or not column.foreign_keys:
        ops.add_column(table.name, column._copy())
        return
    # SQLite cannot ALTER constraints, but ADD COLUMN accepts an inline REFERENCES;
    # Alembic's batch mode would rebuild the table, firing ON DELETE CASCADE on drop.
    quote = conn.dialect.identifier_preparer.quote
    fk = next(iter(column.foreign_keys))
    ref_table, ref_column = fk.target_fullname.split(".")
    column_type = column.type.compile(conn.dialect)
    conn.exec_driver_sql(
        f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {column_type} "
        f"REFERENCES {quote(ref_table)}({quote(ref_column)})"
    )


def _widen(conn: Connection, ops: Operations, table: Table, step: Step) -> None:
    how = widening(step.old, step.new)
    column = table.c[step.column]
    if conn.dialect.name != "sqlite":
        ops.alter_column(table.name, column.name, type_=column.type)
        return
    # SQLite stores decimals as scaled integers (see sqltypes.ExactDecimal).
    shift = {"to_decimal": lambda: step.new[2], "scale": lambda: step.new[2] - step.old[2]}
    if how in shift and shift[how]():
        # untyped: multiply the stored integers themselves
        raw: ColumnClause[int] = sql_column(column.name)
        conn.execute(update(sql_table(table.name, raw)).values({raw: raw * 10 ** shift[how]()}))
