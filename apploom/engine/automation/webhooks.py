"""The ``webhook`` rule action, and the outbox sender that delivers what it queues.

    - webhook:
        channel: shopify                  # its secrets fill {secret:NAME}, its carriers map carrier
        sign: false                       # true (the default): sign as the channel signs
        url: "{secret:shop_url}/admin/api/2024-01/orders/{order.external_id}/fulfillments.json"
        method: POST                      # or PUT, PATCH
        headers: {X-Shopify-Access-Token: "{secret:access_token}"}
        format: json                      # or form (application/x-www-form-urlencoded)
        body:                             # key: expression; a dotted key nests
          fulfillment.tracking_number: tracking_number
          fulfillment.tracking_company: carrier
        carrier: fulfillment.tracking_company   # a carrier code, sent as the channel names it

``{field}`` and ``{ref.field}`` in the URL and headers are filled from the record when
the rule runs (the URL's percent-encoded); ``{secret:NAME}`` only when the message is
sent, so no secret is ever written to the outbox. A URL may start with a secret holding
the platform's address (a shop's own domain). Without ``body`` the record is sent as
the API shows it (dates as ISO text).
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import quote, urlencode, urlsplit

from apploom.engine.access.signatures import signature
from apploom.engine.automation.definition import TEMPLATE, CheckContext
from apploom.engine.channels.auth import body_hmac
from apploom.engine.errors import RuleError
from apploom.engine.expressions import sandbox
from apploom.engine.messages import msg, prefixed

if TYPE_CHECKING:
    from apploom.engine.automation.outbox import Sender
    from apploom.engine.automation.service import ActionContext

METHODS = ("POST", "PUT", "PATCH")
FORMATS = ("json", "form")
SECRET = re.compile(r"\{secret:([a-z][a-z0-9_]{0,39})\}")
KEYS = {"url", "channel", "sign", "method", "headers", "format", "body", "carrier"}
SecretLookup = Callable[[str, str], "str | None"]


def run(context: ActionContext, spec: Mapping) -> str:
    channel_name = spec.get("channel")
    found = context.automation.records.apps.channel(channel_name) if channel_name else None
    if channel_name and found is None:
        raise RuleError(
            msg(
                "Rule '{rule}': there is no channel '{channel}'",
                rule=context.rule.label,
                channel=channel_name,
            )
        )
    channel = found[1] if found else None
    body = _body(context, spec)
    if channel is not None and spec.get("carrier"):
        _map_carrier(body, spec["carrier"].split("."), channel.carriers)
    url = TEMPLATE.sub(lambda m: quote(context.render(m[0]), safe=""), spec["url"])
    context.enqueue(
        "webhook",
        {
            "url": url,
            "method": spec.get("method", "POST"),
            "format": spec.get("format", "json"),
            "headers": {k: context.render(v) for k, v in (spec.get("headers") or {}).items()},
            "body": body,
            "channel": channel_name,
            "signing": None
            if channel is None or not spec.get("sign", True)
            else {"scheme": channel.auth.scheme, "header": channel.auth.header},
            "event": context.change.trigger,
            "entity": context.entity.qualified,
            "record_id": context.record_id,
        },
    )
    return msg("queued a webhook to {url}", url=SECRET.sub("…", url))


def _body(context: ActionContext, spec: Mapping) -> Any:
    if not spec.get("body"):
        records = context.automation.records
        current = context.change.after or context.change.before
        assert current is not None  # a change has the record after it, or before a delete
        return records.dump(context.entity, current)
    body: dict = {}
    for key, source in spec["body"].items():
        *parents, last = key.split(".")
        place = body
        for name in parents:
            place = place.setdefault(name, {})
        place[last] = as_json(sandbox.plain(context.evaluate(source)))
    return body


def _map_carrier(body: Any, keys: list[str], carriers: Mapping[str, str]) -> None:
    *parents, last = keys
    for name in parents:
        body = body.get(name) if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get(last) in carriers:
        body[last] = carriers[body[last]]


def as_json(value: Any) -> Any:
    """``value`` as JSON holds it: dates and times as ISO text, amounts as text."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def check(context: CheckContext, params: Any) -> list[str]:
    if not isinstance(params, Mapping):
        return [msg("webhook: give its url, and optionally channel, method, headers, format, body")]
    problems: list[str] = [
        msg(
            "webhook: '{setting}' is not a setting; known: {known}",
            setting=k,
            known=", ".join(sorted(KEYS)),
        )
        for k in params
        if k not in KEYS
    ]
    url = params.get("url", "")
    if not isinstance(url, str) or not (
        url.startswith(("http://", "https://")) or SECRET.match(url)
    ):
        problems.append(
            msg(
                "webhook: 'url' must start with http:// or https://, or with the channel's "
                "{{secret:NAME}} holding the platform's address"
            )
        )
    if params.get("method", "POST") not in METHODS:
        problems.append(
            msg("webhook: 'method' must be one of {methods}", methods=", ".join(METHODS))
        )
    if params.get("format", "json") not in FORMATS:
        problems.append(
            msg("webhook: 'format' must be one of {formats}", formats=", ".join(FORMATS))
        )
    headers = params.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(v, str) and "\n" not in v and "\r" not in v for v in headers.values()
    ):
        problems.append(msg("webhook: 'headers' must be name: text pairs, each on one line"))
    body = params.get("body")
    if body is not None and not isinstance(body, Mapping):
        problems.append(msg("webhook: 'body' must be key: expression pairs"))
    for key, source in (body or {}).items() if isinstance(body, Mapping) else ():
        problems += [
            prefixed(f"webhook body {key}", m) for m in context.expression_problems(source)
        ]
    if params.get("carrier") and not params.get("channel"):
        problems.append(
            msg("webhook: 'carrier' maps codes by a channel's carriers: name the channel")
        )
    if SECRET.search(url if isinstance(url, str) else "") and not params.get("channel"):
        problems.append(msg("webhook: {{secret:...}} comes from a channel: name the channel"))
    return problems


