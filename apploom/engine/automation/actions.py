"""Rule actions: each built-in one is its ``run`` (inside the change's transaction, saying
what it did) and its ``check`` (of the settings a rule gives it, when definitions load),
registered together. A plugin's action is a RuleAction too, or a bare run function, and
the definitions check it the same way."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Mapping

from sqlalchemy import select

from apploom.engine import catalogs
from apploom.engine.automation import notifications, outbox, robots, webhooks
from apploom.engine.automation.assignment import assign, check_assign
from apploom.engine.automation.definition import TEMPLATE, ActionCheck, CheckContext
from apploom.engine.definitions.model import Entity, Label
from apploom.engine.errors import RuleError, SandboxError
from apploom.engine.expressions import sandbox
from apploom.engine.fields.base import parse_int
from apploom.engine.messages import joined, message_of, msg, prefixed
from apploom.engine.query.filters import Query, parse_where
from apploom.engine.storage.system_tables import sys_user

if TYPE_CHECKING:
    from apploom.engine.automation.service import ActionContext

MAX_UPDATE = 500  # records one update action (or one round of a scheduled rule) may change

ActionFunction = Callable[["ActionContext", Any], str]


def no_problems(context: CheckContext, params: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class RuleAction:
    """An action rules may take: ``run(context, params)`` does it and says what it did;
    ``check(context, params)`` lists the mistakes in the settings a rule gives it."""

    run: ActionFunction
    check: ActionCheck = no_problems


def rule_action(added: RuleAction | ActionFunction) -> RuleAction:
    """A plugin's action: a RuleAction, or a bare run function (its settings unchecked)."""
    return added if isinstance(added, RuleAction) else RuleAction(added)


def action_checks(actions: Collection[str]) -> dict[str, ActionCheck]:
    """The check of every action rules may take. ``actions`` names them; a mapping (name
    -> what a plugin adds) also gives the plugins' checks; a name alone stands for the
    built-in action, or for a plugin's, whose settings then go unchecked."""
    given = actions if isinstance(actions, Mapping) else {}
    return {name: _check_of(given.get(name) or BUILTIN_ACTIONS.get(name)) for name in actions}


def _check_of(action: RuleAction | ActionFunction | None) -> ActionCheck:
    return action.check if isinstance(action, RuleAction) else no_problems


def _values(context: ActionContext, spec: Any) -> dict:
    if not isinstance(spec, Mapping):
        raise RuleError(
            msg("Rule '{rule}': values must be field: expression pairs", rule=context.rule.label)
        )
    return {field: context.evaluate(source) for field, source in spec.items()}


# ---- set: {field: expression, ...} ------------------------------------------------------
def _set(context: ActionContext, spec: Any) -> str:
    values = _values(context, spec)
    if context.change.trigger == "deleted":
        raise RuleError(
            msg("Rule '{rule}': a deleted record cannot be set", rule=context.rule.label)
        )
    context.set(sandbox.plain(values))
    return msg("set {fields}", fields=_labels(context.entity, values))


def _labels(entity: Entity, names: Iterable[str]) -> Label:
    """Fields by their labels, listed as each language lists them."""
    return Label.listed([entity.fields[name].label for name in names])


def _check_set(context: CheckContext, params: Any) -> list[str]:
    if not isinstance(params, Mapping) or not params:
        return [msg("set takes field: expression pairs")]
    entity = context.entity
    status = entity.workflow.field if entity.workflow else None
    problems: list[str] = []
    for field, source in params.items():
        if (
            field not in entity.fields
            or context.types.computed(entity.fields[field])
            or field == status
        ):
            problems.append(
                msg(
                    "set: '{field}' is not a field it can set (the status moves by transitions)",
                    field=field,
                )
                if field == status
                else msg("set: '{field}' is not a field it can set", field=field)
            )
        problems += [prefixed(f"set {field}", m) for m in context.expression_problems(source)]
    return problems


# ---- create: entity, values (field: expression), rows (table: expression giving rows) ----
def _create(context: ActionContext, spec: Mapping) -> str:
    records = context.automation.records
    target = records.entity(spec["entity"])
    data = sandbox.plain(_values(context, spec.get("values") or {}))
    for table, source in (spec.get("rows") or {}).items():
        data[table] = sandbox.plain(context.evaluate(source))
    record = records.create_in(context.conn, context.actor, target, data, by_rule=True)
    context.publish("created", record["id"])  # for the rule's later actions
    return msg("created {entity} #{id}", entity=target.label, id=record["id"])


def _check_create(context: CheckContext, params: Any) -> list[str]:
    return _values_problems("create", context, params)


