"""Idempotency keys on creates: a repeated key returns the first result.

The key is stored in the same transaction as the record it created, so a
retried request either finds the finished record or creates it itself. It is stored
with a hash of the request, so the key sent again with another body is refused rather
than answered with a record the caller did not ask for.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg
from apploom.engine.storage.system_tables import sys_idempotency

MAX_KEY = 200


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed(
            {"Idempotency-Key": msg("must be 1 to {count} characters", count=MAX_KEY)}
        )


def request_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def recall(conn: Connection, user: User, key: str, entity: Entity, data: Any) -> dict | None:
    row = conn.execute(
        select(
            sys_idempotency.c.entity, sys_idempotency.c.request_hash, sys_idempotency.c.response
        ).where(sys_idempotency.c.user_id == user.id, sys_idempotency.c.key == key)
    ).first()
    if row is None:
        return None
    if row.entity != entity.qualified:
        raise ValidationFailed(
            {"Idempotency-Key": msg("was already used to create a {entity}", entity=row.entity)}
        )
    if row.request_hash is not None and row.request_hash != request_hash(data):
        raise ValidationFailed(
            {"Idempotency-Key": msg("was already used with another request: send a new key")}
        )
    return row.response


def remember(
    conn: Connection,
    user: User,
    key: str,
    entity: Entity,
    data: Any,
    response: dict,
    now: datetime,
) -> None:
    conn.execute(
        sys_idempotency.insert().values(
            user_id=user.id,
            key=key,
            entity=entity.qualified,
            request_hash=request_hash(data),
            status=201,
            response=response,
            created_at=now,
        )
    )
