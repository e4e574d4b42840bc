"""Orders from sales channels: each channel (web shop, marketplace, ...) POSTs its orders
to /hooks/orders/<channel>, signed under that channel's own secret with the call's time,
path and body (X-AppLoom-Signature: t=<unix time>,v1=<hex>; stale or replayed calls are
refused). Secrets are set per channel in
APPLOOM_CHANNEL_SECRETS ("web=secret1,marketplace=secret2"); a channel without one gets
404. Orders are created as APPLOOM_WEBHOOK_USER and confirmed at once, so stock is
reserved (or the order backordered) on arrival.

    {"external_id": "TB-20261127-001", "ordered_at": "2026-11-27T10:23:00+08:00",
     "customer": {"email": "zs@example.com", "name": "张三", "phone": "+86 138 0000 0000"},
     "lines": [{"sku": "LJ-STD", "qty": 2, "price": "88.00"}],
     "shipping_fee": "8.00", "ship_name": "张三", "ship_city": "杭州市",
     "payment_status": "paid", "note": "gift wrap"}

The customer is found by email, or created; items are found by SKU. The order's own
fields (money, ship-to, note) pass as they are named; a channel that sends only the day
("order_date": "2026-11-27") places the order at that day's start. The channel's
external id is unique, so a delivery sent twice answers 200 with the order it made the
first time (201 the first time), and never makes a second order.
"""

from __future__ import annotations

import os

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import select

from apploom.plugin import (
    Forbidden,
    Invalid,
    ValidationFailed,
    hookimpl,
    require_permission,
    require_signed_call,
    runtime,
)

ORDERS = "oms.order"
hooks = Blueprint("channel_orders", __name__)


def channel_secrets() -> dict[str, str]:
    pairs = (p.partition("=") for p in os.environ.get("APPLOOM_CHANNEL_SECRETS", "").split(","))
    return {name.strip(): secret.strip() for name, _, secret in pairs if name and secret}


@hooks.post("/hooks/orders/<channel>")
def receive(channel: str):
    rt = runtime()
    secret = channel_secrets().get(channel)
    if not secret or not rt.settings.webhook_user:
        abort(404)
    require_signed_call(secret)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body.get("external_id"):
        raise ValidationFailed({"external_id": "is needed: the order's id in the channel"})
    user = rt.users.get(rt.settings.webhook_user)
    require_permission(rt.apps, user, rt.records.entity(ORDERS), "create")
    if not rt.transitions.may(user, ORDERS, "confirm"):
        raise Forbidden(
            f"{user.username} may not confirm orders; give the webhook user a role that may"
        )
    earlier = _existing(rt, channel, body["external_id"])
    if earlier is not None:
        return jsonify(earlier), 200

    def confirmed(conn) -> dict:
        order = rt.records.create_in(
            conn,
            user,
            rt.records.entity(ORDERS),
            {
                "channel": channel,
                "external_id": body["external_id"],
                "customer": _customer(rt, conn, user, body.get("customer")),
                "lines": _lines(rt, conn, body.get("lines")),
                **_order_fields(body),
            },
        )
        return rt.transitions.take_in(conn, user, rt.records.entity(ORDERS), "confirm", order["id"])

    try:
        order = rt.records.transaction(confirmed)
    except ValidationFailed as exc:
        earlier = _existing(rt, channel, body["external_id"])
        if "external_id" in exc.fields and earlier is not None:  # sent twice at once
            return jsonify(earlier), 200
        raise
    return jsonify(order), 201


PASSED = (
    "ordered_at", "payment_status", "note", "currency", "prices_include_tax", "discount",
    "shipping_fee", "ship_name", "ship_phone", "ship_province", "ship_city", "ship_district",
    "ship_address", "ship_postcode", "ship_country",
)  # fmt: skip


def _order_fields(body: dict) -> dict:
    fields = {k: body[k] for k in PASSED if k in body}
    if "order_date" in body and "ordered_at" not in body:
        fields["ordered_at"] = body["order_date"]  # the day only: placed at its start
    return fields


def _existing(rt, channel: str, external_id: str) -> dict | None:
    records = rt.records
    table = records.table(ORDERS)
    with records.db.read() as conn:
        found = conn.execute(
            select(table.c.id).where(
                table.c.channel == channel, table.c.external_id == str(external_id)
            )
        ).scalar()
    return (
        None
        if found is None
        else records.get(rt.users.get(rt.settings.webhook_user), ORDERS, found)
    )


def _customer(rt, conn, user, given) -> int:
    if not isinstance(given, dict) or not given.get("email"):
        raise ValidationFailed({"customer.email": "is needed to find or create the customer"})
    records = rt.records
    customers = records.entity("crm.customer")
    table = records.table("crm.customer")
    field = customers.fields["email"]
    try:  # as the record service stores it, so the look-up finds it
        email = records.types[field.type].coerce(field, given["email"])
    except Invalid as exc:
        raise ValidationFailed({"customer.email": str(exc)}) from None
    found = conn.execute(select(table.c.id).where(table.c.email == email)).scalar()
    if found is not None:
        return found
    require_permission(rt.apps, user, customers, "create")
    return records.create_in(
        conn,
        user,
        customers,
        {"name": given.get("name") or email, "email": email, "phone": given.get("phone")},
    )["id"]


def _lines(rt, conn, given) -> list[dict]:
    if not isinstance(given, list) or not given:
        raise ValidationFailed({"lines": "needs at least one line"})
    table = rt.records.table("wms.item")
    skus = {line.get("sku") for line in given if isinstance(line, dict)}
    ids = dict(
        conn.execute(
            select(table.c.sku, table.c.id).where(
                table.c.sku.in_(sorted(s for s in skus if isinstance(s, str)))
            )
        ).all()
    )
    lines, errors = [], {}
    for i, line in enumerate(given):
        sku = line.get("sku") if isinstance(line, dict) else None
        if sku not in ids:
            errors[f"lines.{i}.sku"] = f"there is no item with SKU '{sku}'"
            continue
        lines.append({"item": ids[sku], "qty": line.get("qty"), "price": line.get("price")})
    if errors:
        raise ValidationFailed(errors)
    return lines


@hookimpl
def apploom_routes(app):
    app.register_blueprint(hooks)