# ---- update: entity, where (a filter), values (field: expression) -----------------------
def _update(context: ActionContext, spec: Mapping) -> str:
    records = context.automation.records
    target = records.entity(spec["entity"])
    where = {field: context.evaluate(source) for field, source in spec["where"].items()}
    query = Query(conditions=parse_where(where), limit=MAX_UPDATE + 1)
    page, _ = records.compiler.apply(
        context.actor, target, query, select(records.tables[target.table].c.id)
    )
    ids = list(context.conn.execute(page).scalars())
    if len(ids) > MAX_UPDATE:
        raise RuleError(
            msg(
                "Rule '{rule}' would update more than {most} {entity} records at once; narrow "
                "its filter",
                rule=context.rule.label,
                most=MAX_UPDATE,
                entity=target.label,
            )
        )
    values = sandbox.plain(_values(context, spec.get("values") or {}))
    for record_id in ids:
        context.update(target, record_id, values)
    return msg("updated {count} {entity}", count=len(ids), entity=target.label)


def _check_update(context: CheckContext, params: Any) -> list[str]:
    problems = _values_problems("update", context, params)
    if _target(context, params) is not None and not isinstance(params.get("where"), Mapping):
        problems.append(msg("update: 'where' must be a filter such as {{customer: 'customer'}}"))
    return problems


def _target(context: CheckContext, params: Any) -> Entity | None:
    return context.entities.get(params.get("entity", "")) if isinstance(params, Mapping) else None


def _values_problems(kind: str, context: CheckContext, params: Any) -> list[str]:
    target = _target(context, params)
    if target is None:
        return [prefixed(kind, msg("'entity' must name an entity like crm.customer"))]
    problems: list[str] = []
    for field, source in (params.get("values") or {}).items():
        if field not in target.fields:
            problems.append(
                prefixed(
                    kind,
                    msg("'{field}' is not a field of {entity}", field=field, entity=target.name),
                )
            )
        problems += [prefixed(f"{kind} {field}", m) for m in context.expression_problems(source)]
    return problems


# ---- transition: the transition's name --------------------------------------------------
def _transition(context: ActionContext, name: str) -> str:
    context.take(name)
    move = context.entity.workflow.transitions.get(name) if context.entity.workflow else None
    return msg("took {transition}", transition=move.label if move else name)


def _check_transition(context: CheckContext, params: Any) -> list[str]:
    workflow = context.entity.workflow
    if workflow is None or params not in workflow.transitions:
        return [
            msg(
                "transition: {entity} has no transition '{transition}'",
                entity=context.entity.name,
                transition=params,
            )
        ]
    return []


# ---- notify: users, roles or user fields (to), message (a template such as 'Order {number}'),
# and the group robots (robot) to post it to
def _notify(context: ActionContext, spec: Mapping) -> str:
    """``to`` names user fields as templates, '{owner}' or '{order.owner}' (the owner of
    the record a ref points at): each renders to the id of the user it holds, if any.
    Each user is told where they chose; ``robot`` names robots to post to whatever they
    chose. A robot not set up (yet) is left out, and the rule's run says so."""
    roles = set(spec.get("roles") or ())
    usernames = set(spec.get("users") or ())
    held = {parse_int(context.render(template)) for template in _listed(spec.get("to"))}
    rows = context.conn.execute(
        select(sys_user.c.id, sys_user.c.username, sys_user.c.roles).where(sys_user.c.active)
    ).all()
    targets = [
        r.id for r in rows if r.username in usernames or roles & set(r.roles) or r.id in held
    ]
    named = _listed(spec.get("robot"))
    known = robots.names(context.conn)
    posted = notifications.send(
        context.conn,
        targets,
        context.written(spec["message"]),
        notifications.record_link(context.entity, context.record_id),
        kind=f"{context.entity.qualified}.{context.rule.name}",
        robots_named=[name for name in named if name in known],
    )
    said = [msg("notified {count} user(s)", count=len(targets))]
    if posted:
        said.append(msg("posted to {robots}", robots=", ".join(posted)))
    missing = [name for name in named if name not in known]
    if missing:
        said.append(msg("no robot {robots} is set up: not posted there", robots=", ".join(missing)))
    return joined(said)


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _check_notify(context: CheckContext, params: Any) -> list[str]:
    """The schema holds the settings' shapes; this, whom they name."""
    if not any(params.get(k) for k in ("roles", "users", "to", "robot")):
        return [msg("notify: name the roles, users, user fields (to) or robots to tell")]
    problems: list[str] = [
        msg(
            "notify: '{role}' is not a role; known roles: {roles}",
            role=role,
            roles=", ".join(sorted(context.roles)),
        )
        for role in _listed(params.get("roles"))
        if role not in context.roles
    ]
    problems += [
        msg(
            "notify to: '{to}' must name a user field, like '{{owner}}' or '{{order.owner}}'",
            to=t,
        )
        for t in _listed(params.get("to"))
        if not _names_user_field(context, t)
    ]
    return problems


