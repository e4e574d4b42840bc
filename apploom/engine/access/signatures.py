"""HMAC-SHA256 signatures of webhook calls, as sent and checked in X-AppLoom-Signature.

A signature covers when it was made, where the call goes and its body:
``t=<unix time>,v1=<hex HMAC of "<t>.<path>.<body>">``. So a captured call cannot be sent
to another address, nor again once a few minutes have passed, and within those minutes
a receiver refuses a signature it has seen before (:func:`accept_delivery`). Calls we
receive and calls we send sign with two keys derived from the one secret, so a
receiver of ours cannot play what we sent it back to us.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from apploom.engine import clock
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_webhook_delivery

TOLERANCE = 300  # seconds a signature is good for, either side of the receiver's clock
Direction = Literal["inbound", "outbound"]


def _key(secret: str, direction: Direction) -> bytes:
    return hmac.new(secret.encode(), f"apploom-webhook-{direction}".encode(), "sha256").digest()


def _mac(secret: str, direction: Direction, at: int, path: str, body: bytes) -> str:
    signed = f"{at}.{path}.".encode() + body
    return hmac.new(_key(secret, direction), signed, hashlib.sha256).hexdigest()


def signature(
    secret: str,
    path: str,
    body: bytes,
    at: int | None = None,
    direction: Direction = "inbound",
) -> str:
    """The header value signing a call to ``path`` (the URL's path) with ``body``."""
    at = int(time.time()) if at is None else at
    return f"t={at},v1={_mac(secret, direction, at, path, body)}"


def signature_problem(
    secret: str,
    path: str,
    body: bytes,
    header: str,
    now: float | None = None,
    direction: Direction = "inbound",
) -> str | None:
    """Why ``header`` does not sign this call now, or None if it does (compared in
    constant time)."""
    parts = _parts(header)
    try:
        at = int(parts.get("t", ""))
    except ValueError:
        return "The signature has no time: send X-AppLoom-Signature: t=<unix time>,v1=<hex>."
    if abs((time.time() if now is None else now) - at) > TOLERANCE:
        return f"The signature's time is more than {TOLERANCE} seconds from ours."
    expected = _mac(secret, direction, at, path, body)
    if not hmac.compare_digest(expected.encode(), parts.get("v1", "").encode()):
        return "The signature does not match the call."
    return None


def _parts(header: str) -> dict[str, str]:
    return dict(part.strip().partition("=")[::2] for part in header.split(","))


def accept_delivery(db: Database, secret: str, path: str, body: bytes, header: str) -> str | None:
    """Check an inbound call's signature and remember it: why it is refused (a bad
    signature, or one seen before), or None. It is remembered before the call is
    handled, so two copies arriving at once cannot both pass; a sender retrying a
    failed call signs it again."""
    problem = signature_problem(secret, path, body, header)
    if problem:
        return problem
    now = clock.now()
    try:
        with db.write() as conn:
            conn.execute(
                delete(sys_webhook_delivery).where(
                    sys_webhook_delivery.c.received_at < now - timedelta(seconds=2 * TOLERANCE)
                )
            )
            conn.execute(
                insert(sys_webhook_delivery).values(mac=_parts(header)["v1"], received_at=now)
            )
    except IntegrityError:
        return "This call was delivered before: sign each delivery anew."
    return None