def webhook_sender(engine_secret: str | None, secrets: SecretLookup) -> Sender:
    """Send the payload's body (JSON or a form) to its URL, with its headers, signed as
    its channel signs (or, with no channel, with X-AppLoom-Signature under
    ``engine_secret``); ``secrets(channel, name)`` fills {secret:NAME} now."""

    def send(payload: dict) -> None:
        channel = payload.get("channel")

        def secret(match: re.Match) -> str:
            value = secrets(channel, match[1]) if channel else None
            if value is None:
                raise RuntimeError(f"the channel {channel} has no secret '{match[1]}'")
            return value

        url = _filled_url(payload["url"], secret)
        form = payload.get("format") == "form"
        body = (
            urlencode(_flat(payload["body"])).encode()
            if form
            else json.dumps(payload["body"], ensure_ascii=False, default=str).encode()
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
            "X-AppLoom-Delivery": str(payload.get("delivery_id", "")),
            **{k: SECRET.sub(secret, v) for k, v in (payload.get("headers") or {}).items()},
        }
        signing = payload.get("signing")
        path = urlsplit(url).path or "/"
        if signing:
            signed = _signed(signing, secrets(channel, "signing") if channel else None, path, body)
            headers.update(signed)
        elif engine_secret and not channel:
            headers["X-AppLoom-Signature"] = signature(
                engine_secret, path, body, direction="outbound"
            )
        request = urllib.request.Request(
            url, data=body, method=payload.get("method", "POST"), headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status >= 300:
                raise RuntimeError(f"the webhook answered {response.status}")

    return send


def _filled_url(url: str, secret: Callable[[re.Match], str]) -> str:
    """The URL with its secrets: one it starts with is the platform's base address, put
    as it is; any other is percent-encoded (a token in the query)."""
    start = SECRET.match(url)
    head = secret(start) if start else ""
    rest = SECRET.sub(lambda m: quote(secret(m), safe=""), url[start.end() if start else 0 :])
    filled = head.rstrip("/") + rest if start else rest
    if not filled.startswith(("http://", "https://")):
        raise RuntimeError("the webhook's URL does not start with http:// or https://")
    return filled


def _signed(signing: Mapping, secret: str | None, path: str, body: bytes) -> dict[str, str]:
    scheme, header = signing.get("scheme"), signing.get("header") or ""
    if scheme in ("none", "md5_in_body"):
        return {}  # md5_in_body platforms sign what they push, not what they are sent
    if not secret:
        raise RuntimeError("the channel has no signing secret to sign with")
    if scheme == "engine":
        return {"X-AppLoom-Signature": signature(secret, path, body, direction="outbound")}
    if scheme == "token":
        return {header: secret}
    return {header: body_hmac(secret, body, "base64" if scheme == "hmac_base64" else "hex")}


def _flat(body: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested body as form fields: fulfillment[tracking_number]=..."""
    if not isinstance(body, dict):
        return [(prefix, "" if body is None else str(body))]
    pairs: list[tuple[str, str]] = []
    for key, value in body.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs += _flat(value, name) if isinstance(value, dict) else _flat_value(name, value)
    return pairs


def _flat_value(name: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    if isinstance(value, list):
        return [(f"{name}[]", json.dumps(v) if isinstance(v, dict) else str(v)) for v in value]
    return [(name, "" if value is None else str(value))]