def _names_user_field(context: CheckContext, template: str) -> bool:
    """Whether ``template`` ({field} or {ref.field}, as the schema holds) names a user field."""
    match = TEMPLATE.fullmatch(template)
    if match is None:
        return False
    head, tail = match.groups()
    found = context.entity.fields.get(head)
    if found is not None and tail and context.types[found.type].is_reference:
        target = context.entities.get(found.to or "")
        found = target.fields.get(tail) if target is not None else None
    elif tail:
        found = None
    return found is not None and context.types[found.type].is_user


# ---- email: to, subject, body: templates such as '{customer.email}' or 'Order {number}' -
def _email(context: ActionContext, spec: Mapping) -> str:
    """``to`` is one template or a list of them; each must render to exactly one address,
    since a value like 'a@x.com, b@y.com' from a record would choose recipients itself."""
    named = spec["to"] if isinstance(spec["to"], list) else [spec["to"]]
    rendered = [context.render(t).strip() for t in named]
    addresses = [a for a in rendered if outbox.one_address(a)]
    refused = [a for a in rendered if a and not outbox.one_address(a)]
    said = (
        [
            msg(
                "not one email address, left out: {addresses}",
                addresses=", ".join(map(repr, refused)),
            )
        ]
        if refused
        else []
    )
    if not addresses:
        return joined(said + [msg("no email address: nothing sent")])
    lang = _language(context, spec.get("language"))
    context.enqueue(
        "email",
        {
            "to": addresses if isinstance(spec["to"], list) else addresses[0],
            "subject": context.render(spec["subject"], lang),
            "body": context.render(spec.get("body", ""), lang),
        },
    )
    return joined(said + [msg("queued an email to {addresses}", addresses=", ".join(addresses))])


def _language(context: ActionContext, template: str | None) -> str:
    """The language an email is written in: what ``language`` renders to (the
    customer's, say: '{customer.language}'), else the business's."""
    chosen = catalogs.known_language(context.render(template)) if template else None
    return chosen or catalogs.business_language()


def _check_email(context: CheckContext, params: Any) -> list[str]:
    if not isinstance(params, Mapping) or not params.get("to") or not params.get("subject"):
        return [msg("email: 'to' and 'subject' are needed")]
    to = params["to"]
    if not isinstance(to, str) and not (
        isinstance(to, list) and all(isinstance(t, str) and t for t in to)
    ):
        return [msg("email: 'to' is an address (or template) or a list of them")]
    problems: list[str] = [
        msg(
            "email: '{setting}' is a template, or one for each language ({{en: ..., zh: ...}})",
            setting=key,
        )
        for key in ("subject", "body")
        if key in params and not _template(params[key])
    ]
    if "language" in params and not isinstance(params["language"], str):
        problems.append(msg("email: 'language' is a template such as '{{customer.language}}'"))
    return problems


def _template(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, Mapping)
        and bool(value)
        and set(value) <= set(catalogs.LANGUAGES)
        and all(isinstance(v, str) for v in value.values())
    )


# ---- script: the script's source --------------------------------------------------------
def _script(context: ActionContext, source: str) -> str:
    names = {k: v for k, v in context.names.items() if k != "record" and not callable(v)}
    result = sandbox.execute(source, sandbox.plain(names))
    types = context.automation.records.types
    settable = {
        k: v
        for k, v in result.items()
        if k in context.entity.fields
        and not types.computed(context.entity.fields[k])
        and k != getattr(context.entity.workflow, "field", None)
        and v != names.get(k)
    }
    if settable and context.change.trigger != "deleted":
        context.set(settable)
    if settable:
        return msg("ran a script that set {fields}", fields=_labels(context.entity, settable))
    return msg("ran a script")


def _check_script(context: CheckContext, params: Any) -> list[str]:
    if not isinstance(params, str) or not params.strip():
        return [msg("script: write the script's source")]
    try:
        sandbox.check_script(params)
    except SandboxError as exc:
        return [prefixed("script", message_of(exc))]
    return []


BUILTIN_ACTIONS: Mapping[str, RuleAction] = MappingProxyType(
    {
        "set": RuleAction(_set, _check_set),
        "create": RuleAction(_create, _check_create),
        "update": RuleAction(_update, _check_update),
        "transition": RuleAction(_transition, _check_transition),
        "notify": RuleAction(_notify, _check_notify),
        "assign": RuleAction(assign, check_assign),
        "email": RuleAction(_email, _check_email),
        "webhook": RuleAction(webhooks.run, webhooks.check),
        "script": RuleAction(_script, _check_script),
    }
)
