"""Running automation rules: after each change a record takes, inside its transaction.

A rule whose trigger matches evaluates its condition in the sandbox, then runs its
actions in order. Changes an action makes (set, create, update, transition) go
through the record service like any other, so they trigger rules in turn; the
chain is bounded and a loop is stopped with the rules in it named. Slow or
external actions (email, webhooks) only write to the outbox. Any failure rolls
back the whole user action, with an error naming the rule and the action. Every
run is logged for the record's timeline.
"""

from __future__ import annotations

import re
import time
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from croniter import croniter
from sqlalchemy import Connection, Table, select, update

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.automation import outbox
from apploom.engine.automation.actions import (
    BUILTIN_ACTIONS,
    MAX_UPDATE,
    ActionFunction,
    RuleAction,
    rule_action,
)
from apploom.engine.automation.definition import TEMPLATE, Action, Rule, Template
from apploom.engine.automation.follow import followed
from apploom.engine.automation.handover import tell_new_holders
from apploom.engine.definitions.model import ADMIN_ROLE, Entity, Field, Label
from apploom.engine.errors import (
    AppLoomError,
    Forbidden,
    NotFound,
    RecordRefused,
    RuleError,
    ValidationFailed,
)
from apploom.engine.expressions import sandbox
from apploom.engine.expressions.sandbox import Row
from apploom.engine.kept_messages import kept_text
from apploom.engine.messages import joined, message_of, msg
from apploom.engine.query.filters import Query, parse_where
from apploom.engine.records.inputs import Input, read_input
from apploom.engine.records.service import Change, Draft, RecordService
from apploom.engine.storage.database import insert_ignore
from apploom.engine.storage.retries import lock_conflict
from apploom.engine.storage.system_tables import sys_rule_run, sys_schedule
from apploom.engine.workflow.service import Transitions

MAX_CHAIN = 8
_chain: ContextVar[tuple[tuple[str, int], ...]] = ContextVar("apploom_rule_chain", default=())


