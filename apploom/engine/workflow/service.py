"""Taking workflow transitions, and what the transition log tells about time in each state.

A transition is the only way a status field moves. It runs in one transaction:
visibility and role checks, the state it may leave from, the fields it asks for,
its condition, then the change itself (with the record's version check, so two
people taking transitions at once cannot both win) and a row in the log.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from sqlalchemy import Connection, engine, func, select

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Label
from apploom.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from apploom.engine.expressions.compiled import ExpressionError, Row, compile_expression
from apploom.engine.messages import from_label, msg
from apploom.engine.records.history import log_transition
from apploom.engine.records.inputs import Input, read_input
from apploom.engine.records.service import Draft, RecordService
from apploom.engine.storage.system_tables import sys_transition
from apploom.engine.workflow.definition import Transition, Workflow

MAX_COMMENT = 2000


class Transitions:
    def __init__(self, records: RecordService):
        self.records = records

    def _workflow(self, ref: str) -> tuple[Entity, Workflow]:
        entity = self.records.entity(ref)
        if entity.workflow is None:
            raise NotFound(msg("{entity} has no workflow", entity=entity.label))
        return entity, entity.workflow

    def take(
        self,
        user: User,
        ref: str,
        record_id: int,
        name: str,
        data: Any = None,
        *,
        comment: str | None = None,
        version: int | None = None,
    ) -> dict:
        """Take transition ``name``; ``data`` fills in the fields it requires."""
        return self.take_many(user, ref, [record_id], name, data, comment=comment, version=version)[
            0
        ]

    def take_many(
        self,
        user: User,
        ref: str,
        record_ids: list[int],
        name: str,
        data: Any = None,
        *,
        comment: str | None = None,
        version: int | None = None,
    ) -> list[dict]:
        """Take ``name`` on every record of ``record_ids``, or on none if one refuses."""
        take = self.prepare(user, ref, name, data, comment=comment)
        return self.records.transaction(
            lambda conn: [take(conn, record_id, version) for record_id in record_ids]
        )

    def prepare(
        self, user: User, ref: str, name: str, data: Any = None, *, comment: str | None = None
    ) -> Callable[[Connection, int, int | None], dict]:
        """Check what taking ``name`` asks apart from any record (that it exists, the
        fields and comment given, the user's roles), and return what takes it on one
        record, in the caller's transaction: (conn, record_id, version) -> the record."""
        entity, workflow = self._workflow(ref)
        transition = workflow.transitions.get(name)
        if transition is None:
            raise NotFound(
                msg(
                    "{entity} has no transition '{name}'; it has: {names}",
                    entity=entity.label,
                    name=name,
                    names=", ".join(workflow.transitions),
                )
            )
        data = data or {}
        extra = sorted(set(data) - set(transition.require)) if isinstance(data, dict) else []
        if extra:
            raise ValidationFailed(
                {k: msg("is not asked for by '{name}'", name=name) for k in extra}
            )
        if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
            raise ValidationFailed(
                {"comment": msg("must be text of at most {count} characters", count=MAX_COMMENT)}
            )
        scope = self._scope(user, entity, transition)
        if scope is None:
            raise Forbidden(
                msg(
                    "Your roles ({roles}) may not take '{transition}'; it is for: {allowed}",
                    roles=", ".join(sorted(user.roles)) or msg("none"),
                    transition=transition.label,
                    allowed=", ".join(transition.roles or ()) or msg("whoever may update"),
                )
            )
        given = read_input(entity, data, self.records.apps, self.records.types)

        def take(conn: Connection, record_id: int, version: int | None = None) -> dict:
            return self._take(
                conn, user, entity, workflow, transition, record_id, given, comment, version, scope
            )

        return take

    def take_in(
        self, conn: Connection, user: User, entity: Entity, name: str, record_id: int
    ) -> dict:
        """Take a transition inside the caller's transaction (for rules and plugins, which
        act with their own rights: no role or record check)."""
        workflow = entity.workflow
        transition = workflow.transitions.get(name) if workflow is not None else None
        if workflow is None or transition is None:
            raise NotFound(
                msg("{entity} has no transition '{name}'", entity=entity.label, name=name)
            )
        return self._take(
            conn, user, entity, workflow, transition, record_id, Input(), None, None, "all"
        )

    def _take(
        self,
        conn,
        user: User,
        entity: Entity,
        workflow: Workflow,
        transition: Transition,
        record_id: int,
        given,
        comment: str | None,
        version: int | None,
        scope: str,
    ) -> dict:
        """``scope`` is :meth:`_scope`'s answer: with 'own', only a record ``user`` created."""
        stored = self.records.stored(conn, user, entity, record_id, "read")
        if scope == "own" and stored.values["created_by"] != user.id:
            raise Forbidden(
                msg(
                    "You may only take '{transition}' on {entity} records you created",
                    transition=transition.label,
                    entity=entity.label,
                )
            )
        if version is not None and stored.values["version"] != version:
            raise Conflict(
                msg("This {entity} was changed by someone else", entity=entity.label),
                current=self.records.dump(entity, stored),
                yours={"version": version},
                stale=True,
            )
        state = stored.values[workflow.field]
        if transition.target == state:
            raise Conflict(
                msg(
                    "The {entity} is already {state}",
                    entity=entity.label,
                    state=_state_label(workflow, state),
                ),
                current=self.records.dump(entity, stored),
                yours={"transition": transition.name},
            )
        if not transition.leaves(state):
            sources = [_state_label(workflow, s) for s in transition.sources]
            raise Conflict(
                msg(
                    "'{transition}' cannot be taken while the {entity} is {state}; it leaves "
                    "from: {sources}",
                    transition=transition.label,
                    entity=entity.label,
                    state=_state_label(workflow, state),
                    sources=Label.listed(sources),
                ),
                current=self.records.dump(entity, stored),
                yours={"transition": transition.name},
            )

        def check(draft: Draft, errors: dict) -> None:
            for field in transition.require:
                if draft.values.get(field) in (None, "", []):
                    errors.setdefault(
                        field, msg("is needed to take '{transition}'", transition=transition.label)
                    )
            if not errors and not guard_holds(transition, draft, self.records.types.functions):
                errors[workflow.field] = (
                    from_label(transition.refusal)
                    if transition.refusal
                    else msg(
                        "'{transition}' needs {guard}, which does not hold",
                        transition=transition.label,
                        guard=transition.guard,
                    )
                )

        # logged first: transitions the rules take in turn come after it in the log
        log_transition(
            conn,
            entity,
            record_id,
            transition.name,
            state,
            transition.target,
            user,
            clock.now(),
            comment,
        )
        return self.records.change(
            conn,
            user,
            entity,
            stored,
            given,
            forced={workflow.field: transition.target},
            check=check,
            transition=transition.name,
            note=comment,
        )

    def may(self, user: User, ref: str, name: str) -> bool:
        """Whether ``user``'s roles allow taking ``name`` at all (states aside)."""
        entity = self.records.entity(ref)
        transition = entity.workflow.transitions.get(name) if entity.workflow else None
        return transition is not None and self._scope(user, entity, transition) is not None

    def _scope(self, user: User, entity: Entity, transition: Transition) -> str | None:
        """On which records ``user`` may take ``transition``: 'all', 'own' (those they
        created) or None. Left without ``roles`` it is an update, so it follows the user's
        update grant; a role it names may take it on whatever that role sees, unless the
        role may update only its own records (then on those only)."""
        if transition.roles is None:
            return permissions.scope(self.records.apps, user, entity, "update")
        if user.is_admin:
            return "all"
        granted = None
        for role in user.roles & set(transition.roles):
            if permissions.grant(self.records.apps, role, entity, "update") != "own":
                return "all"
            granted = "own"
        return granted

    def allowed(self, user: User, ref: str, record_id: int) -> list[dict]:
        """The transitions ``user`` may take on a record now (state, role, the record's
        creator where the user may update only their own, and condition)."""
        entity = self.records.entity(ref)
        workflow = entity.workflow
        if workflow is None:
            return []
        with self.records.db.read() as conn:
            draft = self.records.stored(conn, user, entity, record_id, "read")
        state = draft.values[workflow.field]
        return [
            {
                "name": t.name,
                "label": {"en": t.label.en, "zh": t.label.zh},
                "to": t.target,
                "require": list(t.require),
                "confirm": {"en": t.confirm.en, "zh": t.confirm.zh} if t.confirm else None,
            }
            for t in workflow.transitions.values()
            if t.leaves(state)
            and (scope := self._scope(user, entity, t)) is not None
            and (scope == "all" or draft.values["created_by"] == user.id)
            and guard_holds(t, draft, self.records.types.functions)
        ]

    def steps(self, conn: Connection, ref: str, record_id: int) -> list[engine.Row]:
        """The states a record entered (``to_state``) and when (``at``), oldest first; no
        permission check."""
        log = sys_transition.c
        return list(
            conn.execute(
                select(log.to_state, log.at)
                .where(log.entity == ref, log.record_id == record_id)
                .order_by(log.at, log.id)
            )
        )

    def stats(self, user: User, ref: str, now: datetime | None = None) -> dict:
        """Per state: how many records are in it now, and the time they spent in it (in
        seconds: total, per record on average, over how many records), from the log."""
        entity, workflow = self._workflow(ref)
        visible = self.records.compiler.visible(user, entity)
        table = self.records.tables[entity.table]
        now = now or datetime.now(timezone.utc)
        query = (
            select(sys_transition.c.record_id, sys_transition.c.to_state, sys_transition.c.at)
            .where(sys_transition.c.entity == entity.qualified)
            .order_by(sys_transition.c.record_id, sys_transition.c.at, sys_transition.c.id)
        )
        if visible is not None:
            query = query.where(sys_transition.c.record_id.in_(select(table.c.id).where(visible)))
        with self.records.db.read() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(table.c[workflow.field], func.count())
                    .where(*(() if visible is None else (visible,)))
                    .group_by(table.c[workflow.field])
                ).all()
            )
            log = conn.execute(query).all()
        per_record = time_in_states(log, now)
        totals: dict[str, float] = defaultdict(float)
        records: dict[str, int] = defaultdict(int)
        for states in per_record.values():
            for state, seconds in states.items():
                totals[state] += seconds
                records[state] += 1
        return {
            "counts": {s: counts.get(s, 0) for s in workflow.states},
            "time_in_state": {
                s: {
                    "total_seconds": round(totals[s], 3),
                    "records": records[s],
                    "average_seconds": round(totals[s] / records[s], 3) if records[s] else None,
                }
                for s in workflow.states
            },
            "per_record": per_record,
        }


def time_in_states(log: Sequence[Sequence[Any]], now: datetime) -> dict[int, dict[str, float]]:
    """{record: {state: seconds}} from log rows (record, to_state, at) in time order; the
    current state counts up to ``now``."""
    result: dict[int, dict[str, float]] = {}
    for i, (record_id, state, at) in enumerate(log):
        ends = log[i + 1][2] if i + 1 < len(log) and log[i + 1][0] == record_id else now
        spent = result.setdefault(record_id, {})
        spent[state] = spent.get(state, 0.0) + (ends - at).total_seconds()
    return result


def guard_holds(transition: Transition, draft: Draft, functions: dict | None = None) -> bool:
    if not transition.guard:
        return True
    names = {
        **(functions or {}),
        **draft.values,
        **{k: [Row(r) for r in rows] for k, rows in draft.rows.items()},
    }
    try:
        return bool(compile_expression(transition.guard).evaluate(names))
    except (ArithmeticError, ExpressionError, LookupError, NameError, TypeError, ValueError):
        return False


def _state_label(workflow: Workflow, state: str) -> Label:
    found = workflow.states.get(state)
    return found.label if found else Label(state, state)
