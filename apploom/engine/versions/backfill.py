"""What a new version's fields mean for the records already there.

A field added with a ``fill`` takes that expression over each old record's fields (an
order's new ``ordered_at`` takes its ``order_date``), and one added with a fixed default
takes the default, so the orders before a new 'prices include tax' switch read as the
default says, as the orders after it do. A formula added or changed is computed for every
existing record (child rows first, as on save), so a report over a new figure counts the
old records too, and no total changes the next time an old record is saved; a field that
was typed and becomes a formula keeps what was typed. All of it runs inside the version's
transaction, a batch of records at a time, and writes the columns only: the record's
version and history stay, as no one changed the record.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Table, select, update

from apploom.engine.definitions.model import AppSet, Entity, Field
from apploom.engine.expressions.compiled import compile_expression
from apploom.engine.fields.base import Invalid
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.records.formulas import compute_formulas, formula_order
from apploom.engine.storage.migrations import Plan

BATCH = 500


def backfill(
    conn: Connection, new: AppSet, previous: AppSet | None, plan: Plan, types: FieldTypes
) -> None:
    tables = plan.metadata.tables
    added = {(step.table, step.column) for step in plan.steps if step.kind == "add_column"}
    for entity in new.entities():
        table = tables[entity.table]
        for field in entity.fields.values():
            if (entity.table, field.name) not in added:
                continue
            if field.fill:
                _fill(conn, table, entity, field, types)
            elif (value := _fixed_default(field, types)) is not None:
                conn.execute(
                    update(table).where(table.c[field.name].is_(None)).values({field.name: value})
                )
    if previous is None:
        return
    for entity in new.entities():
        old = previous.find(entity.qualified)
        if (
            not entity.is_child
            and old is not None
            and _formulas(entity, new) != _formulas(old, previous)
        ):
            _recompute(conn, entity, new, previous, tables, types)


def _fill(conn: Connection, table: Table, entity: Entity, field: Field, types: FieldTypes) -> None:
    expression = compile_expression(field.fill or "")
    kind = types[field.type]
    for batch in _batches(conn, table):
        for record in batch:
            names = {**types.functions, **{n: record.get(n) for n in entity.fields}}
            value = kind.coerce(field, expression.evaluate(names))
            conn.execute(
                update(table).where(table.c.id == record["id"]).values({field.name: value})
            )


def _fixed_default(field: Field, types: FieldTypes) -> Any:
    kind = types[field.type]
    if field.formula or field.default is None or field.default in kind.dynamic_defaults:
        return None
    try:
        return kind.coerce(field, field.default)
    except Invalid:
        return None  # the definition checks report it


def _formulas(entity: Entity, apps: AppSet) -> dict[str, dict[str, str]]:
    """The formulas of an entity and of its tables' rows, by entity."""
    found = {entity.qualified: {f.name: f.formula for f in entity.fields.values() if f.formula}}
    for table_field in entity.table_fields():
        found.update(_formulas(apps.entity(table_field.child), apps))
    return found


def _batches(conn: Connection, table: Table):
    last = 0
    while True:
        batch = (
            conn.execute(select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH))
            .mappings()
            .all()
        )
        if not batch:
            return
        yield batch
        last = batch[-1]["id"]


def _recompute(conn, entity: Entity, apps: AppSet, previous: AppSet, tables, types) -> None:
    children = [(f.name, apps.entity(f.child)) for f in entity.table_fields()]
    typed = {  # fields people typed before this version made them formulas: kept
        e.qualified: {f.name for f in e.fields.values() if f.formula and _was_typed(e, f, previous)}
        for e in (entity, *(child for _, child in children))
    }
    table = tables[entity.table]
    for batch in _batches(conn, table):
        ids = [record["id"] for record in batch]
        rows = {name: _rows_of(conn, tables[child.table], ids) for name, child in children}
        for record in batch:
            own_rows = {}
            for name, child in children:
                own_rows[name] = [
                    _store(conn, tables[child.table], child, row, types, None, typed)
                    for row in rows[name][record["id"]]
                ]
            _store(conn, table, entity, record, types, own_rows, typed)


def _was_typed(entity: Entity, field: Field, previous: AppSet) -> bool:
    old = previous.find(entity.qualified)
    before = old.fields.get(field.name) if old is not None else None
    return before is not None and not before.formula


def _rows_of(conn: Connection, table: Table, parent_ids: list[int]) -> dict[int, list]:
    found: dict[int, list] = defaultdict(list)
    for row in conn.execute(
        select(table)
        .where(table.c.parent_id.in_(parent_ids))
        .order_by(table.c.parent_id, table.c.position)
    ).mappings():
        found[row["parent_id"]].append(row)
    return found


def _store(conn, table, entity, stored, types, rows, typed) -> dict:
    """Compute ``stored``'s formulas and write those that came out different (but for
    failed ones and those that hold what people typed)."""
    ordered = formula_order(entity)[0]
    values = dict(stored)
    kept = set(compute_formulas(entity, ordered, values, types, rows)) | typed[entity.qualified]
    changed = {
        f.name: values[f.name]
        for f in ordered
        if f.name not in kept and values[f.name] != stored[f.name]
    }
    if changed:
        conn.execute(update(table).where(table.c.id == stored["id"]).values(changed))
    return {**values, **{name: stored[name] for name in kept}}
