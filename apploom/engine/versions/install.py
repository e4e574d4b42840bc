"""Applying definitions to a database: validate, plan the schema change, apply it
and record the new versions, all in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping

from sqlalchemy import column, func, inspect, select
from sqlalchemy import table as sql_table

from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.definitions.loading import Source, load_apps, with_companions
from apploom.engine.definitions.model import AppSet
from apploom.engine.errors import DefinitionError
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import Message, msg
from apploom.engine.storage import system_tables
from apploom.engine.storage.database import Database
from apploom.engine.storage.migrations import Plan, apply_plan, plan_migration
from apploom.engine.versions.applied import active_hashes, active_sources, record_version
from apploom.engine.versions.backfill import backfill
from apploom.engine.versions.data_moves import Question, answer, questions


@dataclass
class ApplyResult:
    plan: Plan
    apps: AppSet
    versions: dict[str, int] = field(default_factory=dict)  # app -> new version number
    questions: list[Question] = field(default_factory=list)  # what the data needs answered


class _DryRun(Exception):
    def __init__(self, result: ApplyResult):
        self.result = result


def apply_definitions(
    db: Database,
    sources: list[Source],
    types: FieldTypes,
    *,
    user_id: int | None = None,
    comment: str | None = None,
    dry_run: bool = False,
    actions: Collection[str] = BUILTIN_ACTIONS,
    moves: Mapping[str, str] | None = None,
    fills: Mapping[str, Any] | None = None,
    bases: Mapping[str, str] | None = None,
) -> ApplyResult:
    """Make ``sources`` (replacing the live apps of the same names) the live definitions:
    the schema change, the answers to what the data needs (``moves`` of records out of
    removed states, ``fills`` of newly required fields, keyed 'app.entity:name') and the
    new versions, in one transaction. ``bases`` names the bundled text an app's new
    version builds on (by default, the one its live version builds on)."""
    try:
        with db.write() as conn:
            system_tables.create(conn)
            live = active_sources(conn)
            new = load_apps(with_companions(sources, live), types, actions)
            previous = _previous(live, types, actions)
            plan = plan_migration(conn, new, previous, types)
            asked = questions(conn, new, previous, types)
            result = ApplyResult(plan=plan, apps=new, questions=asked)
            if dry_run:
                raise _DryRun(result)
            apply_plan(conn, plan)
            answer(
                conn,
                result.questions,
                moves or {},
                fills or {},
                new,
                plan.metadata,
                types,
                user_id,
                comment,
            )
            backfill(conn, new, previous, plan, types)
            hashes = active_hashes(conn)
            for app in new.ordered():
                source = Source(Path(app.file).name, app.source)
                if hashes.get(app.name) != source.hash:
                    result.versions[app.name] = record_version(
                        conn, app.name, source, user_id, comment, (bases or {}).get(app.name)
                    )
    except _DryRun as stop:
        return stop.result
    return result


def _previous(live: list[Source], types: FieldTypes, actions: Collection[str]) -> AppSet | None:
    """The live definitions, or None if they no longer load (e.g. a plugin type is gone)."""
    if not live:
        return None
    try:
        return load_apps(live, types, actions)
    except DefinitionError:
        return None


def effects(db: Database, plan: Plan) -> list[Message]:
    """What a plan does to the data already there, in words, with counts."""
    found = []
    with db.read() as conn:
        existing = set(inspect(conn).get_table_names())
        for step in plan.steps:
            if step.kind not in ("archive", "add_column") or step.table not in existing:
                continue
            table = sql_table(step.table, column(step.column))  # no reflection needed
            total = conn.execute(select(func.count()).select_from(table)).scalar()
            if step.kind == "add_column":
                if total:
                    found.append(
                        msg(
                            "{column} is added to {table}: its {total} existing row(s) start empty",
                            column=step.column,
                            table=step.table,
                            total=total,
                        )
                    )
                continue
            filled = conn.execute(
                select(func.count()).select_from(table).where(table.c[step.column].is_not(None))
            ).scalar()
            found.append(
                msg(
                    "{filled} of {total} row(s) of {table} have a value in {column}; the "
                    "column is archived with them, and comes back with them if the field "
                    "is added again",
                    filled=filled,
                    total=total,
                    table=step.table,
                    column=step.column,
                )
            )
    return found
