"""SQLAlchemy tables built from the definitions: one per entity and per child table,
typed columns, foreign keys for refs, indexes derived from the definition."""

from __future__ import annotations

import hashlib

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, Table

from apploom.engine.balances.definition import balance_table
from apploom.engine.definitions.model import AppSet, Entity
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.storage import system_tables
from apploom.engine.storage.column_types import UTCDateTime
from apploom.engine.storage.search_indexes import PREFIX, searched_text
from apploom.engine.storage.system_tables import ID

MAX_NAME = 60  # PostgreSQL truncates identifiers at 63 bytes


def index_name(prefix: str, table: str, columns: tuple[str, ...]) -> str:
    name = f"{prefix}_{table}_{'_'.join(columns)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def build_metadata(apps: AppSet, types: FieldTypes, trigram_ops: str | None = None) -> MetaData:
    """A fresh MetaData with the system tables and every entity's table; with
    ``trigram_ops`` (PostgreSQL's, see search_indexes), an index for each searched text."""
    metadata = MetaData()
    for table in system_tables.metadata.sorted_tables:
        table.to_metadata(metadata)
    for entity in apps.entities():
        table = entity_table(metadata, entity, apps, types)
        for name in searched_text(entity, types) if trigram_ops else ():
            Index(
                index_name(PREFIX, entity.table, (name,)),
                table.c[name],
                postgresql_using="gin",
                postgresql_ops={name: trigram_ops},
            )
    for entity in apps.entities():
        for balance in entity.balances:
            balance_table(metadata, balance, entity, types)
    return metadata


def entity_table(metadata: MetaData, entity: Entity, apps: AppSet, types: FieldTypes) -> Table:
    if entity.parent is not None:
        parent = apps.entity(entity.parent)
        system = [
            Column("id", ID, primary_key=True),
            Column(
                "parent_id",
                ID,
                ForeignKey(f"{parent.table}.id", ondelete="CASCADE"),
                nullable=False,
            ),
            Column("position", Integer, nullable=False),
        ]
    else:
        system = [
            Column("id", ID, primary_key=True),
            Column("version", Integer, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("created_by", ID, ForeignKey("sys_user.id")),
            Column("updated_at", UTCDateTime, nullable=False),
            Column("updated_by", ID, ForeignKey("sys_user.id")),
        ]
    columns = []
    for field in entity.fields.values():
        ftype = types[field.type]
        if not ftype.has_column:
            continue
        fk = ftype.foreign_key(field)
        args = [fk] if fk is not None else []
        # Required is enforced by the record service, so that adding a required
        # field to a table that already has rows never fails halfway.
        columns.append(Column(field.name, ftype.column_type(field), *args, nullable=True))
    # SQLite without AUTOINCREMENT gives the newest row's id again once it is deleted, and
    # with it the deleted record's history, comments and transition log
    table = Table(entity.table, metadata, *system, *columns, sqlite_autoincrement=True)
    for columns_, unique in _derived_indexes(entity, types):
        Index(
            index_name("uq" if unique else "ix", entity.table, columns_),
            *(table.c[c] for c in columns_),
            unique=unique,
        )
    return table


def _derived_indexes(entity: Entity, types: FieldTypes) -> list[tuple[tuple[str, ...], bool]]:
    wanted: dict[tuple[str, ...], bool] = {}

    def want(columns: tuple[str, ...], unique: bool = False) -> None:
        wanted[columns] = wanted.get(columns, False) or unique

    if entity.is_child:
        want(("parent_id", "position"))
    else:
        want(("created_at",))
    for field in entity.fields.values():
        if not types[field.type].has_column:
            continue
        if field.unique:
            want((field.name,), unique=True)
        elif field.index or types[field.type].foreign_key(field) is not None:
            want((field.name,))
    for name in (*entity.list.filters, *(s.lstrip("-") for s in entity.list.sort)):
        listed = entity.fields.get(name)
        if listed is not None and types[listed.type].has_column and types[listed.type].sortable:
            want((name,))  # a filter or a sort on it: an index, if its values have an order
    for columns in entity.indexes:
        want(tuple(columns))
    for columns in entity.unique:
        want(tuple(columns), unique=True)
    return list(wanted.items())
