"""Automation rules as defined: when (a trigger), whether (a condition) and what (actions),
and the checks that find mistakes in them before they load.

    rules:
      - name: big_order
        on: {transition: confirm}          # created | updated | {updated: [f, ...]} | deleted
        if: "total > 1000"
        do:
          - notify: {roles: [manager], message: "Big order {number}: {total}"}
          - set: {note: "'check payment first'"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AbstractSet, Any, Callable, Mapping

from croniter import croniter

from apploom.engine.automation.follow import follow_problems
from apploom.engine.definitions.model import Entity, Label
from apploom.engine.expressions.compiled import FUNCTIONS, ExpressionError, compile_expression
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import Message, message_of, msg

TRIGGERS = ("created", "updated", "deleted", "transition", "schedule", "webhook")
# beyond the fields; ``created`` is the id of the record the rule's last create made
RULE_NAMES = frozenset({"id", "old", "user", "record", "payload", "created"})
# what a message template fills in: {field}, or {ref.field} of the record a ref points at
TEMPLATE = re.compile(r"\{([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?\}")
# a message's template: one text, or one for each language ({en: ..., zh: ...})
Template = str | Mapping[str, str]


@dataclass(frozen=True)
class Action:
    kind: str
    params: Any


@dataclass(frozen=True)
class Rule:
    name: str
    trigger: str
    label: Label  # what people read; the name, spelled out, when none is given
    fields: tuple[str, ...] = ()  # updated: only when one of these changed
    transition: str | None = None  # transition: only this one (None: any)
    cron: str | None = None  # schedule: when, as a cron expression
    hook: str | None = None  # webhook: the name it is called by
    where: Any = None  # schedule: which records (a filter), all if None
    condition: str | None = None
    actions: tuple[Action, ...] = ()
    enabled: bool = True  # false: checked with the others, never run


@dataclass(frozen=True)
class CheckContext:
    """What an action's check works with: the rule's entity, the entities a rule may
    create or update (by qualified name), the names its expressions may read, the
    field types and the roles the apps declare."""

    entity: Entity
    entities: Mapping[str, Entity]
    names: set[str]
    types: FieldTypes
    roles: AbstractSet[str] = frozenset()

    def expression_problems(self, source: Any) -> list[str]:
        problems = _expression_problems(source, self.names)
        if problems:
            return problems
        return follow_problems(self.entity, self.entities, self.types, source)


# An action's check: the mistakes in the settings a rule gives it (context, params).
ActionCheck = Callable[[CheckContext, Any], list[str]]


def parse_rules(raw: list | None) -> tuple[Rule, ...]:
    rules = []
    for i, spec in enumerate(raw or ()):
        on = spec["on"]
        trigger, detail = (on, None) if isinstance(on, str) else next(iter(on.items()))
        fields = tuple(detail or ()) if trigger == "updated" else ()
        name = spec.get("name", f"rule_{i + 1}")
        rules.append(
            Rule(
                name=name,
                label=Label.parse(spec.get("label"), name),
                trigger=trigger,
                fields=fields,
                transition=detail if trigger == "transition" else None,
                cron=detail if trigger == "schedule" else None,
                where=spec.get("where"),
                hook=detail if trigger == "webhook" else None,
                condition=spec.get("if"),
                enabled=spec.get("enabled", True),
                actions=tuple(Action(*next(iter(a.items()))) for a in spec["do"]),
            )
        )
    return tuple(rules)


def lint(
    entity: Entity,
    rules: tuple[Rule, ...],
    entities: Mapping[str, Entity],
    actions: Mapping[str, ActionCheck],
    types: FieldTypes,
    functions: AbstractSet[str] = frozenset(),
    roles: AbstractSet[str] = frozenset(),
) -> list[tuple[tuple, str]]:
    """(path inside the rules list, message) for each mistake; ``actions`` are the
    actions rules may take, each with its check."""
    problems: list[tuple[tuple, str]] = []
    names = set(entity.fields) | RULE_NAMES | set(FUNCTIONS) | functions
    context = CheckContext(entity, entities, names, types, roles)
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            problems.append(
                ((i, "name"), msg("another rule is also called '{rule}'", rule=rule.name))
            )
        seen.add(rule.name)
        for name in rule.fields:
            if name not in entity.fields:
                problems.append(((i, "on"), _not_a_field(name, entity)))
        if rule.transition is not None:
            workflow = entity.workflow
            if workflow is None or rule.transition not in workflow.transitions:
                problems.append(
                    (
                        (i, "on"),
                        msg(
                            "{entity} has no transition '{transition}'",
                            entity=entity.name,
                            transition=rule.transition,
                        ),
                    )
                )
        if rule.trigger == "schedule" and not croniter.is_valid(rule.cron or ""):
            problems.append(
                (
                    (i, "on"),
                    msg(
                        "'{cron}' is not a cron expression such as '0 8 * * *' "
                        "(every day at 08:00)",
                        cron=rule.cron,
                    ),
                )
            )
        for name in rule.where or {}:
            if name.split(".")[0] not in entity.fields:
                problems.append(((i, "where"), _not_a_field(name, entity)))
        if rule.condition:
            problems += [
                ((i, "if"), message) for message in context.expression_problems(rule.condition)
            ]
        for j, action in enumerate(rule.actions):
            path = (i, "do", j)
            if action.kind not in actions:
                problems.append(
                    (
                        path,
                        msg(
                            "'{action}' is not an action; known actions: {actions}",
                            action=action.kind,
                            actions=", ".join(sorted(actions)),
                        ),
                    )
                )
                continue
            problems += [(path, m) for m in actions[action.kind](context, action.params)]
    return problems


def _not_a_field(name: str, entity: Entity) -> Message:
    return msg("'{field}' is not a field of {entity}", field=name, entity=entity.name)


def _expression_problems(source: Any, names: set[str]) -> list[str]:
    if not isinstance(source, str):
        return [msg("'{source}' must be an expression in quotes", source=source)]
    try:
        used = compile_expression(source).names
    except ExpressionError as exc:
        return [msg("the expression {problem}", problem=message_of(exc))]
    return [
        msg("the expression uses '{name}', which is not a field", name=name)
        for name in sorted(used - names)
    ]
