"""Who may do what: per-entity grants from the definitions, checked in the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from apploom.engine.definitions.model import ADMIN_ROLE, AppSet, Entity, Field
from apploom.engine.errors import Forbidden
from apploom.engine.messages import msg


@dataclass(frozen=True)
class User:
    id: int | None
    username: str
    roles: frozenset[str]
    display_name: str = ""

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


SYSTEM_USER = User(id=None, username="system", roles=frozenset({ADMIN_ROLE}))


def scope(apps: AppSet, user: User, entity: Entity, action: str) -> str | None:
    """'all', 'own' (rows the user created) or None, the widest any of the user's roles grants."""
    if user.is_admin:
        return "all"
    granted = None
    for role in user.roles:
        found = grant(apps, role, entity, action)
        if found == "all":
            return "all"
        granted = granted or found
    return granted


def grant(apps: AppSet, role: str, entity: Entity, action: str) -> str | None:
    """'all', 'own' or None: what one role's grants (the entity's, else its app's) allow."""
    if entity.parent is not None:
        entity = apps.entity(entity.parent)
    grants = entity.permissions.get(role, apps.apps[entity.app].permissions.get(role, {}))
    return grants.get(action)


def require(apps: AppSet, user: User, entity: Entity, action: str) -> str:
    found = scope(apps, user, entity, action)
    if found is None:
        raise Forbidden(
            msg(
                "You may not {action} {entity} records (roles: {roles})",
                action=msg(action),
                entity=entity.label,
                roles=", ".join(sorted(user.roles)) or msg("none"),
            )
        )
    return found


def require_admin(user: User, what: str) -> None:
    if not user.is_admin:
        raise Forbidden(msg("Only admins may {what}", what=what))


def require_row(
    apps: AppSet, user: User, entity: Entity, action: str, created_by: int | None
) -> None:
    """Like :func:`require`, for one existing row the user can see (checks 'own' grants)."""
    if require(apps, user, entity, action) == "own" and created_by != user.id:
        raise Forbidden(
            msg(
                "You may only {action} {entity} records you created",
                action=msg(action),
                entity=entity.label,
            )
        )


def may_set(user: User, fld: Field) -> bool:
    """Whether ``user`` may give ``fld`` a value: a field with ``editable_by`` is for those
    roles (and admins) alone; rules act as admins, so they always may."""
    return not fld.editable_by or user.is_admin or bool(user.roles & set(fld.editable_by))


def refuse_unpermitted(
    user: User,
    entity: Entity,
    sent: Iterable[str],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    errors: dict[str, str],
) -> None:
    """An error for each field of ``sent`` the user may not set whose value would differ
    from ``before`` (the stored record, or a new one's defaults): sending it unchanged is
    fine, as a form does."""
    for name in sent:
        fld = entity.fields.get(name)
        if fld is not None and not may_set(user, fld) and after.get(name) != before.get(name):
            errors.setdefault(name, f"only {' or '.join(fld.editable_by)} may change it")
