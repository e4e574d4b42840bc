"""The customer's tracking page: /track/<order number>?t=<token>, with no login.

The token is an HMAC of the order number under the instance's secret key, so only a
link the shop sent opens the page, and order numbers cannot be guessed from one
another: a wrong token and an unknown number get the same 404. The page shows the
order's status timeline, expected arrival, the region it ships to with the recipient's
name masked (a forwarded link shows no street or phone), and its parcels (carrier,
tracking number, contents), nothing else. A rule's ``tracking_link`` action offers
``{tracking_link}`` to the email after it: the link of the record's order, or with
``{of: field}`` of the order a ref field names (a parcel's, say); print templates
call ``tracking_link(number)`` (the delivery note's QR code).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from apploom.plugin import Settings, hookimpl, msg, runtime, secret_key, show

ORDERS, PARCELS = "oms.order", "oms.shipment"
SHOWN = ("status", "expected_date", "order_date", "ship_name")
REGION = ("ship_province", "ship_city", "ship_district")
PARCEL_SHOWN = ("number", "carrier", "tracking_number", "shipped_at", "contents")
pages = Blueprint("order_tracking", __name__)
_settings: list[Settings] = []  # this instance's settings, set when it starts


def token(settings: Settings, number: str) -> str:
    key = secret_key(settings).encode()
    return hmac.new(key, b"track:" + number.encode(), hashlib.sha256).hexdigest()[:24]


def link(settings: Settings, number: str) -> str:
    return f"{settings.base_url.rstrip('/')}/track/{number}?t={token(settings, number)}"


def tracking_link(context, params) -> str:
    number = context.names["record"]["number"]
    if params.get("of"):
        order = context.load(ORDERS, context.names["record"][params["of"]])
        number = order.values["number"]
    context.publish("tracking_link", link(_settings[-1], number))
    return msg("made the tracking link")


def masked(name: str | None) -> str:
    """张三丰 as 张**, Bob Norman as B*********: enough for the customer to know it is theirs."""
    return name[0] + "*" * (len(name) - 1) if name else ""


@pages.get("/track/<number>")
def track(number: str):
    rt = runtime()
    given = request.args.get("t", "")
    if not hmac.compare_digest(given.encode(), token(rt.settings, number).encode()):
        abort(404)
    table = rt.records.table(ORDERS)
    with rt.db.read() as conn:
        found = (
            conn.execute(
                select(table.c.id, *(table.c[n] for n in SHOWN + REGION)).where(
                    table.c.number == number
                )
            )
            .mappings()
            .first()
        )
        if found is None:
            abort(404)
        steps = rt.transitions.steps(conn, ORDERS, found["id"])
        parcels = rt.records.table(PARCELS)
        sent = conn.execute(
            select(*(parcels.c[n] for n in PARCEL_SHOWN))
            .where(parcels.c.order == found["id"], parcels.c.status == "shipped")
            .order_by(parcels.c.shipped_at, parcels.c.id)
        ).mappings()
        return render_template(
            "tracking/track.html",
            entity=rt.records.entity(ORDERS),
            parcel=rt.records.entity(PARCELS),
            number=number,
            order=found,
            steps=steps,
            parcels=list(sent),
            ships_to=" ".join(
                filter(None, [*(found[n] for n in REGION), masked(found["ship_name"])])
            ),
            show=show,
        )


@hookimpl
def apploom_actions():
    return {"tracking_link": tracking_link}


@hookimpl
def apploom_routes(app):
    app.register_blueprint(pages)


@hookimpl
def apploom_startup(runtime):
    _settings[:] = [runtime.settings]  # each runtime loads its own copy of this module
    runtime.prints.helpers["tracking_link"] = lambda number: link(runtime.settings, str(number))
