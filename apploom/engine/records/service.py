"""The record service: the single write path for every app.

Create, update and delete each run in one transaction: coerce and check the
input, apply defaults and formulas, check permissions, references and unique
values, number the record, write the row, its child rows and its history entry.
Reads apply the same permissions. Screens, the API, imports and (later) rules
all come through here.
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import (
    Connection,
    Insert,
    Result,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import SYSTEM_USER, User
from apploom.engine.definitions.model import AppSet, Entity, Field, Label
from apploom.engine.errors import Conflict, NotFound, RuleError, ValidationFailed
from apploom.engine.fields.base import FieldType
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import msg
from apploom.engine.query.filters import (
    AUDIT_FIELDS,
    MAX_LIMIT,
    SYSTEM_FIELDS,
    Query,
    QueryCompiler,
)
from apploom.engine.records import idempotency
from apploom.engine.records.conditions import FieldState, field_conditions, field_states
from apploom.engine.records.formulas import compute_formulas, formula_order
from apploom.engine.records.history import (
    MAX_COMMENT,
    log_transition,
    read_history,
    read_timeline,
    write_comment,
    write_history,
)
from apploom.engine.records.inputs import Input, RowInput, read_input
from apploom.engine.records.naming import next_number
from apploom.engine.records.pipeline import ChangePipeline
from apploom.engine.records.titles import Titles
from apploom.engine.storage.database import Database, inserted_id
from apploom.engine.storage.entity_tables import build_metadata
from apploom.engine.storage.retries import ConcurrentUpdate, retrying
from apploom.engine.storage.system_tables import sys_attachment, sys_rule_run, sys_user

log = logging.getLogger(__name__)
COUNT_LIMIT = 10_000  # a list counts its matches up to this many; more show as "10,000+"


@dataclass(frozen=True)
class Page:
    data: list[dict]
    total: int  # the rows that match, counted up to COUNT_LIMIT
    total_exact: bool = True  # False: more than ``total`` match
    next: str | None = None  # the cursor of the page after this one, when one follows


@dataclass
class Draft:
    """A record's values being saved: plain fields and the rows of each table field."""

    values: dict[str, Any]
    rows: dict[str, list[dict]]


@dataclass(frozen=True)
class Change:
    """What just happened to a record, for the change pipeline's stages to act on."""

    trigger: str  # created | updated | transition | deleted
    entity: Entity
    record_id: int
    before: Draft | None
    after: Draft | None
    user: User
    transition: str | None = None
    changed: frozenset[str] = frozenset()
    payload: Any = None  # an inbound webhook's body


T = TypeVar("T")


def _now() -> datetime:
    return clock.now()


