"""Who handles a record: the ``assign`` rule action puts a user into a user field, by the
first of its rules that holds.

    - assign:
        field: owner
        rules:
          - {if: "channel == 'marketplace'", to: alice}   # a user, by username
          - {if: "customer.city == '杭州'", role: sales}   # the role's users take turns
          - {role: sales}

``to`` names a user (``me``: the user whose change set the rule off); ``role`` lets the
role's active users take turns, in the order they were created, but for whoever set the
rule off: the integration user an order came in with, a colleague handing work on, is not
handed it by turn (``to: me`` gives them their own). Disabled users are passed over: a
rule whose user is disabled, or whose role has no other active user, gives way to the next
one; when none gives anyone, the field stays as it is and the rule's run says why.
A username nobody has, or a user or role that may not read the entity, is a mistake in
the rule: the change is refused, naming it.

Turns stay fair when records arrive at once. Each entity, field and role keeps who took
the last turn in ``sys_rotation``; taking a turn starts with an UPDATE of that row, whose
row lock holds a concurrent assignment (another worker's transaction) until this one
commits, after which it reads the turn this one took: two records created together never
both get the same "next" user. (Giving each record to the user with the fewest open
ones needs the same lock to be race-free, and a meaning of "open" for every entity.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Row, bindparam, select, update

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.automation.definition import CheckContext
from apploom.engine.errors import AppLoomError, NotFound, RuleError
from apploom.engine.fields.links import ME
from apploom.engine.messages import Message, joined, msg, prefixed
from apploom.engine.storage.database import insert_ignore
from apploom.engine.storage.system_tables import sys_rotation, sys_user

if TYPE_CHECKING:
    from apploom.engine.automation.service import ActionContext

_TAKE_TURN = (  # locks the rotation's row until the transaction ends
    update(sys_rotation)
    .where(sys_rotation.c.key == bindparam("rotation"))
    .values(turns=sys_rotation.c.turns + 1)
    .returning(sys_rotation.c.last_user_id)
)
_USERS = select(sys_user.c.id, sys_user.c.username, sys_user.c.roles, sys_user.c.active)


def assign(context: ActionContext, spec: Mapping) -> str:
    field = spec["field"]
    if context.change.trigger == "deleted":
        raise RuleError(
            msg("Rule '{rule}': a deleted record cannot be assigned", rule=context.rule.label)
        )
    fld = context.entity.fields[field]
    passed: list[Message] = []  # why earlier rules gave nobody
    for branch in spec["rules"]:
        if branch.get("if") and not context.holds(branch["if"]):
            continue
        chosen = (
            _named(context, branch["to"], passed)
            if "to" in branch
            else _next_turn(context, field, branch["role"], passed)
        )
        if chosen is not None:
            context.set({field: chosen.id})
            said = msg("assigned {field} to {user}", field=fld.label, user=chosen.username)
            return joined(passed + [said])
    return joined(passed + [msg("nobody to assign {field} to: left as it was", field=fld.label)])


def _named(context: ActionContext, username: str, passed: list[Message]) -> Row | None:
    """The user ``to`` names, if active; a user who may not read the record is refused."""
    query = _USERS.where(
        sys_user.c.id == context.change.user.id
        if username == ME
        else sys_user.c.username == username
    )
    found = context.conn.execute(query).first()
    if found is None:
        if username == ME:
            passed.append(msg("no user set the rule off, so none is 'me'"))
            return None
        raise NotFound(msg("there is no user '{user}' to assign to", user=username))
    if not found.active:
        passed.append(msg("{user} is disabled", user=found.username))
        return None
    user = User(found.id, found.username, frozenset(found.roles))
    if permissions.scope(context.automation.records.apps, user, context.entity, "read") is None:
        refusal = msg(
            "{user} may not read {entity} records", user=found.username, entity=context.entity.label
        )
        if username == ME:
            passed.append(refusal)
            return None
        raise AppLoomError(
            msg(
                "{refusal}, so cannot be assigned one (roles: {roles})",
                refusal=refusal,
                roles=_roles(user),
            )
        )
    return found


def _next_turn(context: ActionContext, field: str, role: str, passed: list[Message]) -> Row | None:
    """The active user of ``role`` after the one who took the rotation's last turn."""
    apps = context.automation.records.apps
    if permissions.scope(apps, User(None, role, frozenset({role})), context.entity, "read") is None:
        raise AppLoomError(
            f"the role {role} may not read {context.entity.label.en} records, so none of "
            "its users can be assigned one"
        )
    rows = context.conn.execute(_USERS.where(sys_user.c.active).order_by(sys_user.c.id)).all()
    candidates = [r for r in rows if role in r.roles and r.id != context.change.user.id]
    if not candidates:
        passed.append(msg("no other active user holds the role {role}", role=role))
        return None
    key = f"{context.entity.qualified}.{field}:{role}"
    last = context.conn.execute(_TAKE_TURN, {"rotation": key}).scalar()
    if last is None:  # the rotation's first turn: its row, then the lock on it
        insert_ignore(context.conn, sys_rotation, {"key": key, "last_user_id": 0, "turns": 0})
        last = context.conn.execute(_TAKE_TURN, {"rotation": key}).scalar_one()
    chosen = next((r for r in candidates if r.id > last), candidates[0])
    context.conn.execute(
        update(sys_rotation).where(sys_rotation.c.key == key).values(last_user_id=chosen.id)
    )
    return chosen


def _roles(user: User) -> str:
    return ", ".join(sorted(user.roles)) or "none"


def check_assign(context: CheckContext, params: Any) -> list[str]:
    """What the schema cannot tell (it already holds the settings' shapes): the field is
    a user field, each rule names a user or a declared role, conditions read fields."""
    entity = context.entity
    problems: list[str] = []
    found = entity.fields.get(params["field"])
    if found is None or not context.types[found.type].is_user:
        users = [n for n, f in entity.fields.items() if context.types[f.type].is_user]
        problems.append(
            msg(
                "assign: 'field' must name a user field of {entity} ({fields})",
                entity=entity.name,
                fields=", ".join(users),
            )
            if users
            else msg(
                "assign: 'field' must name a user field of {entity}; it has none",
                entity=entity.name,
            )
        )
    for i, branch in enumerate(params["rules"]):
        problems += [prefixed(f"assign rules.{i}", m) for m in _branch_problems(context, branch)]
    return problems


def _branch_problems(context: CheckContext, branch: Mapping) -> list[str]:
    if len({"to", "role"} & set(branch)) != 1:
        return [msg("give either 'to' (a username, or me) or 'role' (whose users take turns)")]
    problems: list[str] = []
    if "role" in branch and branch["role"] not in context.roles:
        problems.append(
            msg(
                "'{role}' is not a role; known roles: {roles}",
                role=branch["role"],
                roles=", ".join(sorted(context.roles)),
            )
        )
    if "if" in branch:
        problems += [prefixed("if", m) for m in context.expression_problems(branch["if"])]
    return problems
