"""Whether a call is the platform's own, as each platform signs: our HMAC
(X-AppLoom-Signature), an HMAC-SHA256 of the raw body in a header (base64 as Shopify and
WooCommerce send it, or hex), a shared token in a header, or an md5 of some body fields
and the secret inside the body (Youzan-style). Then replay: a delivery id seen before,
or a timestamp outside the window, is not taken again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any, Mapping

from sqlalchemy import Connection, delete, insert, select

from apploom.engine import clock
from apploom.engine.access.signatures import signature_problem
from apploom.engine.channels.definition import Auth, Channel
from apploom.engine.storage.system_tables import sys_channel_delivery

KEEP_DELIVERIES = timedelta(days=3)  # platforms retry for up to two days


def body_hmac(secret: str, body: bytes, encoding: str = "base64") -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


def md5_signature(secret: str, data: Mapping[str, Any], signed: tuple[str, ...]) -> str:
    text = "".join(_text(data.get(name)) for name in signed) + secret
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the platform's own scheme


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def signature_refused(
    auth: Auth,
    secret: str | None,
    headers: Mapping[str, str],
    path: str,
    body: bytes,
    data: Any,
) -> str | None:
    """Why the call is not signed as the channel signs, or None if it is."""
    if auth.scheme == "none":
        return None
    if not secret:
        return "This channel has no secret yet: set one with `apploom channels secret`."
    if auth.scheme == "engine":
        return signature_problem(secret, path, body, headers.get("X-AppLoom-Signature", ""))
    if auth.scheme == "md5_in_body":
        given = data.get(auth.field) if isinstance(data, dict) else None
        expected = md5_signature(secret, data if isinstance(data, dict) else {}, auth.signed)
        return _compare(expected, given if isinstance(given, str) else "", auth.field)
    given = headers.get(auth.header, "")
    if auth.scheme == "token":
        return _compare(secret, given, auth.header)
    encoding = "base64" if auth.scheme == "hmac_base64" else "hex"
    return _compare(body_hmac(secret, body, encoding), given, auth.header)


def _compare(expected: str, given: str, where: str) -> str | None:
    if not given:
        return f"The call carries no signature in {where}."
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        return f"The signature in {where} does not match the call."
    return None


def stale(channel: Channel, headers: Mapping[str, str], now: float | None = None) -> str | None:
    """Why the call's timestamp puts it outside the channel's window, if it does."""
    name = channel.replay.timestamp
    if not name:
        return None
    try:
        at = float(headers.get(name, ""))
    except ValueError:
        return f"The call has no unix time in {name}."
    if abs((time.time() if now is None else now) - at) > channel.replay.window:
        return f"The time in {name} is more than {channel.replay.window} seconds from ours."
    return None


def seen_before(conn: Connection, channel: Channel, headers: Mapping[str, str]) -> bool:
    """Whether the delivery id was taken before; if not, it is remembered now (in the
    transaction that takes the delivery, so a failed one may come again)."""
    name = channel.replay.delivery_id
    delivery = headers.get(name, "").strip()[:200] if name else ""
    if not delivery:
        return False
    table = sys_channel_delivery
    key = (table.c.channel == channel.name, table.c.delivery == delivery)
    if conn.execute(select(table.c.delivery).where(*key)).first() is not None:
        return True
    now = clock.now()
    conn.execute(delete(table).where(table.c.received_at < now - KEEP_DELIVERIES))
    conn.execute(insert(table).values(channel=channel.name, delivery=delivery, received_at=now))
    return False