@dataclass
class ActionContext:
    """What an action (built in or from a plugin) works with."""

    conn: Connection
    automation: Automation
    rule: Rule
    change: Change
    actor: User  # the triggering user, acting with the rule's rights
    names: dict[str, Any]  # what expressions may read

    @property
    def entity(self) -> Entity:
        return self.change.entity

    @property
    def record_id(self) -> int:
        return self.change.record_id

    def evaluate(self, expression: Any) -> Any:
        return (
            sandbox.evaluate(expression, self.scope(expression))
            if isinstance(expression, str)
            else expression
        )

    def holds(self, condition: str) -> bool:
        """A condition's truth; one that fails on an empty field is false, as a guard is."""
        try:
            return bool(self.evaluate(condition))
        except sandbox.SandboxError as exc:
            if "NoneType" in str(exc):
                return False
            raise

    def scope(self, expression: str) -> dict[str, Any]:
        """The names ``expression`` reads: each ref it reads fields of (``customer.city``)
        is the record it points at, as stored now (see automation.follow)."""
        records = self.automation.records
        refs = followed(self.entity, records.types, expression)
        if not refs:
            return self.names
        scope = dict(self.names)
        for name in refs:
            record_id = self.names["record"].get(name)
            table = self.table(self.entity.fields[name].target)
            found = (
                None
                if record_id is None
                else self.conn.execute(select(table).where(table.c.id == record_id)).first()
            )
            scope[name] = None if found is None else Row(found._asdict())
        return scope

    def render(self, template: Template, lang: str | None = None) -> str:
        return self.automation.render(
            self.conn, self.entity, self.names["record"], template, self.names, lang
        )

    def written(self, template: Template) -> Label:
        return self.automation.written(
            self.conn, self.entity, self.names["record"], template, self.names
        )

    def publish(self, name: str, value: Any) -> None:
        """Offer ``{name}`` to the templates of the rule's later actions."""
        self.names[name] = value

    def enqueue(self, kind: str, payload: dict) -> int:
        """Queue a message for the outbox worker (written in this transaction)."""
        return outbox.enqueue(self.conn, kind, payload)

    def set(self, values: dict) -> None:
        """Change fields of the triggering record (through the record service)."""
        self.update(self.entity, self.record_id, values)

    def update(self, entity: Entity | str, record_id: int, values: dict) -> None:
        """Change fields of a record (of an entity, or its ``app.name``) through the record
        service, read-only ones too (they are the rules' to keep)."""
        records = self.automation.records
        if isinstance(entity, str):
            entity = records.entity(entity)
        given = read_input(entity, values, records.apps, records.types, by_rule=True)
        stored = records.stored(self.conn, self.actor, entity, record_id, "update")
        records.change(self.conn, self.actor, entity, stored, given)

    def create(self, ref: str, data: dict) -> dict:
        """Create a record in this transaction, as the triggering user with the rule's rights."""
        records = self.automation.records
        return records.create_in(self.conn, self.actor, records.entity(ref), data, by_rule=True)

    def force(
        self, ref: str, record_id: int, values: dict | None = None, rows: dict | None = None
    ) -> dict:
        """Set fields as the engine does, read-only ones and child rows' included (``rows``
        is table -> row id -> values): for state a plugin keeps, like a line's reserved
        quantity. Values are already typed; history records the change as usual."""
        records = self.automation.records
        entity = records.entity(ref)
        stored = records.stored(self.conn, self.actor, entity, record_id, "update")
        return records.change(
            self.conn, self.actor, entity, stored, Input(), forced=values, forced_rows=rows
        )

    def take(self, transition: str, ref: str | None = None, record_id: int | None = None) -> dict:
        """Take a workflow transition on this record, or on another one."""
        entity = self.automation.records.entity(ref) if ref else self.entity
        return self.automation.transitions.take_in(
            self.conn,
            self.actor,
            entity,
            transition,
            self.record_id if record_id is None else record_id,
        )

    def attempt(self):
        """A savepoint: a write inside it that fails (a balance check, say) is undone
        alone, and the rest of the transaction goes on (``with context.attempt(): ...``)."""
        return self.conn.begin_nested()

    def lock(self, ref: str, ids: Iterable[int]) -> None:
        """Lock records of ``ref`` until the transaction ends, in id order (FOR NO KEY
        UPDATE on PostgreSQL, so rows referring to them may still be written).
        Transactions that lock what they will change up front, in one order, never wait
        for each other in a circle."""
        table = self.table(ref)
        self.conn.execute(
            select(table.c.id)
            .where(table.c.id.in_(sorted(set(ids))))
            .order_by(table.c.id)
            .with_for_update(key_share=True)
        )

    def require(self, ref: str, action: str) -> None:
        """Refuse (Forbidden) unless the user whose change triggered the rule may ``action``
        records of ``ref``: rules act with full rights, so a plugin writing another record
        on that user's behalf (a scan adding to a goods receipt) asks first."""
        if self.change.user is not None:
            records = self.automation.records
            permissions.require(records.apps, self.change.user, records.entity(ref), action)

    def defines(self, ref: str) -> bool:
        """Whether the loaded apps have the entity ``ref`` (an app may be left out)."""
        return self.automation.records.apps.find(ref) is not None

    def table(self, ref: str) -> Table:
        """The entity's table (child tables too), to query with ``context.conn``."""
        return self.automation.records.table(ref)

    def balance(self, ref: str) -> Table:
        """The table of the balance ``app.name`` (say ``wms.stock``), one row per key."""
        app, _, name = ref.partition(".")
        return self.automation.records.tables[f"{app}_{name}"]

    def load(self, ref: str, record_id: int | None = None) -> Draft:
        """A record as stored now, values and child rows, in this transaction (this
        record when no id is given); no permission check."""
        records = self.automation.records
        record_id = self.record_id if record_id is None else record_id
        return records.load(self.conn, records.entity(ref), [record_id])[record_id]

    def titles(self, ref: str, ids: Iterable[int]) -> dict[int, str]:
        """{id: title} of records of ``ref``, as the triggering user may see them."""
        records = self.automation.records
        return records.title_lookup.of(self.conn, self.actor, records.entity(ref), {*ids})


