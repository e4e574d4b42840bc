"""What a new version asks of the data already there, and the admin's answers.

A version that removes a workflow state some records are in asks where to move them; a
version that makes a field required, or adds a required one, asks what to fill the
empty rows with. Answers are applied in the same transaction as the schema change and
the new version, so all of it lands or none of it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import (
    JSON,
    Connection,
    MetaData,
    Table,
    Text,
    cast,
    func,
    inspect,
    literal,
    null,
    select,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from apploom.engine import clock
from apploom.engine.definitions.model import AppSet, Entity
from apploom.engine.errors import MigrationRefused
from apploom.engine.fields.base import Invalid
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import Message, joined, message_of, msg, prefixed
from apploom.engine.storage.column_types import UTCDateTime
from apploom.engine.storage.system_tables import ID, sys_history, sys_transition


@dataclass(frozen=True)
class Question:
    kind: str  # "move": records in a removed state; "fill": empty required field
    entity: str  # "app.entity"
    name: str  # the state, or the field
    count: int
    choices: tuple[str, ...] = ()  # a move's possible states

    @property
    def key(self) -> str:
        return f"{self.entity}:{self.name}"

    @property
    def said(self) -> Message:
        """The question in words, above the studio's answer to it."""
        if self.kind == "move":
            return msg(
                "{count} {entity} record(s) are in state '{state}', which this version "
                "removes: choose a state to move them to ({choices})",
                count=self.count,
                entity=self.entity,
                state=self.name,
                choices=", ".join(self.choices),
            )
        return msg(
            "{count} {entity} record(s) have no value for '{field}', which this version "
            "requires: choose a value to fill in",
            count=self.count,
            entity=self.entity,
            field=self.name,
        )

    def __str__(self) -> str:
        return str(self.said)


def questions(
    conn: Connection, new: AppSet, old: AppSet | None, types: FieldTypes
) -> list[Question]:
    """What the data needs answered before ``new`` can replace ``old``."""
    if old is None:
        return []
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    found = []
    for entity in new.entities():
        app, name = entity.app, entity.name
        before = old.apps.get(app) and old.apps[app].entities.get(name)
        if not before or entity.table not in tables:
            continue
        gone = (
            sorted(set(before.workflow.states) - set(entity.workflow.states))
            if entity.workflow and before.workflow
            else []
        )
        required = [
            fld
            for fld in entity.fields.values()
            if fld.required
            and not types.computed(fld)
            and not fld.holds_rows
            and not fld.fill  # the definition says what old records take
            and not getattr(before.fields.get(fld.name), "required", False)
        ]
        if not gone and not required:
            continue  # nothing to ask: the table's columns need not be read
        columns = {c["name"] for c in inspector.get_columns(entity.table)}
        table = sql_table(entity.table, *(sql_column(n) for n in columns))
        if gone and entity.workflow and entity.workflow.field in columns:
            column = table.c[entity.workflow.field]
            counts: dict[str, int] = dict(
                conn.execute(
                    select(column, func.count()).where(column.in_(gone)).group_by(column)
                ).all()
            )
            found += [
                Question(
                    "move", entity.qualified, state, counts[state], tuple(entity.workflow.states)
                )
                for state in gone
                if counts.get(state)
            ]
        for fld in required:  # a new column is empty in every row
            rows = select(func.count()).select_from(table)
            if fld.name in columns:
                rows = rows.where(table.c[fld.name].is_(None))
            empty = conn.execute(rows).scalar()
            if empty:
                found.append(Question("fill", entity.qualified, fld.name, empty))
    return found


def answer(
    conn: Connection,
    asked: list[Question],
    moves: Mapping[str, str],
    fills: Mapping[str, Any],
    new: AppSet,
    metadata: MetaData,
    types: FieldTypes,
    user_id: int | None = None,
    note: str | None = None,
) -> None:
    """Apply the answers (``moves``/``fills`` keyed ``app.entity:name``), refusing the
    whole change if any question is left open or answered with something invalid. Each
    record changed gets a history entry (and a move, a transition log entry) by
    ``user_id``, with ``note``."""
    open_ones = [q.said for q in asked if q.key not in (moves if q.kind == "move" else fills)]
    if open_ones:
        raise MigrationRefused(
            msg("This version needs answers about existing data: {open}", open=joined(open_ones))
        )
    log = _Log(conn, user_id, note)
    for q in asked:
        entity = new.entity(q.entity)
        table = metadata.tables[entity.table]
        if q.kind == "move":
            target = moves[q.key]
            if entity.workflow is None or target not in entity.workflow.states:
                raise MigrationRefused(
                    msg("'{value}' is not a state of {entity}", value=target, entity=q.entity)
                )
            column = table.c[entity.workflow.field]
            log.changed(entity, table, column == q.name, {column.name: [q.name, target]})
            log.moved(entity, table, column == q.name, q.name, target)
            conn.execute(
                update(table).where(column == q.name).values({column: target, **_bumped(table)})
            )
            continue
        fld = entity.fields[q.name]
        try:
            value = types[fld.type].coerce(fld, fills[q.key])
            types[fld.type].check(fld, value)
        except Invalid as exc:
            raise MigrationRefused(prefixed(f"{q.entity}.{q.name}", message_of(exc))) from None
        empty = table.c[q.name].is_(None)
        log.changed(entity, table, empty, {q.name: [None, types[fld.type].dump(fld, value)]})
        conn.execute(update(table).where(empty).values({table.c[q.name]: value, **_bumped(table)}))


class _Log:
    """History and transition log rows for the records an answer changes: one INSERT …
    SELECT each, so an answer about a million records is still one statement."""

    def __init__(self, conn: Connection, user_id: int | None, note: str | None):
        self.conn, self.now = conn, clock.now()
        self.user = literal(user_id, ID) if user_id is not None else null()
        self.note = literal(note, Text) if note else null()

    def changed(self, entity: Entity, table: Table, where, changes: dict) -> None:
        if entity.is_child:  # a child row's changes are its parent's business
            return
        text = literal(json.dumps(changes), Text)
        rows = select(
            literal(entity.qualified, Text),
            table.c.id,
            table.c.version + 1,
            literal("update", Text),
            self.user,
            literal(self.now, UTCDateTime),
            cast(text, JSON) if self.conn.dialect.name == "postgresql" else text,
            null(),
            self.note,
        ).where(where)
        self.conn.execute(
            sys_history.insert().from_select(
                [
                    "entity",
                    "record_id",
                    "version",
                    "action",
                    "user_id",
                    "at",
                    "changes",
                    "transition",
                    "note",
                ],
                rows,
            )
        )

    def moved(self, entity: Entity, table: Table, where, source: str, target: str) -> None:
        rows = select(
            literal(entity.qualified, Text),
            table.c.id,
            null(),
            literal(source, Text),
            literal(target, Text),
            self.user,
            literal(self.now, UTCDateTime),
            self.note,
        ).where(where)
        self.conn.execute(
            sys_transition.insert().from_select(
                [
                    "entity",
                    "record_id",
                    "transition",
                    "from_state",
                    "to_state",
                    "user_id",
                    "at",
                    "comment",
                ],
                rows,
            )
        )


def _bumped(table) -> dict:
    """A changed record's version goes up, so an edit begun before it is refused (child
    rows have no version of their own)."""
    return {table.c.version: table.c.version + 1} if "version" in table.c else {}