class RecordService:
    def __init__(self, db: Database, apps: AppSet, types: FieldTypes):
        self.db = db
        self.apps = apps
        self.types = types
        self.tables = build_metadata(apps, types).tables
        self.compiler = QueryCompiler(apps, types, self.tables, db.dialect)
        self.title_lookup = Titles(apps, types, self.tables)
        self.pipeline = ChangePipeline()
        self._column_fields = {
            e.qualified: [f for f in e.fields.values() if types[f.type].has_column]
            for e in apps.entities()
        }
        self._formulas = {e.qualified: formula_order(e)[0] for e in apps.entities()}
        self._conditions = {e.qualified: field_conditions(e) for e in apps.entities()}
        # whether an entity has fields only some roles may set (editable_by)
        self._guarded = {
            e.qualified: any(f.editable_by for f in e.fields.values()) for e in apps.entities()
        }
        # the fields that take their value from a ref, by entity: most have none, and every
        # change of every record asks
        self._ref_defaults = {
            e.qualified: [f for f in e.fields.values() if f.default_from] for e in apps.entities()
        }
        # (the record's entity, the entity holding the field, the field) of each file field
        self._file_fields = [
            (apps.entity(e.parent) if e.parent else e, e, f)
            for e in apps.entities()
            for f in e.fields.values()
            if types[f.type].holds_file
        ]
        self._dump_plans: dict[str, list] = {}
        self._referrers: dict[str, list[tuple[Entity, Field]]] = {}
        for entity in apps.entities():
            for fld in entity.fields.values():
                if types[fld.type].is_reference:
                    self._referrers.setdefault(fld.target, []).append((entity, fld))

    # ---- lookups ------------------------------------------------------------------------

    def entity(self, ref: str) -> Entity:
        """The entity named ``app.entity``; child tables are reached through their parent."""
        found = self.apps.find(ref)
        if found is None or found.is_child:
            raise NotFound(msg("There is no entity '{ref}'", ref=ref))
        return found

    def table(self, ref: str) -> Table:
        """The table of the entity ``ref`` (child tables too), for the queries a plugin
        writes itself."""
        return self.tables[self.apps.entity(ref).table]

    def _columns(self, entity: Entity) -> list[Field]:
        """The fields of ``entity`` stored in its own table's columns."""
        return self._column_fields[entity.qualified]

    # ---- reading ------------------------------------------------------------------------

    def get(self, user: User, ref: str, record_id: int) -> dict:
        entity = self.entity(ref)
        row_filter = self.compiler.visible(user, entity)
        with self.db.read() as conn:
            drafts = self.load(conn, entity, [record_id], row_filter)
        if record_id not in drafts:
            raise NotFound(_no_such(entity, record_id))
        return self.dump(entity, drafts[record_id])

    def list(self, user: User, ref: str, query: Query | None = None) -> Page:
        """A page of the records ``query`` finds, as ``user`` sees them; their count up to
        COUNT_LIMIT (counting a million rows costs more than the page), and the cursor of
        the page after it."""
        entity = self.entity(ref)
        query = query or Query()
        table = self.tables[entity.table]
        fields = self._selected(entity, query.fields)
        page, filtered, keys = self.compiler.paged(user, entity, query, select(table), extra=1)
        page = page.add_columns(*(k.column.label(f"key_{n}") for n, k in enumerate(keys)))
        limit = min(query.limit or entity.list.page_size, MAX_LIMIT)
        counted = select(func.count()).select_from(
            filtered.with_only_columns(table.c.id).limit(COUNT_LIMIT + 1).subquery()
        )
        with self.db.read() as conn:
            rows = _dicts(conn.execute(page))
            more, rows = len(rows) > limit, rows[:limit]
            if not more and query.after is None and (rows or not query.offset):
                total = query.offset + len(rows)  # the last page: its rows tell the count
            else:
                total = conn.execute(counted).scalar() or 0
            children = self._children(
                conn,
                entity,
                [r["id"] for r in rows],
                [f for f in fields or entity.fields.values() if f.holds_rows],
            )
        data = [
            self.dump(
                entity,
                Draft(
                    r,
                    {name: by_parent.get(r["id"], []) for name, by_parent in children.items()},
                ),
                fields,
            )
            for r in rows
        ]
        return Page(
            data,
            min(total, COUNT_LIMIT),
            total_exact=total <= COUNT_LIMIT,
            next=self.compiler.cursor(keys, rows[-1]) if more else None,
        )

    # ``list`` is the method above from here on, so annotations spell out the builtin

    def history(self, user: User, ref: str, record_id: int) -> builtins.list[dict]:
        entity = self.entity(ref)
        with self.db.read() as conn:
            self._check_readable(conn, user, entity, record_id)
            return read_history(conn, entity, record_id)

    def timeline(self, user: User, ref: str, record_id: int) -> builtins.list[dict]:
        """History and comments, newest first."""
        entity = self.entity(ref)
        with self.db.read() as conn:
            self._check_readable(conn, user, entity, record_id)
            return read_timeline(conn, entity, record_id)

    def _check_readable(self, conn: Connection, user: User, entity: Entity, record_id: int) -> None:
        """The permission and existence checks of :meth:`get`, without reading the record."""
        table = self.tables[entity.table]
        query = select(table.c.id).where(table.c.id == record_id)
        row_filter = self.compiler.visible(user, entity)
        if row_filter is not None:
            query = query.where(row_filter)
        if conn.execute(query).first() is None:
            raise NotFound(_no_such(entity, record_id))

    def comment(self, user: User, ref: str, record_id: int, body: Any) -> None:
        """Anyone who may read a record may comment on it."""
        self.get(user, ref, record_id)
        if not isinstance(body, str) or not body.strip():
            raise ValidationFailed({"comment": msg("write something first")})
        if len(body) > MAX_COMMENT:
            raise ValidationFailed(
                {"comment": msg("may have at most {count} characters", count=MAX_COMMENT)}
            )
        self.transaction(
            lambda conn: write_comment(
                conn, self.entity(ref), record_id, user, _now(), body.strip()
            )
        )

    def titles(
        self,
        user: User,
        ref: str,
        ids: set[int],
        lang: str = "en",
        via: tuple[str, str] | None = None,
    ) -> dict[int, str]:
        """{id: title} of records the user may read; '#id' for the others. With ``via``
        (an entity and its ref field), also of records the user may not read that a
        record of that entity they may read refers to: the warehouse sees the customer's
        name on an order without reading customers. The engine looks the reference up,
        so an id that no readable record refers to stays '#id'."""
        target = self.apps.entity(ref)
        with self.db.read() as conn:
            if via is None or permissions.scope(self.apps, user, target, "read") is not None:
                return self.title_lookup.of(conn, user, target, ids, lang)
            shown = self._referred_to(conn, user, via, ids)
            seen = self.title_lookup.of(conn, SYSTEM_USER, target, shown, lang)
            return {i: seen.get(i, f"#{i}") for i in ids if i is not None}

    def _referred_to(
        self, conn: Connection, user: User, via: tuple[str, str], ids: set[int]
    ) -> set[int]:
        """Those of ``ids`` that a record of ``via``'s entity the user may read refers to
        in ``via``'s field (for a child entity, a row of a record they may read)."""
        holder = self.apps.entity(via[0])
        owner = self.apps.entity(holder.parent) if holder.parent else holder
        if not ids or permissions.scope(self.apps, user, owner, "read") is None:
            return set()
        table = self.tables[holder.table]
        column = table.c[via[1]]
        query = select(column).where(column.in_(ids)).distinct()
        row_filter = self.compiler.visible(user, owner)
        if row_filter is not None:
            if holder.parent:
                parents = self.tables[owner.table]
                query = query.join(parents, table.c.parent_id == parents.c.id)
            query = query.where(row_filter)
        return set(conn.execute(query).scalars())

    def _selected(
        self, entity: Entity, names: tuple[str, ...] | None
    ) -> builtins.list[Field] | None:
        """The fields asked for with ``fields=``, or None for all of them."""
        if names is None:
            return None
        return [
            entity.fields[n] if n in entity.fields else self.compiler.field(entity, n)
            for n in names
            if n not in ("id", "version")
        ]

    def load(
        self, conn: Connection, entity: Entity, ids: builtins.list[int], row_filter=None
    ) -> dict[int, Draft]:
        """The stored records of ``ids`` (with their rows), keyed by id; no permission check."""
        table = self.tables[entity.table]
        query = select(table).where(table.c.id.in_(ids))
        if row_filter is not None:
            query = query.where(row_filter)
        rows = conn.execute(query).mappings().all()
        children = self._children(conn, entity, [r["id"] for r in rows], entity.table_fields())
        return {
            r["id"]: Draft(
                dict(r), {name: by_parent.get(r["id"], []) for name, by_parent in children.items()}
            )
            for r in rows
        }

    def _children(
        self,
        conn: Connection,
        entity: Entity,
        parent_ids: builtins.list[int],
        table_fields: builtins.list[Field],
    ) -> dict[str, dict[int, builtins.list[dict]]]:
        result: dict[str, dict[int, builtins.list[dict]]] = {}
        for fld in table_fields:
            result[fld.name] = {}
            if not parent_ids:
                continue
            child = self.tables[self.apps.entity(fld.child).table]
            rows = _dicts(
                conn.execute(
                    select(child)
                    .where(child.c.parent_id.in_(parent_ids))
                    .order_by(child.c.parent_id, child.c.position)
                )
            )
            for row in rows:
                result[fld.name].setdefault(row["parent_id"], []).append(row)
        return result

    # ---- the JSON form ------------------------------------------------------------------

    def dump(
        self, entity: Entity, draft: Draft, fields: builtins.list[Field] | None = None
    ) -> dict:
        """The JSON form of a record: every field (or the ``fields`` asked for), rows nested."""
        values = draft.values
        out = {"id": values.get("id")}
        if not entity.is_child:
            out["version"] = values.get("version")
        for name, dumper, child in self._dumpers(entity, fields):
            if child is not None:
                out[name] = [self.dump(child, Draft(row, {})) for row in draft.rows.get(name, [])]
            else:
                out[name] = values.get(name) if dumper is None else dumper(values.get(name))
        return out

    def _dumpers(self, entity: Entity, fields: builtins.list[Field] | None) -> builtins.list:
        """(name, how its value is dumped or None when as stored, the child entity of a
        table) for each field dumped: a list dumps thousands of values, each asking."""
        key = entity.qualified
        if fields is None and key in self._dump_plans:
            return self._dump_plans[key]
        chosen = fields
        if chosen is None:
            chosen = list(entity.fields.values())
            if not entity.is_child:
                chosen += [SYSTEM_FIELDS[n] for n in AUDIT_FIELDS]
        plan: builtins.list[tuple[str, Callable | None, Entity | None]] = []
        for fld in chosen:
            if fld.holds_rows:
                plan.append((fld.name, None, self.apps.entity(fld.child)))
                continue
            ftype = self.types[fld.type]
            as_stored = type(ftype).dump is FieldType.dump
            plan.append((fld.name, None if as_stored else partial(ftype.dump, fld), None))
        if fields is None:
            self._dump_plans[key] = plan
        return plan

    # ---- writing ------------------------------------------------------------------------

    def create(
        self, user: User, ref: str, data: Any, *, idempotency_key: str | None = None
    ) -> dict:
        entity = self.entity(ref)
        permissions.require(self.apps, user, entity, "create")
        if idempotency_key is not None:
            idempotency.check_key(idempotency_key)

        def work(conn: Connection) -> dict:
            if idempotency_key is not None:
                earlier = idempotency.recall(conn, user, idempotency_key, entity, data)
                if earlier is not None:
                    return earlier
            record = self.create_in(conn, user, entity, data)
            if idempotency_key is not None:
                idempotency.remember(conn, user, idempotency_key, entity, data, record, _now())
            return record

        try:
            return self.transaction(work)
        except IntegrityError:  # the same key, committed meanwhile by a concurrent request
            if idempotency_key is None:
                raise
            with self.db.read() as conn:
                earlier = idempotency.recall(conn, user, idempotency_key, entity, data)
            if earlier is None:
                raise
            return earlier

    def create_in(
        self, conn: Connection, user: User, entity: Entity, data: Any, *, by_rule: bool = False
    ) -> dict:
        """Create a record inside the caller's transaction (rules use this directly, with
        ``by_rule``: they may set what people may not, see read_input)."""
        now = _now()
        given = read_input(entity, data, self.apps, self.types, by_rule=by_rule)
        errors = dict(given.errors)
        draft = Draft(self._with_defaults(entity, given.values, user, now), {})
        if self._guarded[entity.qualified]:
            defaults = self._with_defaults(entity, {}, user, now)
            permissions.refuse_unpermitted(
                user, entity, given.values, defaults, draft.values, errors
            )
        for fld in entity.table_fields():
            child = self.apps.entity(fld.child)
            draft.rows[fld.name] = []
            for i, row in enumerate(given.tables.get(fld.name, [])):
                if row.id is not None:
                    errors[f"{fld.name}.{i}.id"] = "a new record's rows have no id yet"
                draft.rows[fld.name].append(self._with_defaults(child, row.values, user, now))
        self._from_refs(conn, entity, draft, given, None)
        states = self._complete(entity, draft, errors)
        self._refuse_readonly_if(entity, states, None, given, draft, user, now, errors)
        try:
            self._check_stored(conn, user, entity, draft, errors, refs=bool(errors))
            if errors:
                raise ValidationFailed(errors)
            record = self._insert(conn, entity, draft, user, now)
        except IntegrityError:
            raise self._integrity_error(user, entity, draft, None) from None
        write_history(
            conn,
            entity,
            record["id"],
            1,
            "create",
            user,
            now,
            {k: [None, v] for k, v in record.items() if k in entity.fields and v not in (None, [])},
        )
        if entity.workflow is not None:
            log_transition(
                conn, entity, record["id"], None, None, entity.workflow.initial, user, now
            )
        return self._changed(
            conn, Change("created", entity, record["id"], None, draft, user), record
        )

    def transaction(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in one write transaction, the unit every user action's writes
        make. PostgreSQL ending it over a lock conflict (an arrival and an order locking
        the same stock rows in turn) runs it again from the start, so the user never hears
        of it (see storage.retries); ``work`` must therefore keep its state in the
        database, or start it afresh each time it is called. A rule that failed in it is
        logged, and its run recorded after the rollback."""

        def attempt() -> T:
            with self.db.write() as conn:
                return work(conn)

        try:
            return retrying(attempt)
        except RuleError as exc:
            log.warning("%s", exc)
            if exc.run is not None:
                with self.db.write() as conn:
                    conn.execute(sys_rule_run.insert().values(**exc.run))
            raise

    def _changed(self, conn: Connection, change: Change, record: dict) -> dict:
        """Run the change pipeline; returns the record as it is once its stages acted."""
        if not self.pipeline.run(conn, change):
            return record
        return self.dump(
            change.entity, self.load(conn, change.entity, [record["id"]])[record["id"]]
        )

    def update(
        self, user: User, ref: str, record_id: int, data: Any, *, version: int | None
    ) -> dict:
        entity = self.entity(ref)
        permissions.require(self.apps, user, entity, "update")
        if version is None:
            raise ValidationFailed(
                {
                    "version": msg(
                        "send the version you read, so that a change made meanwhile is not "
                        "overwritten"
                    )
                }
            )
        given = read_input(entity, data, self.apps, self.types)

        def work(conn: Connection) -> dict:
            stored = self.stored(conn, user, entity, record_id, "update")
            if stored.values["version"] != version:
                raise Conflict(
                    msg(
                        "This {entity} was changed by someone else (version {current}, you "
                        "edited version {version})",
                        entity=entity.label,
                        current=stored.values["version"],
                        version=version,
                    ),
                    current=self.dump(entity, stored),
                    yours=data,
                    stale=True,
                )
            return self.change(conn, user, entity, stored, given)

        return self.transaction(work)

    def change(
        self,
        conn: Connection,
        user: User,
        entity: Entity,
        stored: Draft,
        given: Input,
        *,
        forced: dict | None = None,
        forced_rows: dict | None = None,
        check: Callable[[Draft, dict], None] | None = None,
        transition: str | None = None,
        note: str | None = None,
    ) -> dict:
        """Apply ``given`` (and the ``forced`` values only the engine or a plugin may set,
        read-only ones included; ``forced_rows`` is table -> row id -> values) to a stored
        record, inside the caller's transaction: merge rows, recompute, check (``check`` may
        add errors), write with a version check, and keep the history entry."""
        now = _now()
        record_id, version = stored.values["id"], stored.values["version"]
        errors = dict(given.errors)
        before = self.dump(entity, stored)
        draft = Draft(
            {**stored.values, **given.values, **(forced or {})},
            {name: [dict(r) for r in rows] for name, rows in stored.rows.items()},
        )
        for name, rows in given.tables.items():
            draft.rows[name] = self._merge_rows(
                entity, name, stored.rows[name], rows, user, now, errors
            )
        _refuse_unlocked(entity, self.apps, stored, given, draft, errors)
        if self._guarded[entity.qualified]:
            permissions.refuse_unpermitted(
                user, entity, given.values, stored.values, draft.values, errors
            )
        self._from_refs(conn, entity, draft, given, stored)
        for name, by_id in (forced_rows or {}).items():
            for row in draft.rows[name]:
                row.update(by_id.get(row["id"], {}))
        states = self._complete(entity, draft, errors)
        self._refuse_readonly_if(entity, states, stored, given, draft, user, now, errors)
        if check is not None:
            check(draft, errors)
        after = self.dump(entity, draft)
        changes = {k: [before[k], after[k]] for k in entity.fields if before[k] != after[k]}
        self._refuse_locked(
            entity,
            stored,
            set(changes)
            - set(forced or {})
            - set(forced_rows or {})
            - set(given.values if transition else ()),
            errors,
        )
        if not changes and not errors:
            return before
        try:
            self._check_stored(
                conn, user, entity, draft, errors, record_id, only=set(changes), refs=bool(errors)
            )
            if errors:
                raise ValidationFailed(errors)
            record = self._write_update(conn, entity, record_id, version, draft, stored, user, now)
        except IntegrityError:
            raise self._integrity_error(user, entity, draft, record_id) from None
        write_history(
            conn,
            entity,
            record_id,
            version + 1,
            "transition" if transition else "update",
            user,
            now,
            changes,
            transition=transition,
            note=note,
        )
        return self._changed(
            conn,
            Change(
                "transition" if transition else "updated",
                entity,
                record_id,
                stored,
                draft,
                user,
                transition,
                frozenset(changes),
            ),
            record,
        )

    def _refuse_locked(
        self, entity: Entity, stored: Draft, changed: set[str], errors: dict
    ) -> None:
        """Fields the workflow makes read-only in the record's current state stay as they are."""
        if entity.workflow is None:
            return
        status = stored.values.get(entity.workflow.field)
        state = None if status is None else entity.workflow.states.get(status)
        if state is None:
            return
        for name in sorted(changed & set(state.readonly)):
            errors.setdefault(
                name, f"cannot change while the {entity.label.en} is {state.label.en}"
            )

    def delete(self, user: User, ref: str, record_id: int, *, version: int | None = None) -> None:
        self.delete_many(user, ref, [record_id], version=version)

    def delete_many(
        self, user: User, ref: str, record_ids: builtins.list[int], *, version: int | None = None
    ) -> int:
        """Delete every record of ``record_ids`` or, if one cannot go, none of them."""
        entity = self.entity(ref)
        permissions.require(self.apps, user, entity, "delete")

        def work(conn: Connection) -> None:
            for record_id in record_ids:
                self._delete(conn, user, entity, record_id, version)

        try:
            self.transaction(work)
        except IntegrityError:
            raise Conflict(
                msg(
                    "This {entity} cannot be deleted: other records (some perhaps archived "
                    "fields) still refer to it",
                    entity=entity.label,
                )
            ) from None
        return len(record_ids)

    def _delete(
        self, conn: Connection, user: User, entity: Entity, record_id: int, version: int | None
    ) -> None:
        stored = self.stored(conn, user, entity, record_id, "delete")
        _refuse_kept(entity, stored)
        before = self.dump(entity, stored)
        if version is not None and stored.values["version"] != version:
            raise Conflict(
                msg("This {entity} was changed by someone else", entity=entity.label),
                current=before,
                yours={"version": version},
                stale=True,
            )
        self._refuse_if_referenced(conn, entity, record_id)
        for fld in entity.table_fields():
            child = self.tables[self.apps.entity(fld.child).table]
            conn.execute(delete(child).where(child.c.parent_id == record_id))
        table = self.tables[entity.table]
        conn.execute(delete(table).where(table.c.id == record_id))
        write_history(
            conn,
            entity,
            record_id,
            stored.values["version"],
            "delete",
            user,
            _now(),
            {k: [v, None] for k, v in before.items() if k in entity.fields and v not in (None, [])},
        )
        self.pipeline.run(conn, Change("deleted", entity, record_id, stored, None, user))

    def preview(self, user: User, ref: str, data: Any, record_id: int | None = None) -> dict:
        """What saving ``data`` would store (defaults and formulas filled in), and the
        input errors found so far; nothing is written. For forms that recompute as you type."""
        entity = self.entity(ref)
        now = _now()
        given = read_input(entity, data, self.apps, self.types)
        errors = dict(given.errors)
        draft = Draft(self._with_defaults(entity, given.values, user, now), {})
        if record_id is not None:
            with self.db.read() as conn:
                stored = self.stored(conn, user, entity, record_id, "update")
            draft.values = {**stored.values, **given.values}
        else:
            permissions.require(self.apps, user, entity, "create")
        for fld in entity.table_fields():
            child = self.apps.entity(fld.child)
            draft.rows[fld.name] = [
                self._with_defaults(child, row.values, user, now)
                for row in given.tables.get(fld.name, [])
            ]
        with self.db.read() as conn:
            self._from_refs(conn, entity, draft, given, None)
        states = self._complete(entity, draft, errors)
        return {
            "record": self.dump(entity, draft),
            "errors": errors,
            "states": {key: state.as_dict() for key, state in states.items()},
        }

    def stored(
        self, conn: Connection, user: User, entity: Entity, record_id: int, action: str
    ) -> Draft:
        """The stored record, if ``user`` may see it and take ``action`` on it."""
        visible = self.compiler.visible(user, entity)
        stored = self.load(conn, entity, [record_id], visible).get(record_id)
        if stored is None:
            raise NotFound(_no_such(entity, record_id))
        permissions.require_row(self.apps, user, entity, action, stored.values["created_by"])
        return stored

    # ---- the steps of a write -----------------------------------------------------------

    def _from_refs(
        self, conn: Connection, entity: Entity, draft: Draft, given: Input, stored: Draft | None
    ) -> None:
        """Fields with ``default_from`` (``item.price``) take the referenced record's value
        when their ref is set (a new record or row) or changed, and they were not given:
        the price follows the item picked, unless typed. One query per entity referred
        to, for all its fields wanted (an order's ship-to: eight of its customer's)."""
        tables = [t for t in entity.table_fields() if self._ref_defaults[t.child]]
        if not self._ref_defaults[entity.qualified] and not tables:
            return
        due: builtins.list[tuple[dict, Field, str, str, str]] = []  # values, field, source

        def collect(ent: Entity, values: dict, typed: dict, before: dict | None) -> None:
            for fld in self._ref_defaults[ent.qualified]:
                if typed.get(fld.name) is not None:
                    continue
                head, _, tail = (fld.default_from or "").partition(".")
                if values.get(head) is None:
                    continue
                if before is not None and before.get(head) == values.get(head):
                    continue  # the ref did not change: what is there stays
                due.append((values, fld, ent.fields[head].target, tail, head))

        collect(entity, draft.values, given.values, stored.values if stored else None)
        for table in tables:
            child = self.apps.entity(table.child)
            earlier = {r["id"]: r for r in stored.rows.get(table.name, [])} if stored else {}
            given_rows = given.tables.get(table.name, [])
            # merged in the order given (a row refused for its id is left out, and the
            # whole change refused, so a shorter list fills nothing that is kept)
            for row_input, row in zip(given_rows, draft.rows[table.name], strict=False):
                collect(child, row, row_input.values, earlier.get(row_input.id))
        wanted: dict[str, tuple[set[str], set]] = {}  # target -> (its fields, its ids)
        for values, _, target, tail, head in due:
            fields, ids = wanted.setdefault(target, (set(), set()))
            fields.add(tail)
            ids.add(values[head])
        found: dict[str, dict] = {}  # target -> id -> its row
        for target, (fields, ids) in wanted.items():
            source = self.tables[self.apps.entity(target).table]
            columns = [source.c[name] for name in sorted(fields)]
            rows = conn.execute(select(source.c.id, *columns).where(source.c.id.in_(ids)))
            found[target] = {r.id: r._mapping for r in rows}
        for values, fld, target, tail, head in due:
            referred = found[target].get(values[head])
            if referred is not None and referred[tail] is not None:
                values[fld.name] = self.types[fld.type].coerce(fld, referred[tail])

    def _with_defaults(self, entity: Entity, given: dict, user: User, now: datetime) -> dict:
        values = {}
        for fld in self._columns(entity):
            ftype = self.types[fld.type]
            if fld.name in given or self.types.computed(fld) or fld.default is None:
                continue
            default = ftype.default(fld, user.id, now)
            if default is not None:
                values[fld.name] = ftype.coerce(fld, default)
        values.update(given)
        return values

    def _merge_rows(
        self,
        entity: Entity,
        name: str,
        stored: builtins.list[dict],
        given: builtins.list[RowInput],
        user: User,
        now: datetime,
        errors: dict,
    ) -> builtins.list[dict]:
        child = self.apps.entity(entity.fields[name].child)
        by_id = {row["id"]: row for row in stored}
        merged = []
        seen: set[int] = set()
        for i, row in enumerate(given):
            if row.id is None:
                merged.append(self._with_defaults(child, row.values, user, now))
            elif row.id in seen:
                errors[f"{name}.{i}.id"] = f"row {row.id} is listed twice"
            elif row.id in by_id:
                seen.add(row.id)
                merged.append({**by_id[row.id], **row.values})
            else:
                errors[f"{name}.{i}.id"] = f"{row.id} is not a row of this {entity.label.en}"
        return merged

    def _complete(self, entity: Entity, draft: Draft, errors: dict) -> dict[str, FieldState]:
        """Formulas (rows first, then the record), then the fields' conditions, then the
        required and row-count checks; returns the states of the conditioned fields (see
        field_states)."""
        found: dict[str, dict] = {}  # the errors of each row, by its key's prefix
        for fld in entity.table_fields():
            child = self.apps.entity(fld.child)
            rows = draft.rows.get(fld.name, [])
            for i, row in enumerate(rows):
                for name in child.fields:  # a field no one gave reads as empty in formulas
                    row.setdefault(name, None)
                found[f"{fld.name}.{i}."] = compute_formulas(
                    child, self._formulas[child.qualified], row, self.types
                )
            if len(rows) > fld.row_limit:
                errors.setdefault(fld.name, f"may have at most {fld.row_limit} rows")
        own_errors = compute_formulas(
            entity, self._formulas[entity.qualified], draft.values, self.types, draft.rows
        )
        states = self.field_states(entity, draft)
        for fld in entity.table_fields():
            child = self.apps.entity(fld.child)
            for i, row in enumerate(draft.rows.get(fld.name, [])):
                prefix = f"{fld.name}.{i}."
                row_errors = found[prefix]
                row_errors.update(_missing(child, row, {}, self.types, states, prefix))
                for key, message in row_errors.items():
                    errors.setdefault(prefix + key, message)
        own_errors.update(_missing(entity, draft.values, draft.rows, self.types, states))
        for key, message in own_errors.items():
            errors.setdefault(key, message)
        return states

    def field_states(self, entity: Entity, draft: Draft) -> dict[str, FieldState]:
        """The state of each conditioned field of a record and of its rows, keyed as errors
        are (``lines.0.serial`` for a row's); formulas must be computed already."""
        functions = self.types.functions
        states = field_states(
            entity, self._conditions[entity.qualified], draft.values, draft.rows, functions
        )
        for fld in entity.table_fields():
            child = self.apps.entity(fld.child)
            conditions = self._conditions[child.qualified]
            for i, row in enumerate(draft.rows.get(fld.name, []) if conditions else ()):
                for name, state in field_states(child, conditions, row, {}, functions).items():
                    states[f"{fld.name}.{i}.{name}"] = state
        return states

    def states_of(self, user: User, ref: str, record_id: int) -> dict[str, dict[str, bool]]:
        """The conditioned fields' states of a stored record, for its page and edit form."""
        entity = self.entity(ref)
        held = [entity.qualified, *(f.child for f in entity.table_fields())]
        if not any(self._conditions[name] for name in held):
            return {}
        with self.db.read() as conn:
            stored = self.stored(conn, user, entity, record_id, "read")
        return {key: s.as_dict() for key, s in self.field_states(entity, stored).items()}

    def _refuse_readonly_if(
        self,
        entity: Entity,
        states: dict[str, FieldState],
        stored: Draft | None,
        given: Input,
        draft: Draft,
        user: User,
        now: datetime,
        errors: dict,
    ) -> None:
        """People cannot change a field while its ``readonly_if`` holds on the record as it
        will be: a value sent is refused unless it is what the field holds already (its
        default, for a new record or row). Rules and plugins keep such fields themselves."""
        if given.by_rule or not any(s.readonly for s in states.values()):
            return
        earlier = stored.values if stored else self._with_defaults(entity, {}, user, now)
        _refuse_held(entity, states, "", set(given.values), earlier, draft.values, errors)
        for fld in entity.table_fields():
            child = self.apps.entity(fld.child)
            blank = self._with_defaults(child, {}, user, now)
            by_id = {r["id"]: r for r in stored.rows.get(fld.name, [])} if stored else {}
            for i, (sent, row) in enumerate(
                zip(given.tables.get(fld.name, []), draft.rows[fld.name], strict=False)
            ):
                before = by_id.get(sent.id, blank)
                prefix = f"{fld.name}.{i}."
                _refuse_held(child, states, prefix, set(sent.values), before, row, errors)

    def _each_value(self, entity: Entity, draft: Draft) -> Iterator[tuple[str, Field, Any]]:
        for fld in self._columns(entity):
            yield fld.name, fld, draft.values.get(fld.name)
        for table_field in entity.table_fields():
            child = self.apps.entity(table_field.child)
            for i, row in enumerate(draft.rows.get(table_field.name, [])):
                for fld in self._columns(child):
                    yield f"{table_field.name}.{i}.{fld.name}", fld, row.get(fld.name)

    def _check_stored(
        self,
        conn: Connection,
        user: User,
        entity: Entity,
        draft: Draft,
        errors: dict,
        record_id: int | None = None,
        only: set[str] | None = None,
        refs: bool = True,
    ) -> None:
        """Checks that need the database: refs exist, files exist and ``user`` may attach
        them, unique values are free.

        Foreign keys guard refs and users on every write, so a save that is otherwise
        valid skips those look-ups (``refs=False``); when a constraint fails, or other
        errors are being reported anyway, the look-ups run to name each bad value.
        """
        wanted: dict[Table, list[tuple[str, Field, Any]]] = {}
        for key, fld, value in self._each_value(entity, draft):
            if (
                value is None
                or key in errors
                or (only is not None and key.split(".")[0] not in only)
            ):
                continue
            target = self._id_table(fld) if refs or self.types[fld.type].holds_file else None
            if target is not None:
                wanted.setdefault(target, []).append((key, fld, value))
            if fld.unique and "." not in key:
                table = self.tables[entity.table]
                clash = select(table.c.id).where(table.c[fld.name] == value)
                if record_id is not None:
                    clash = clash.where(table.c.id != record_id)
                if conn.execute(clash.limit(1)).first():
                    errors[key] = _taken(entity)
        for combination in entity.unique:
            self._check_unique_together(conn, entity, draft, combination, errors, record_id, only)
        for table, items in wanted.items():
            found = {
                row[0]: row
                for row in conn.execute(
                    _existing_ids(table), {"ids": list({value for _, _, value in items})}
                )
            }
            attachable: dict[str, bool] = {}
            for key, fld, value in items:
                ftype = self.types[fld.type]
                if value not in found:
                    what = self.apps.entity(fld.target).label if ftype.is_reference else fld.type
                    errors[key] = msg("there is no {what} with id {id}", what=what, id=value)
                elif ftype.holds_file:
                    if value not in attachable:
                        attachable[value] = self._may_attach(
                            conn, user, value, found[value].created_by
                        )
                    if not attachable[value]:
                        errors[key] = msg(
                            "you may attach only files you uploaded and have not attached "
                            "yet, or can see"
                        )
                    elif fld.max_size and found[value].size > fld.max_size:
                        errors[key] = msg("the file is larger than {size} bytes", size=fld.max_size)

    def _may_attach(
        self, conn: Connection, user: User, attachment_id: str, uploader: int | None
    ) -> bool:
        """Whether ``user`` may put a file into a record: an id alone must not let anyone
        attach (and then read) a file they cannot see. Their own upload not yet attached,
        or a file on a record they may read."""
        if user.is_admin:
            return True
        attached, readable = self.file_places(conn, user, attachment_id)
        return readable or (not attached and uploader == user.id)

    def file_places(self, conn: Connection, user: User, attachment_id: str) -> tuple[bool, bool]:
        """Whether a file is attached to any record (in a field of its own or of one of its
        rows), and whether to one ``user`` may read."""
        attached = False
        for holder, entity, fld in self._file_fields:
            table = self.tables[entity.table]
            records = self.tables[holder.table]
            ids = select(table.c.parent_id if entity.is_child else table.c.id).where(
                table.c[fld.name] == attachment_id
            )
            scope = permissions.scope(self.apps, user, holder, "read")
            for created_by in conn.execute(
                select(records.c.created_by).where(records.c.id.in_(ids))
            ).scalars():
                attached = True
                if scope == "all" or (scope == "own" and created_by == user.id):
                    return True, True
        return attached, False

    def _check_unique_together(
        self,
        conn: Connection,
        entity: Entity,
        draft: Draft,
        names: tuple[str, ...],
        errors: dict,
        record_id: int | None,
        only: set[str] | None,
    ) -> None:
        """A combination no two records may share (an empty value never clashes, as in SQL);
        the error goes on the combination's last field, naming the others."""
        values = [draft.values.get(n) for n in names]
        if (
            None in values
            or (only is not None and not only & set(names))
            or any(n in errors for n in names)
        ):
            return
        table = self.tables[entity.table]
        clash = select(table.c.id).where(
            *(table.c[n] == v for n, v in zip(names, values, strict=True))
        )
        if record_id is not None:
            clash = clash.where(table.c.id != record_id)
        if conn.execute(clash.limit(1)).first():
            errors[names[-1]] = _taken(entity, names[:-1])

    def _id_table(self, fld: Field) -> Table | None:
        """The table whose ids a field's values are, if any."""
        ftype = self.types[fld.type]
        if ftype.is_reference:
            return self.tables[self.apps.entity(fld.target).table]
        if ftype.is_user:
            return sys_user
        return sys_attachment if ftype.holds_file else None

    def _insert(
        self, conn: Connection, entity: Entity, draft: Draft, user: User, now: datetime
    ) -> dict:
        for fld in entity.fields.values():
            if self.types[fld.type].numbered:
                assert fld.format is not None  # loading ensures a numbered field has one
                draft.values[fld.name] = next_number(
                    conn, f"{entity.qualified}.{fld.name}", fld.format, now
                )
        draft.values.update(
            version=1, created_at=now, updated_at=now, created_by=user.id, updated_by=user.id
        )
        table = self.tables[entity.table]
        row = {f.name: draft.values.get(f.name) for f in self._columns(entity)}
        row.update(
            {
                k: draft.values[k]
                for k in ("version", "created_at", "updated_at", "created_by", "updated_by")
            }
        )
        draft.values["id"] = inserted_id(conn, table.insert(), row)
        for fld in entity.table_fields():
            self._insert_rows(conn, fld, draft.values["id"], list(enumerate(draft.rows[fld.name])))
        return self.dump(entity, draft)

    def _insert_rows(
        self, conn: Connection, fld: Field, parent_id: int, rows: builtins.list[tuple[int, dict]]
    ) -> None:
        if not rows:
            return
        child = self.apps.entity(fld.child)
        table = self.tables[child.table]
        params = [
            {
                **{f.name: row.get(f.name) for f in self._columns(child)},
                "parent_id": parent_id,
                "position": position,
            }
            for position, row in rows
        ]
        ids = conn.execute(_insert_rows(table), params).scalars().all()
        for (_, row), new_id in zip(rows, ids, strict=True):
            row.update(id=new_id, parent_id=parent_id)

    def _write_update(
        self,
        conn: Connection,
        entity: Entity,
        record_id: int,
        version: int,
        draft: Draft,
        stored: Draft,
        user: User,
        now: datetime,
    ) -> dict:
        table = self.tables[entity.table]
        draft.values.update(version=version + 1, updated_at=now, updated_by=user.id)
        row = {f.name: draft.values.get(f.name) for f in self._columns(entity)}
        done = conn.execute(
            update(table)
            .where(table.c.id == record_id, table.c.version == version)
            .values(**row, version=version + 1, updated_at=now, updated_by=user.id)
        )
        if done.rowcount != 1:  # changed (or deleted) by a commit since this one read it
            raise ConcurrentUpdate(f"{entity.qualified} {record_id} is no longer version {version}")
        for fld in entity.table_fields():
            self._sync_rows(conn, fld, record_id, stored.rows[fld.name], draft.rows[fld.name])
        return self.dump(entity, draft)

    def _sync_rows(
        self,
        conn: Connection,
        fld: Field,
        parent_id: int,
        old: builtins.list[dict],
        new: builtins.list[dict],
    ) -> None:
        child = self.apps.entity(fld.child)
        table = self.tables[child.table]
        kept = {row["id"] for row in new if row.get("id") is not None}
        gone = [row["id"] for row in old if row["id"] not in kept]
        if gone:
            conn.execute(delete(table).where(table.c.id.in_(gone)))
        before = {row["id"]: row for row in old}
        fresh = []
        for position, row in enumerate(new):
            if row.get("id") is None:
                fresh.append((position, row))
                continue
            values = {f.name: row.get(f.name) for f in self._columns(child)}
            previous = before[row["id"]]
            if position != previous["position"] or any(
                previous.get(k) != v for k, v in values.items()
            ):
                conn.execute(
                    update(table).where(table.c.id == row["id"]).values(**values, position=position)
                )
            row["position"] = position
        self._insert_rows(conn, fld, parent_id, fresh)

    def _refuse_if_referenced(self, conn: Connection, entity: Entity, record_id: int) -> None:
        for referrer, fld in self._referrers.get(entity.qualified, []):
            table = self.tables[referrer.table]
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c[fld.name] == record_id)
            ).scalar()
            if count:
                holder = self.apps.entity(referrer.parent) if referrer.parent else referrer
                raise Conflict(
                    msg(
                        "This {entity} cannot be deleted: {count} {holder} record(s) refer "
                        "to it ({field})",
                        entity=entity.label,
                        count=count,
                        holder=holder.label,
                        field=fld.name,
                    )
                )

    def _integrity_error(
        self, user: User, entity: Entity, draft: Draft, record_id: int | None
    ) -> Exception:
        """A constraint caught what our checks missed (a concurrent write): say which."""
        errors: dict[str, str] = {}
        with self.db.read() as conn:
            self._check_stored(conn, user, entity, draft, errors, record_id)
        if errors:
            return ValidationFailed(errors)
        return Conflict(
            msg(
                "This {entity} could not be saved because of a change made at the same time; "
                "please try again",
                entity=entity.label,
            )
        )