class Automation:
    def __init__(
        self,
        records: RecordService,
        transitions: Transitions,
        actions: Mapping[str, RuleAction | ActionFunction] | None = None,
    ):
        self.records = records
        self.transitions = transitions
        self.actions: dict[str, RuleAction] = {
            **BUILTIN_ACTIONS,
            **{name: rule_action(a) for name, a in (actions or {}).items()},
        }

    def on_change(self, conn: Connection, change: Change) -> bool:
        """Tell users the records handed to them, then run the rules the change
        triggers; True if any of them took actions."""
        tell_new_holders(self, conn, change)
        acted = False
        for rule in change.entity.rules:
            if _matches(rule, change):
                if acted and change.after is not None:  # each rule sees what earlier ones did
                    change = replace(
                        change,
                        after=self.records.load(conn, change.entity, [change.record_id])[
                            change.record_id
                        ],
                    )
                acted = self._run(conn, rule, change) or acted
        return acted

    def run_schedules(self, now: datetime | None = None) -> int:
        """Run the scheduled rules that are due, each on the records its filter finds, one
        transaction per record; returns how many runs were made."""
        now = now or datetime.now(timezone.utc)
        records, runs = self.records, 0
        scheduled = [
            (e, r, r.cron)
            for e in records.apps.entities()
            for r in e.rules
            if r.trigger == "schedule" and r.enabled and r.cron is not None
        ]
        if not scheduled:
            return 0
        with records.db.read() as conn:
            last_runs = dict(
                conn.execute(select(sys_schedule.c.key, sys_schedule.c.last_run_at)).all()
            )
        for entity, rule, cron in scheduled:
            key = f"{entity.qualified}.{rule.name}"
            last = last_runs.get(key)
            if last is not None and next_run(cron, last) > now:
                continue  # not due: no write transaction, which would take SQLite's lock
            with records.db.write() as conn:
                if not _schedule_due(conn, key, cron, now):
                    continue
                query = Query(conditions=parse_where(rule.where or {}), limit=MAX_UPDATE)
                page, _ = records.compiler.apply(
                    _acting(None), entity, query, select(records.tables[entity.table].c.id)
                )
                ids = list(conn.execute(page).scalars())
            for record_id in ids:
                runs += self._run_scheduled(entity, rule, record_id)
        return runs

    def call_webhook(self, user: User, ref: str, record_id: int, name: str, payload: Any) -> dict:
        """An inbound webhook: run the record's rules on ``{webhook: name}`` with ``payload``
        (the request's JSON body), in one transaction; returns the record afterwards."""
        records = self.records
        entity = records.entity(ref)
        rules = [r for r in entity.rules if r.trigger == "webhook" and r.hook == name and r.enabled]
        if not rules:
            raise NotFound(msg("{entity} has no webhook '{name}'", entity=entity.label, name=name))

        def work(conn: Connection) -> dict:
            stored = records.stored(conn, user, entity, record_id, "update")
            change = Change(
                "webhook", entity, record_id, stored, stored, user, payload=sandbox.plain(payload)
            )
            for rule in rules:
                self._run(conn, rule, change)
            return records.dump(entity, records.load(conn, entity, [record_id])[record_id])

        return records.transaction(work)

    def _run_scheduled(self, entity: Entity, rule: Rule, record_id: int) -> int:
        def work(conn: Connection) -> None:
            stored = self.records.load(conn, entity, [record_id]).get(record_id)
            if stored is not None:
                self._run(
                    conn, rule, Change("schedule", entity, record_id, stored, stored, _acting(None))
                )

        with suppress(RuleError):  # logged and recorded; the other records still get theirs
            self.records.transaction(work)
        return 1

    def _run(self, conn: Connection, rule: Rule, change: Change) -> bool:
        started = time.perf_counter()
        context = ActionContext(
            conn, self, rule, change, _acting(change.user), self._names(conn, change)
        )
        condition, done, stage, token = None, [], msg("its condition"), None
        try:
            if rule.condition:
                condition = context.holds(rule.condition)
            if condition is not False:
                token = self._enter_chain(rule, change)
                for number, action in enumerate(rule.actions, 1):
                    stage = msg("action {number} ({kind})", number=number, kind=action.kind)
                    done.append(self._act(context, action))
        except (RuleError, RecordRefused, Forbidden):  # Forbidden: see ActionContext.require
            raise
        except (AppLoomError, LookupError, TypeError, ValueError) as exc:
            conflict = lock_conflict(exc)
            if conflict is not None:  # not the rule's failure: the user's action runs again
                raise conflict from None
            reason = (
                joined(
                    [msg("{field} {problem}", field=k, problem=v) for k, v in exc.fields.items()]
                )
                if isinstance(exc, ValidationFailed)
                else message_of(exc)
            )
            message = msg(
                "Rule '{rule}' failed at {stage}: {reason}",
                rule=rule.label,
                stage=stage,
                reason=reason,
            )
            raise RuleError(
                message,
                run=self._run_row(rule, change, condition, done, "failed", message, started),
            ) from None
        finally:
            if token is not None:
                _chain.reset(token)
        conn.execute(
            sys_rule_run.insert().values(
                **self._run_row(
                    rule,
                    change,
                    condition,
                    done,
                    "skipped" if condition is False else "done",
                    None,
                    started,
                )
            )
        )
        return condition is not False

    @staticmethod
    def _enter_chain(rule: Rule, change: Change):
        """Mark this rule as running on this record; a rule coming round again is a loop."""
        chain = _chain.get()
        key = (f"{change.entity.qualified}.{rule.name}", change.record_id)
        if key in chain or len(chain) >= MAX_CHAIN:
            names = " -> ".join(name for name, _ in chain + (key,))
            raise RuleError(
                (
                    "Rules trigger each other in a loop: "
                    if key in chain
                    else f"Rules trigger each other more than {MAX_CHAIN} deep: "
                )
                + names
            )
        return _chain.set(chain + (key,))

    def _act(self, context: ActionContext, action: Action) -> str:
        found = self.actions.get(action.kind)
        if found is None:
            raise RuleError(
                f"Rule '{context.rule.name}' uses the action '{action.kind}', "
                "which no plugin provides"
            )
        return found.run(context, action.params)

    def _run_row(
        self,
        rule: Rule,
        change: Change,
        condition: bool | None,
        done: list[str],
        outcome: str,
        error: str | None,
        started: float,
    ) -> dict:
        return {
            "entity": change.entity.qualified,
            "record_id": change.record_id,
            "rule": rule.name,
            "trigger": change.trigger + (f":{change.transition}" if change.transition else ""),
            "condition": condition,
            "actions": [str(note) for note in done],
            "outcome": outcome,
            "error": error,
            "said": {
                "actions": [kept_text(note) for note in done],
                "error": kept_text(error or ""),
            },
            "duration_ms": round((time.perf_counter() - started) * 1000),
            "user_id": change.user.id,
            "at": clock.now(),
        }

    def _names(self, conn: Connection, change: Change) -> dict[str, Any]:
        """What a rule's expressions read: the record's fields, ``record``, ``old``, ``user``."""
        current = change.after or change.before
        assert current is not None  # a change has the record after it, or before a delete
        values = {name: current.values.get(name) for name in change.entity.fields}
        values.update({name: [Row(r) for r in rows] for name, rows in current.rows.items()})
        values["id"] = change.record_id
        old = Row(dict(change.before.values)) if change.before and change.after else None
        return {
            **self.records.types.functions,
            **values,
            "record": Row(values),
            "old": old,
            "payload": change.payload,
            "user": Row(
                {
                    "id": change.user.id,
                    "username": change.user.username,
                    "roles": sorted(change.user.roles),
                }
            ),
        }

    def render(
        self,
        conn: Connection,
        entity: Entity,
        record: Row,
        template: Template,
        names: Mapping[str, Any] | None = None,
        lang: str | None = None,
    ) -> str:
        """``{field}`` and ``{ref.field}`` filled from the record; refs show their title.
        Other ``{name}``s come from ``names``: what earlier actions of the rule published
        (a plugin's tracking link, say). With ``lang``, values read as a screen in that
        language shows them (¥1,234.00, 2026年12月2日, an option's label), and a template
        given in both languages (``{en: ..., zh: ...}``) is worded in it; without, values
        are as the API writes them (for an address, a URL, a language's code) and the
        English wording is used."""

        def fill(match: re.Match) -> str:
            name, sub = match.groups()
            fld = entity.fields.get(name)
            value = record.get(name)
            if fld is None:
                if name == "id":
                    return str(value)
                published = (names or {}).get(name)
                return (
                    match[0] if published is None or callable(published) or sub else str(published)
                )
            if value is None or fld.holds_rows:
                return ""
            if not self.records.types[fld.type].is_reference:
                return self._shown(fld, value, lang)
            target = self.records.apps.entity(fld.target)
            if not sub:
                titles = self.records.title_lookup.of(
                    conn, _acting(None), target, {value}, lang or "en"
                )
                return titles[value]
            if sub not in target.fields or target.fields[sub].holds_rows:
                return match[0]
            table = self.records.tables[target.table]
            found = conn.execute(select(table.c[sub]).where(table.c.id == value)).scalar()
            return "" if found is None else self._shown(target.fields[sub], found, lang)

        return TEMPLATE.sub(fill, _worded(template, lang))

    def written(
        self,
        conn: Connection,
        entity: Entity,
        record: Row,
        template: Template,
        names: Mapping[str, Any] | None = None,
    ) -> Label:
        """A template filled in for each language, for readers each reading their own."""
        en, zh = (self.render(conn, entity, record, template, names, lang) for lang in ("en", "zh"))
        return Label(en=en, zh=zh)

    def _shown(self, fld: Field, stored: Any, lang: str | None) -> str:
        """One stored value in a template: as ``lang`` reads it, or as the API writes it
        (an option's value, an ISO date) without one."""
        ftype = self.records.types[fld.type]
        dumped = ftype.dump(fld, stored)
        if dumped is None or dumped == []:
            return ""
        if lang is not None:
            return ftype.display(fld, dumped, lang, {})
        return ", ".join(map(str, dumped)) if isinstance(dumped, list) else str(dumped)


