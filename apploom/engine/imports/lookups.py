"""Finding the record a ref column names: by a unique key (an item by its SKU) or by a
field that finds one though it is not unique (a customer by email, in any case, or by
phone, however it is spaced). One query per column for a whole import; more than one
record found is an error, none found may be one to create (an import option)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import select

from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Field
from apploom.engine.messages import msg
from apploom.engine.records.service import RecordService


@dataclass(frozen=True)
class Column:
    """A file column naming a ref's record by one of its target's fields."""

    name: str  # the column, as the header has it
    key: str  # the target's field
    finds: bool  # a key that finds the record (not only one that names a new one)


@dataclass
class Missing:
    """A record to create (it is not there yet) for a ref: its fields from the file, and
    what it is known by, so the rows of one file that name it share one."""

    entity: Entity
    values: dict
    known_by: tuple


def lookup_keys(records: RecordService, entity: Entity) -> list[Field]:
    """The fields that find one of ``entity``'s records from a cell."""
    types = records.types
    return [
        f
        for f in entity.fields.values()
        if (f.unique and types[f.type].import_key) or types[f.type].finds_record
    ]


def naming_fields(records: RecordService, entity: Entity) -> list[Field]:
    """The fields a new record of ``entity`` cannot do without (a customer's name), which
    are not keys: the columns an import that creates missing ones may fill too."""
    keys = {f.name for f in lookup_keys(records, entity)}
    types = records.types
    return [
        f
        for f in entity.fields.values()
        if f.required
        and f.default is None
        and f.name not in keys
        and not f.holds_rows
        and not types[f.type].is_reference
        and not types.computed(f)
    ]


class Lookups:
    """The ids each ref column's cells name, read once for the records of an import."""

    def __init__(self, records: RecordService, user: User):
        self.records = records
        self.user = user
        self.found: dict[str, dict[str, list[int]]] = {}  # column -> looked-up text -> ids

    def load(self, column: Column, entity: Entity, cells: set[str]) -> None:
        fld = entity.fields[column.key]
        kind = self.records.types[fld.type]
        wanted = {kind.lookup_text(c) for c in cells if c}
        found: dict[str, list[int]] = {}
        if wanted and column.finds:
            table = self.records.tables[entity.table]
            compared = kind.lookup_column(table.c[column.key])
            query = select(compared, table.c.id).where(compared.in_(sorted(wanted)))
            visible = self.records.compiler.visible(self.user, entity)
            if visible is not None:
                query = query.where(visible)
            with self.records.db.read() as conn:
                for text, record_id in conn.execute(query.order_by(table.c.id)).all():
                    found.setdefault(text, []).append(record_id)
        self.found[column.name] = found

    def find(
        self,
        entity: Entity,
        columns: list[Column],
        cells: Mapping[str, str],
        row: int,
        create: bool,
    ) -> tuple[int | Missing | None, list[dict]]:
        """The record the row's cells name (its id), or one to create, or None with the
        problems: the first column with a value that finds one record wins."""
        given = [c for c in columns if cells.get(c.name)]
        finding = [c for c in given if c.finds]
        problems = []
        for column in finding:
            kind = self.records.types[entity.fields[column.key].type]
            ids = self.found[column.name].get(kind.lookup_text(cells[column.name]), [])
            if len(ids) == 1:
                return ids[0], []
            if ids:
                problems.append(
                    _problem(
                        row,
                        column.name,
                        msg(
                            "{count} {entity} records have {key} '{value}'; use a column that "
                            "finds one",
                            count=len(ids),
                            entity=entity.label,
                            key=column.key,
                            value=cells[column.name],
                        ),
                    )
                )
        if problems or not finding:
            return None, problems
        if create:
            types = self.records.types
            values = {
                c.key: types[entity.fields[c.key].type].parse_text(
                    entity.fields[c.key], cells[c.name]
                )
                for c in given
            }
            known_by = tuple(
                (c.key, types[entity.fields[c.key].type].lookup_text(cells[c.name]))
                for c in finding
            )
            return Missing(entity, values, (entity.qualified, *known_by)), []
        return None, [
            _problem(
                row,
                column.name,
                msg(
                    "there is no {entity} with {key} '{value}'",
                    entity=entity.label,
                    key=column.key,
                    value=cells[column.name],
                ),
            )
            for column in finding
        ]


def _problem(row: int, column: str, message: str) -> dict:
    return {"row": row, "column": column, "message": message}
