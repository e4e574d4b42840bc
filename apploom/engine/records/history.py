"""A record's timeline: history entries (who changed what, when, from what to what)
and the comments people left on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Label
from apploom.engine.kept_messages import restored_text
from apploom.engine.storage.system_tables import (
    sys_comment,
    sys_history,
    sys_rule_run,
    sys_transition,
    sys_user,
)

_INSERT = sys_history.insert()
_LOG = sys_transition.insert()
MAX_COMMENT = 10_000


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def write_history(
    conn: Connection,
    entity: Entity,
    record_id: int,
    version: int,
    action: str,
    user: User,
    now: datetime,
    changes: dict,
    transition: str | None = None,
    note: str | None = None,
) -> None:
    conn.execute(
        _INSERT,
        {
            "entity": entity.qualified,
            "record_id": record_id,
            "version": version,
            "action": action,
            "user_id": user.id,
            "at": now,
            "changes": changes,
            "transition": transition,
            "note": note,
        },
    )


def write_comment(
    conn: Connection, entity: Entity, record_id: int, user: User, now: datetime, body: str
) -> None:
    conn.execute(
        sys_comment.insert().values(
            entity=entity.qualified, record_id=record_id, user_id=user.id, at=now, body=body
        )
    )


def read_history(conn: Connection, entity: Entity, record_id: int) -> list[dict]:
    query = (
        select(
            sys_history.c.version,
            sys_history.c.action,
            sys_history.c.at,
            sys_history.c.changes,
            sys_history.c.transition,
            sys_history.c.note,
            sys_user.c.username,
        )
        .outerjoin(sys_user, sys_user.c.id == sys_history.c.user_id)
        .where(sys_history.c.entity == entity.qualified, sys_history.c.record_id == record_id)
        .order_by(sys_history.c.id)
    )
    return [
        {
            "version": r.version,
            "action": r.action,
            "at": _iso(r.at),
            "user": r.username or "system",
            "changes": r.changes,
            **({"transition": r.transition} if r.transition else {}),
            **({"note": r.note} if r.transition or r.note else {}),
        }
        for r in conn.execute(query)
    ]


def read_timeline(conn: Connection, entity: Entity, record_id: int) -> list[dict]:
    """History entries, comments and rule runs together, newest first."""
    query = (
        select(sys_comment.c.at, sys_comment.c.body, sys_user.c.username)
        .outerjoin(sys_user, sys_user.c.id == sys_comment.c.user_id)
        .where(sys_comment.c.entity == entity.qualified, sys_comment.c.record_id == record_id)
    )
    comments = [
        {"action": "comment", "at": _iso(r.at), "user": r.username or "system", "body": r.body}
        for r in conn.execute(query)
    ]
    runs = (
        select(sys_rule_run, sys_user.c.username)
        .outerjoin(sys_user, sys_user.c.id == sys_rule_run.c.user_id)
        .where(sys_rule_run.c.entity == entity.qualified, sys_rule_run.c.record_id == record_id)
    )
    labels = {rule.name: rule.label for rule in entity.rules}
    rules = []
    for r in conn.execute(runs):
        said = r.said or {"actions": [None] * len(r.actions), "error": None}
        rules.append(
            {
                "action": "rule",
                "at": _iso(r.at),
                "user": r.username or "system",
                "rule": r.rule,
                "label": labels.get(r.rule) or Label.parse(None, r.rule),
                "trigger": r.trigger,
                "condition": r.condition,
                "actions": [
                    restored_text(*told) for told in zip(r.actions, said["actions"], strict=True)
                ],
                "outcome": r.outcome,
                "error": r.error and restored_text(r.error, said["error"]),
                "duration_ms": r.duration_ms,
            }
        )
    entries = read_history(conn, entity, record_id) + comments + rules
    return sorted(entries, key=lambda e: e["at"], reverse=True)


def log_transition(
    conn: Connection,
    entity: Entity,
    record_id: int,
    transition: str | None,
    source: str | None,
    target: str,
    user: User,
    now: datetime,
    comment: str | None = None,
) -> None:
    """One row of the transition log: the data behind time-in-state figures."""
    conn.execute(
        _LOG,
        {
            "entity": entity.qualified,
            "record_id": record_id,
            "transition": transition,
            "from_state": source,
            "to_state": target,
            "user_id": user.id,
            "at": now,
            "comment": comment,
        },
    )
