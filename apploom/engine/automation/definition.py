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

from dataclasses import dataclass
from typing import Any, Mapping

from croniter import croniter

from apploom.engine.definitions.model import Entity
from apploom.engine.errors import SandboxError
from apploom.engine.expressions.compiled import FUNCTIONS, ExpressionError, compile_expression
from apploom.engine.expressions.sandbox import check_script
from apploom.engine.fields.types import FieldTypes

TRIGGERS = ("created", "updated", "deleted", "transition", "schedule", "webhook")
# Built-in actions and the settings each takes; plugins add their own actions.
BUILTIN_ACTIONS = {
    "set": "field: expression, ...",
    "create": "entity, values (field: expression), rows (table: expression giving rows)",
    "update": "entity, where (a filter), values (field: expression)",
    "transition": "the transition's name",
    "notify": "users or roles, message (a template such as 'Order {number}')",
    "email": "to, subject, body: templates such as '{customer.email}' or 'Order {number}'",
    "webhook": "url, and optionally body (field: expression)",
    "script": "the script's source",
}
# beyond the fields; ``created`` is the id of the record the rule's last create made
RULE_NAMES = frozenset({"id", "old", "user", "record", "payload", "created"})


@dataclass(frozen=True)
class Action:
    kind: str
    params: Any


@dataclass(frozen=True)
class Rule:
    name: str
    trigger: str
    fields: tuple[str, ...] = ()          # updated: only when one of these changed
    transition: str | None = None         # transition: only this one (None: any)
    cron: str | None = None               # schedule: when, as a cron expression
    hook: str | None = None               # webhook: the name it is called by
    where: Any = None                     # schedule: which records (a filter), all if None
    condition: str | None = None
    actions: tuple[Action, ...] = ()
    enabled: bool = True                  # false: checked with the others, never run


def parse_rules(raw: list | None) -> tuple[Rule, ...]:
    rules = []
    for i, spec in enumerate(raw or ()):
        on = spec["on"]
        trigger, detail = (on, None) if isinstance(on, str) else next(iter(on.items()))
        fields = tuple(detail or ()) if trigger == "updated" else ()
        rules.append(Rule(
            name=spec.get("name", f"rule_{i + 1}"), trigger=trigger, fields=fields,
            transition=detail if trigger == "transition" else None,
            cron=detail if trigger == "schedule" else None, where=spec.get("where"),
            hook=detail if trigger == "webhook" else None,
            condition=spec.get("if"), enabled=spec.get("enabled", True),
            actions=tuple(Action(*next(iter(a.items()))) for a in spec["do"]),
        ))
    return tuple(rules)


def lint(entity: Entity, rules: tuple[Rule, ...], entities: Mapping[str, Entity],
         actions: set[str], types: FieldTypes,
         functions: set[str] = frozenset()) -> list[tuple[tuple, str]]:
    """(path inside the rules list, message) for each mistake."""
    problems: list[tuple[tuple, str]] = []
    names = set(entity.fields) | RULE_NAMES | set(FUNCTIONS) | functions
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            problems.append(((i, "name"), f"another rule is also called '{rule.name}'"))
        seen.add(rule.name)
        for name in rule.fields:
            if name not in entity.fields:
                problems.append(((i, "on"), f"'{name}' is not a field of {entity.name}"))
        if rule.transition is not None:
            workflow = entity.workflow
            if workflow is None or rule.transition not in workflow.transitions:
                problems.append(((i, "on"), f"{entity.name} has no transition "
                                            f"'{rule.transition}'"))
        if rule.trigger == "schedule" and not croniter.is_valid(rule.cron or ""):
            problems.append(((i, "on"), f"'{rule.cron}' is not a cron expression such as "
                                        "'0 8 * * *' (every day at 08:00)"))
        for name in (rule.where or {}):
            if name.split(".")[0] not in entity.fields:
                problems.append(((i, "where"), f"'{name}' is not a field of {entity.name}"))
        if rule.condition:
            problems += [((i, "if"), message)
                         for message in _expression_problems(rule.condition, names)]
        for j, action in enumerate(rule.actions):
            path = (i, "do", j)
            if action.kind not in actions:
                problems.append((path, f"'{action.kind}' is not an action; known actions: "
                                       f"{', '.join(sorted(actions))}"))
                continue
            problems += [(path, m) for m in _action_problems(entity, action, entities, names,
                                                             types)]
    return problems


def _expression_problems(source: Any, names: set[str]) -> list[str]:
    if not isinstance(source, str):
        return [f"'{source}' must be an expression in quotes"]
    try:
        used = compile_expression(source).names
    except ExpressionError as exc:
        return [f"the expression {exc}"]
    return [f"the expression uses '{name}', which is not a field" for name in sorted(used - names)]


def _action_problems(entity: Entity, action: Action, entities: Mapping[str, Entity],
                     names: set[str], types: FieldTypes) -> list[str]:
    params, kind = action.params, action.kind
    problems: list[str] = []
    if kind == "set":
        if not isinstance(params, Mapping) or not params:
            return ["set takes field: expression pairs"]
        status = entity.workflow.field if entity.workflow else None
        for field, source in params.items():
            if field not in entity.fields or types.computed(entity.fields[field]) \
                    or field == status:
                problems.append(f"set: '{field}' is not a field it can set"
                                + (" (the status moves by transitions)" if field == status
                                   else ""))
            problems += [f"set {field}: {m}" for m in _expression_problems(source, names)]
    elif kind in ("create", "update"):
        target = entities.get(params.get("entity", "")) if isinstance(params, Mapping) else None
        if target is None:
            return [f"{kind}: 'entity' must name an entity like crm.customer"]
        for field, source in (params.get("values") or {}).items():
            if field not in target.fields:
                problems.append(f"{kind}: '{field}' is not a field of {target.name}")
            problems += [f"{kind} {field}: {m}" for m in _expression_problems(source, names)]
        if kind == "update" and not isinstance(params.get("where"), Mapping):
            problems.append("update: 'where' must be a filter such as {customer: 'customer'}")
    elif kind == "transition":
        if entity.workflow is None or params not in entity.workflow.transitions:
            problems.append(f"transition: {entity.name} has no transition '{params}'")
    elif kind == "notify":
        if not isinstance(params, Mapping) or not (params.get("roles") or params.get("users")):
            problems.append("notify: name the roles or users to tell")
        elif not params.get("message"):
            problems.append("notify: write a message")
    elif kind == "email":
        if not isinstance(params, Mapping) or not params.get("to") or not params.get("subject"):
            return ["email: 'to' and 'subject' are needed"]
    elif kind == "webhook":
        url = params.get("url", "") if isinstance(params, Mapping) else ""
        if not url.startswith(("http://", "https://")):
            problems.append("webhook: 'url' must start with http:// or https://")
    elif kind == "script":
        if not isinstance(params, str) or not params.strip():
            return ["script: write the script's source"]
        try:
            check_script(params)
        except SandboxError as exc:
            problems.append(f"script: {exc}")
    return problems

