"""A platform's payload read through its channel's mapping into plain order data. A path
that finds nothing it needs, or finds what it cannot read (a date, an amount), is refused
naming the path, its JMESPath and what it found."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from urllib.parse import unquote_plus

from jmespath.exceptions import JMESPathError

from apploom.engine import clock
from apploom.engine.channels.definition import Channel, Path
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import Message, message_of, msg

MONEY = ("shipping_fee", "discount", "tax", "total", "price", "amount")
TEXT_LIMIT = 500  # what a mapped text is cut to in a refusal


@dataclass(frozen=True)
class Incoming:
    """What the payload says about the order, in the order's terms."""

    external_id: str
    status: str | None
    updated_at: datetime | None
    order: dict[str, Any]  # the order's own fields: ordered_at, currency, fees, ship-to ...
    customer: dict[str, Any]
    lines: list[dict[str, Any]]
    payment: dict[str, Any] = field(default_factory=dict)
    total: Decimal | None = None  # the platform's, which the order must come to
    tax: Decimal | None = None


# what a line must give, by the key it is mapped under
LINE_NEEDS = {"qty": msg("the line's quantity"), "price": msg("the line's price")}


def unwrapped(channel: Channel, data: Any) -> Any:
    """The order the payload holds: itself, or the URL-encoded JSON in its message field."""
    if not channel.message:
        return data
    wrapped = data.get(channel.message) if isinstance(data, dict) else None
    if not isinstance(wrapped, str):
        raise ValidationFailed({channel.message: msg("is needed: the message holding the order")})
    try:
        return json.loads(unquote_plus(wrapped))
    except ValueError as exc:
        raise ValidationFailed(
            {channel.message: msg("is not URL-encoded JSON: {problem}", problem=str(exc))}
        ) from None


def read(channel: Channel, data: Any) -> Incoming:
    data = unwrapped(channel, data)
    order = {k: _value(k, p, data) for k, p in channel.order.items()}
    external_id = order.pop("external_id", None)
    if external_id in (None, ""):
        path = channel.order.get("external_id")
        raise ValidationFailed({_at(path): _missing(path, msg("the order's id on the platform"))})
    fields = {k: v for k, v in order.items() if v is not None}
    status = fields.pop("status", None)
    updated_at = fields.pop("updated_at", None)
    total, tax = fields.pop("total", None), fields.pop("tax", None)
    fields.update(
        {k: v for k, p in channel.ship_to.items() if (v := _value(k, p, data)) is not None}
    )
    return Incoming(
        external_id=str(external_id),
        status=None if status is None else str(status),
        updated_at=updated_at,
        order=fields,
        customer={k: _value(k, p, data) for k, p in channel.customer.items()},
        lines=_lines(channel, data),
        payment={k: v for k, p in channel.payment.items() if (v := _value(k, p, data)) is not None},
        total=total,
        tax=tax,
    )


def _lines(channel: Channel, data: Any) -> list[dict[str, Any]]:
    assert channel.lines is not None  # the schema requires lines
    each = channel.lines.each
    found = _search(each, data)
    if not isinstance(found, list) or not found:
        raise ValidationFailed({each.at: _missing(each, msg("a list of at least one line"), found)})
    lines = []
    for i, row in enumerate(found):
        line = {k: _value(k, p, row, f"[{i}]") for k, p in channel.lines.paths.items()}
        for needed in ("qty", "price"):
            if line.get(needed) is None:
                path = channel.lines.paths[needed]
                wanted = LINE_NEEDS[needed]
                raise ValidationFailed({f"{path.at}[{i}]": _missing(path, wanted)})
        if not line.get("sku") and line.get("product") is None:
            at = f"{each.at.rpartition('.')[0]}.sku[{i}]"
            raise ValidationFailed({at: msg("the line has neither a SKU nor a product id")})
        lines.append(line)
    return lines


def _search(path: Path, data: Any, index: str = "") -> Any:
    """What the path finds; one that fails on this payload (a function given the wrong
    type) is refused naming it."""
    try:
        return path.read(data)
    except JMESPathError as exc:
        failed = msg("'{path}' failed: {problem}", path=path.source, problem=str(exc))
        raise ValidationFailed({f"{path.at}{index}": failed}) from None


def _value(key: str, path: Path, data: Any, index: str = "") -> Any:
    found = _search(path, data, index)
    if found is None or found == "" and key not in ("sku", "note"):
        return None
    try:
        return _typed(key, path, found)
    except (ValueError, InvalidOperation, OverflowError, TypeError) as exc:
        raise ValidationFailed({f"{path.at}{index}": _refused(path, found, exc)}) from None


def _typed(key: str, path: Path, found: Any) -> Any:
    if key in ("ordered_at", "updated_at", "paid_at"):
        return read_date(found, path.format)
    if key in MONEY:
        if isinstance(found, bool) or isinstance(found, (dict, list)):
            raise ValueError(msg("is not an amount"))
        return Decimal(str(found).replace(",", "").strip())
    if key == "qty":
        if isinstance(found, bool) or Decimal(str(found)) != int(Decimal(str(found))):
            raise ValueError(msg("is not a whole number"))
        return int(Decimal(str(found)))
    if key == "prices_include_tax":
        if not isinstance(found, bool):
            raise ValueError(msg("is not true or false"))
        return found
    if isinstance(found, (dict, list)):
        raise ValueError(msg("is not a single value"))
    return found if isinstance(found, str) else json.dumps(found)


def read_date(found: Any, fmt: str) -> datetime:
    """A platform's date: ISO 8601, a unix time, or a strptime pattern; without an offset
    it is the business's local time."""
    if fmt == "unix":
        if isinstance(found, bool):
            raise ValueError(msg("is not a unix time"))
        return datetime.fromtimestamp(float(found), timezone.utc)
    if not isinstance(found, str):
        raise ValueError(msg("is not a date"))
    moment = (
        datetime.fromisoformat(found.replace("Z", "+00:00"))
        if fmt == "iso"
        else datetime.strptime(found, fmt)
    )
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.zone())


def _at(path: Path | None) -> str:
    return path.at if path is not None else "map.external_id"


def _missing(path: Path | None, wanted: str, found: Any = None) -> Message:
    if path is None:
        return msg("no path is mapped; it must give {wanted}", wanted=wanted)
    return msg(
        "'{path}' found {found}; it must give {wanted}",
        path=path.source,
        found=_shown(found),
        wanted=wanted,
    )


def _refused(path: Path, found: Any, exc: Exception) -> Message:
    said = message_of(exc) or msg("cannot be read")
    return msg(
        "'{path}' found {found}, which {problem}",
        path=path.source,
        found=_shown(found),
        problem=said,
    )


def _shown(found: Any) -> str:
    if found is None:
        return msg("nothing")
    text = json.dumps(found, ensure_ascii=False, default=str)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "..."


def line_tax_rate(line: Mapping[str, Any], prices_include_tax: bool) -> Decimal | None:
    """The tax rate (percent) of a line whose tax amount the platform gave: on the line's
    amount, or on what is left of it once the tax inside is taken out."""
    tax = line.get("tax")
    if tax is None:
        return None
    amount = line["qty"] * line["price"] - (line.get("discount") or 0)
    base = amount - tax if prices_include_tax else amount
    return (tax * 100 / base).quantize(Decimal("0.0001")) if base else Decimal(0)