@lru_cache(maxsize=None)
def _dicts(result: Result) -> builtins.list[dict]:
    """The rows as plain dicts, without a mapping view of each on the way (lists read
    thousands)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _existing_ids(table: Table) -> Select:
    """Which of :ids exist in ``table`` (with each file's size and uploader, for
    attachments)."""
    columns = [table.c.id]
    if table is sys_attachment:
        columns += [table.c.size, table.c.created_by]
    return select(*columns).where(table.c.id.in_(bindparam("ids", expanding=True)))


@lru_cache(maxsize=None)
def _insert_rows(table: Table) -> Insert:
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


def _no_such(entity: Entity, record_id: int) -> str:
    return msg("There is no {entity} with id {id}", entity=entity.label, id=record_id)


def _taken(entity: Entity, others: tuple[str, ...] = ()) -> str:
    """The error of a unique value already used. It names neither the other record nor any
    value: the user may not be allowed to read that record, and the clash alone is all
    they need to hear."""
    if others:
        return msg(
            "is already used by another {entity} with the same {fields}",
            entity=entity.label,
            fields=", ".join(others),
        )
    return msg("is already used by another {entity}", entity=entity.label)


def _missing(
    entity: Entity,
    values: dict,
    rows: dict,
    types: FieldTypes,
    states: dict[str, FieldState],
    prefix: str = "",
) -> dict[str, str]:
    """The required fields left empty: ``required``, or under a ``required_if`` that holds;
    a field hidden by its ``visible_if`` never is (``states`` keyed by ``prefix`` + name)."""
    missing: dict[str, str] = {}
    for f in entity.fields.values():
        state = states.get(prefix + f.name)
        required = f.required if state is None else state.required
        if f.holds_rows:
            count = len(rows.get(f.name, []))
            if required and not count or count < f.min_rows:
                missing[f.name] = msg("needs at least {count} row(s)", count=max(f.min_rows, 1))
        elif required and not types[f.type].numbered and values.get(f.name) is None:
            missing[f.name] = msg("is required")
    return missing


def _refuse_held(
    entity: Entity,
    states: dict[str, FieldState],
    prefix: str,
    sent: set[str],
    before: dict,
    after: dict,
    errors: dict,
) -> None:
    for name in sorted(sent & set(entity.fields)):
        state = states.get(prefix + name)
        if state is not None and state.readonly and after.get(name) != before.get(name):
            errors.setdefault(prefix + name, msg("cannot be changed now"))


def _refuse_kept(entity: Entity, stored: Draft) -> None:
    """A document past the states it may be deleted in has touched stock or money: it is
    kept (and cancelled instead), so the ledger and the books still add up."""
    if not entity.kept(stored.values):
        return
    label, workflow = entity.label, entity.workflow
    if isinstance(entity.deletable, bool) or workflow is None:
        raise Conflict(msg("{entity} records are kept: they cannot be deleted", entity=label))
    state = stored.values[workflow.field]
    said = {
        "entity": label,
        "state": workflow.states[state].label,
        "kept": Label.listed([workflow.states[s].label for s in entity.deletable]),
    }
    endings = [t.label for t in workflow.endings(state)]
    if not endings:
        raise Conflict(msg("This {entity} is {state}: only {kept} ones can be deleted", **said))
    raise Conflict(
        msg(
            "This {entity} is {state}: only {kept} ones can be deleted; to end it, take {endings}",
            **said,
            endings=Label.listed(endings),
        )
    )


def _refuse_unlocked(
    entity: Entity, apps: AppSet, stored: Draft, given: Input, draft: Draft, errors: dict
) -> None:
    """A field with ``locks`` holds the fields it names while it has a value, against
    what people send (rules and plugins keep it in step themselves): a line's reserved
    quantity keeps its item and quantity, and the line itself."""
    _refuse_changed(entity, stored.values, draft.values, set(given.values), "", errors)
    for fld in entity.table_fields():
        if fld.name not in given.tables:
            continue
        child = apps.entity(fld.child)
        kept = {row.get("id"): (i, row) for i, row in enumerate(draft.rows[fld.name])}
        for i, row in enumerate(stored.rows[fld.name]):
            if row["id"] not in kept:
                held = [f for f in child.fields.values() if f.locks and row.get(f.name)]
                if held:
                    errors[f"{fld.name}.{i}"] = (
                        f"cannot be removed while its {held[0].label.en.lower()} is "
                        f"{row[held[0].name]}"
                    )
                continue
            position, new = kept[row["id"]]
            _refuse_changed(child, row, new, set(new), f"{fld.name}.{position}.", errors)


def _refuse_changed(
    entity: Entity, before: dict, after: dict, sent: set[str], prefix: str, errors: dict
) -> None:
    for locker in entity.fields.values():
        if not locker.locks or not before.get(locker.name):
            continue
        for name in locker.locks:
            if name in sent and after.get(name) != before.get(name):
                errors[prefix + name] = (
                    f"cannot change while {locker.label.en.lower()} is {before[locker.name]}"
                )