def next_run(cron: str, last: datetime) -> datetime:
    """The first moment after ``last`` that ``cron`` names, read on the business's clock:
    ``0 9 * * *`` is nine in the morning where the shop is, daylight saving included."""
    return croniter(cron, clock.local(last)).get_next(datetime)


def _schedule_due(conn: Connection, key: str, cron: str, now: datetime) -> bool:
    """Claim this round of a scheduled rule; only one worker wins it. The first time a
    rule is seen its clock starts, so a new rule does not fire for the past."""
    last = conn.execute(
        select(sys_schedule.c.last_run_at).where(sys_schedule.c.key == key)
    ).scalar()
    if last is None:
        insert_ignore(conn, sys_schedule, {"key": key, "last_run_at": now})
        return False
    if next_run(cron, last) > now:
        return False
    claimed = conn.execute(
        update(sys_schedule)
        .where(sys_schedule.c.key == key, sys_schedule.c.last_run_at == last)
        .values(last_run_at=now)
    )
    return claimed.rowcount == 1


def _matches(rule: Rule, change: Change) -> bool:
    if not rule.enabled:
        return False
    if rule.trigger == "transition":
        return change.trigger == "transition" and rule.transition in (None, change.transition)
    if rule.trigger in ("schedule", "webhook"):
        return False  # run on purpose (run_schedules, call_webhook), never by a change
    if rule.trigger == "updated":
        return change.trigger in ("updated", "transition") and (
            not rule.fields or bool(set(rule.fields) & change.changed)
        )
    return rule.trigger == change.trigger


def _worded(template: Template, lang: str | None) -> str:
    if isinstance(template, str):
        return template
    return template.get(lang or "en") or template.get("en") or template.get("zh") or ""


def _acting(user: User | None) -> User:
    """Rules act with full rights, in the name of the user whose change triggered them."""
    if user is None:
        return User(id=None, username="system", roles=frozenset({ADMIN_ROLE}))
    return User(
        id=user.id,
        username=user.username,
        roles=frozenset({ADMIN_ROLE}),
        display_name=user.display_name,
    )
