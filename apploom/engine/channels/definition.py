"""Sales channels as defined: how a platform signs what it sends, how its payload maps to
an order (JMESPath expressions), and what its statuses mean.

    channels:
      shopify:
        auth: {scheme: hmac_base64, header: X-Shopify-Hmac-Sha256}
        replay: {delivery_id: X-Shopify-Webhook-Id}
        map:
          external_id: to_string(id)
          ordered_at: {path: created_at, format: iso}
          customer: {email: email, buyer_id: to_string(customer.id)}
          lines: {each: line_items, sku: sku, qty: quantity, price: price}
        statuses: {paid: payment, cancelled: cancel, refunded: refund}

A platform that is polled rather than pushing names the plugin's puller that fetches
its orders, and how often: ``pull: {kind: http_json, every: 300, url: ...}`` (seconds,
or a cron expression); the rest of ``pull`` is the puller's own settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from apploom.engine.definitions.model import Label, frozen_map
from apploom.engine.messages import msg

SCHEMES = ("engine", "hmac_base64", "hmac_hex", "token", "md5_in_body", "none")
# what a status may make of the order, beyond taking the transition it names
STATUS_ACTIONS = ("payment", "refund", "none")
# transitions a status taking which means the order must never be confirmed on arrival
NOT_CONFIRMED = ("cancel",)
ORDER_KEYS = (
    "external_id", "ordered_at", "updated_at", "status", "currency", "prices_include_tax",
    "shipping_fee", "discount", "tax", "total", "note",
)  # fmt: skip
SHIP_TO = (
    "ship_name", "ship_phone", "ship_province", "ship_city", "ship_district", "ship_address",
    "ship_postcode", "ship_country",
)  # fmt: skip
CUSTOMER_KEYS = ("email", "phone", "buyer_id", "name")
LINE_KEYS = ("sku", "product", "qty", "price", "discount", "amount", "tax")
PAYMENT_KEYS = ("method", "reference", "amount", "paid_at")
DATE_KEYS = ("ordered_at", "updated_at", "paid_at")


@dataclass(frozen=True)
class Path:
    """One JMESPath expression of a mapping, with where it is written (``map.lines.sku``),
    and for dates the format it is read with (iso, unix, or strptime's, like
    '%Y-%m-%d %H:%M:%S', read in the business's time zone)."""

    at: str
    source: str
    compiled: ParsedResult | None
    format: str = "iso"
    problem: str | None = None

    def read(self, data: Any) -> Any:
        assert self.compiled is not None  # the definition checks refuse a path that fails
        return self.compiled.search(data)


@dataclass(frozen=True)
class Auth:
    scheme: str = "engine"
    header: str = ""  # where the signature or the token comes
    field: str = "sign"  # md5_in_body: the body's field holding the signature
    signed: tuple[str, ...] = ()  # md5_in_body: the body's fields signed, in order


@dataclass(frozen=True)
class Replay:
    """What stops a delivery being taken twice: the platform's delivery id (a header),
    remembered; and/or its timestamp header, refused outside ``window`` seconds."""

    delivery_id: str = ""
    timestamp: str = ""
    window: int = 300


@dataclass(frozen=True)
class Pull:
    """How a polled channel is fetched: the puller ``kind`` a plugin provides, ``every``
    so many seconds or on a cron expression, with the puller's own ``settings``."""

    kind: str
    every: int | str
    settings: Mapping[str, Any] = field(default_factory=lambda: frozen_map({}))


@dataclass(frozen=True)
class Lines:
    each: Path
    paths: Mapping[str, Path]


@dataclass(frozen=True)
class Channel:
    name: str
    label: Label
    auth: Auth = Auth()
    replay: Replay = Replay()
    message: str = ""  # a body field holding the order itself, as URL-encoded JSON
    confirm: bool = True  # new orders are confirmed on arrival (never cancelled ones)
    order: Mapping[str, Path] = field(default_factory=lambda: frozen_map({}))
    ship_to: Mapping[str, Path] = field(default_factory=lambda: frozen_map({}))
    customer: Mapping[str, Path] = field(default_factory=lambda: frozen_map({}))
    lines: Lines | None = None
    payment: Mapping[str, Path] = field(default_factory=lambda: frozen_map({}))
    statuses: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    products: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    payment_method: str = ""  # how the platform's payments are recorded, by default
    carriers: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    pull: Pull | None = None


def compile_path(at: str, raw: Any) -> Path:
    """The path as written; one that is not JMESPath reads nothing and says why
    (``problem``), for the definition checks to report."""
    source, fmt = (raw["path"], raw.get("format", "iso")) if isinstance(raw, dict) else (raw, "iso")
    try:
        return Path(at, source, jmespath.compile(source), fmt)
    except JMESPathError as exc:
        said = msg("'{path}' is not a JMESPath expression: {reason}", path=source, reason=str(exc))
        return Path(at, source, None, fmt, said)


def _paths(at: str, raw: Mapping[str, Any] | None, keys: tuple[str, ...]) -> Mapping[str, Path]:
    return frozen_map(
        {k: compile_path(f"{at}.{k}", v) for k, v in (raw or {}).items() if k in keys}
    )


def parse_channel(name: str, raw: Mapping[str, Any]) -> Channel:
    """One channel of a schema-valid definition."""
    mapping = raw.get("map") or {}
    lines = mapping.get("lines")
    auth = raw.get("auth") or {}
    replay = raw.get("replay") or {}
    pull = raw.get("pull")
    return Channel(
        name=name,
        label=Label.parse(raw.get("label"), name),
        auth=Auth(
            scheme=auth.get("scheme", "engine"),
            header=auth.get("header", ""),
            field=auth.get("field", "sign"),
            signed=tuple(auth.get("signed") or ()),
        ),
        replay=Replay(
            delivery_id=replay.get("delivery_id", ""),
            timestamp=replay.get("timestamp", ""),
            window=replay.get("window", 300),
        ),
        message=raw.get("message", ""),
        confirm=raw.get("confirm", True),
        order=_paths(f"channels.{name}.map", mapping, ORDER_KEYS),
        ship_to=_paths(f"channels.{name}.map.ship_to", mapping.get("ship_to"), SHIP_TO),
        customer=_paths(f"channels.{name}.map.customer", mapping.get("customer"), CUSTOMER_KEYS),
        lines=Lines(
            compile_path(f"channels.{name}.map.lines.each", lines["each"]),
            _paths(f"channels.{name}.map.lines", lines, LINE_KEYS),
        )
        if lines
        else None,
        payment=_paths(f"channels.{name}.map.payment", mapping.get("payment"), PAYMENT_KEYS),
        statuses=frozen_map({str(k): v for k, v in (raw.get("statuses") or {}).items()}),
        products=frozen_map({str(k): str(v) for k, v in (raw.get("products") or {}).items()}),
        payment_method=raw.get("payment_method", ""),
        carriers=frozen_map({str(k): str(v) for k, v in (raw.get("carriers") or {}).items()}),
        pull=Pull(
            pull["kind"],
            pull["every"],
            frozen_map({k: v for k, v in pull.items() if k not in ("kind", "every")}),
        )
        if pull
        else None,
    )


def parse_channels(raw: Mapping[str, Any] | None) -> Mapping[str, Channel]:
    return frozen_map({name: parse_channel(name, spec) for name, spec in (raw or {}).items()})


def paths_of(channel: Channel) -> list[Path]:
    """Every path of the channel's mapping."""
    found = [*channel.order.values(), *channel.ship_to.values(), *channel.customer.values()]
    if channel.lines is not None:
        found += [channel.lines.each, *channel.lines.paths.values()]
    return found + list(channel.payment.values())
