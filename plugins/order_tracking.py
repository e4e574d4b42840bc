"""The customer's tracking page: /track/<order number>?t=<token>, with no login.

The token is an HMAC of the order number under the instance's secret key, so only a
link the shop sent opens the page, and order numbers cannot be guessed from one
another: a wrong token and an unknown number get the same 404. The page shows the
order's status timeline, carrier, tracking number and expected arrival, nothing else.
A rule's ``tracking_link`` action offers ``{tracking_link}`` to the email after it.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select

from apploom.engine.settings import Settings, secret_key
from apploom.engine.storage.system_tables import sys_transition
from apploom.hookspecs import hookimpl
from apploom.web.display import show

ORDERS = "oms.order"
SHOWN = ("status", "carrier", "tracking_number", "expected_date", "order_date")
pages = Blueprint("order_tracking", __name__)
_settings: list[Settings] = []   # this instance's settings, set when it starts


def token(settings: Settings, number: str) -> str:
    key = secret_key(settings).encode()
    return hmac.new(key, b"track:" + number.encode(), hashlib.sha256).hexdigest()[:24]


def link(settings: Settings, number: str) -> str:
    return f"{settings.base_url.rstrip('/')}/track/{number}?t={token(settings, number)}"


def tracking_link(context, params) -> str:
    number = context.names["record"]["number"]
    context.publish("tracking_link", link(_settings[-1], number))
    return "made the tracking link"


@pages.get("/track/<number>")
def track(number: str):
    runtime = current_app.extensions["apploom"]
    given = request.args.get("t", "")
    if not hmac.compare_digest(given.encode(), token(runtime.settings, number).encode()):
        abort(404)
    records = runtime.records
    entity = records.entity(ORDERS)
    table = records.tables[entity.table]
    with records.db.read() as conn:
        found = conn.execute(select(table.c.id, *(table.c[n] for n in SHOWN))
                             .where(table.c.number == number)).mappings().first()
        if found is None:
            abort(404)
        steps = conn.execute(select(sys_transition.c.to_state, sys_transition.c.at)
                             .where(sys_transition.c.entity == ORDERS,
                                    sys_transition.c.record_id == found["id"])
                             .order_by(sys_transition.c.at, sys_transition.c.id)).all()
    return render_template("tracking/track.html", entity=entity, number=number, order=found,
                           steps=steps, show=show)


@hookimpl
def apploom_actions():
    return {"tracking_link": tracking_link}


@hookimpl
def apploom_routes(app):
    app.register_blueprint(pages)


@hookimpl
def apploom_startup(runtime):
    _settings[:] = [runtime.settings]   # each runtime loads its own copy of this module
