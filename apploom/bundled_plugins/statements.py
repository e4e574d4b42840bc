"""The customer statement (对账单): one customer's orders, returns and payments in date
order, with what they owe after each, at /a/oms/statement/<customer id>; the payments
panel on the customer's page links to it (``related.link`` in apps/oms.yaml).

An order neither draft nor cancelled charges its total on its order date. A payment not
void is received on the day it was paid (UTC), a refund being a negative receipt; a
refund bound to a return also credits the order by as much that day (the goods came
back), so goods and money back leave the balance as it was, while a refund of an
overpayment raises it back. The period is ``from``/``to`` (days; the last 365 by
default), opened by the balance owed before it. The viewer must read every order,
return and payment: the balance adds them all up.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

from flask import Blueprint, g, render_template, request
from sqlalchemy import func, select

from apploom.plugin import (
    Forbidden,
    Label,
    ValidationFailed,
    clock,
    current_language,
    hookimpl,
    login_required,
    msg,
    require_permission,
    runtime,
    show,
)

CUSTOMERS, ORDERS, RETURNS = "crm.customer", "oms.order", "oms.return"
PAYMENTS = "oms.payment"
UNSOLD = ("draft", "cancelled")
pages = Blueprint("statements", __name__)


class Entry(NamedTuple):
    day: date
    entity: str  # whose record it is: order, return or payment
    record_id: int
    document: str
    kind: Label  # what the line is: the entity's label
    detail: str = ""
    charged: Decimal = Decimal("0.00")
    received: Decimal = Decimal("0.00")


@pages.get("/a/oms/statement/<int(max=9223372036854775807):customer_id>")
@login_required
def statement(customer_id: int):
    rt = runtime()
    customer = rt.records.get(g.user, CUSTOMERS, customer_id)  # seen, or NotFound
    for ref in (ORDERS, RETURNS, PAYMENTS):
        entity = rt.records.entity(ref)
        if require_permission(rt.apps, g.user, entity, "read") != "all":
            raise Forbidden(
                f"A statement adds up every order, return and payment of the customer; "
                f"you may read only your own {entity.label.en} records"
            )
    since, until = _period()
    with rt.db.read() as conn:
        opening = _owed_before(rt, conn, customer_id, since)
        entries = sorted(
            _orders(rt, conn, customer_id, since, until)
            + _payments(rt, conn, customer_id, since, until),
            key=lambda e: (e.day, ("order", "return", "payment").index(e.entity), e.document),
        )
    balance, lines = opening, []
    for entry in entries:
        balance += entry.charged - entry.received
        lines.append((entry, balance))
    return render_template(
        "statements/statement.html",
        customer=customer,
        title=rt.records.titles(g.user, CUSTOMERS, {customer_id}, current_language())[customer_id],
        since=since,
        until=until,
        opening=opening,
        lines=lines,
        charged=sum((e.charged for e in entries), Decimal("0.00")),
        received=sum((e.received for e in entries), Decimal("0.00")),
        closing=balance,
    )


def _period() -> tuple[date, date]:
    """The days asked for, checked; by default the last 365 to today."""
    days = {}
    for name in ("from", "to"):
        given = request.args.get(name) or ""
        try:
            days[name] = date.fromisoformat(given) if given else None
        except ValueError:
            raise ValidationFailed({name: "must be a day (YYYY-MM-DD)"}) from None
    until = days["to"] or clock.today()
    since = days["from"] or until - timedelta(days=364)
    if since > until:
        raise ValidationFailed({"to": msg("must not be before from")})
    return since, until


def _start(day: date) -> datetime:
    """The moment ``day`` begins where the business is: a payment at 01:00 in Hangzhou
    is one of that day, not of the day before as UTC has it."""
    return datetime.combine(day, time(), clock.zone())


def _owed_before(rt, conn, customer_id: int, since: date) -> Decimal:
    """Orders charged before ``since`` less payments received before it; a return's
    refund and its credit cancel out, so payments bound to returns are left out."""
    orders, payments = rt.records.table(ORDERS), rt.records.table(PAYMENTS)
    charged = conn.execute(
        select(func.coalesce(func.sum(orders.c.total), 0)).where(
            orders.c.customer == customer_id,
            orders.c.status.not_in(UNSOLD),
            orders.c.order_date < since,
        )
    ).scalar()
    received = conn.execute(
        select(func.coalesce(func.sum(payments.c.amount), 0)).where(
            payments.c.customer == customer_id,
            payments.c.status != "void",
            payments.c.rma.is_(None),
            payments.c.paid_at < _start(since),
        )
    ).scalar()
    return Decimal(charged) - Decimal(received)


def _orders(rt, conn, customer_id: int, since: date, until: date) -> list[Entry]:
    orders = rt.records.table(ORDERS)
    kind = rt.records.entity(ORDERS).label
    rows = conn.execute(
        select(orders.c.id, orders.c.number, orders.c.order_date, orders.c.total).where(
            orders.c.customer == customer_id,
            orders.c.status.not_in(UNSOLD),
            orders.c.order_date.between(since, until),
        )
    ).all()
    return [Entry(r.order_date, "order", r.id, r.number, kind, charged=r.total) for r in rows]


def _payments(rt, conn, customer_id: int, since: date, until: date) -> list[Entry]:
    payments, orders = rt.records.table(PAYMENTS), rt.records.table(ORDERS)
    returns = rt.records.table(RETURNS)
    entity = rt.records.entity(PAYMENTS)
    rows = conn.execute(
        select(
            payments.c.id,
            payments.c.number,
            payments.c.paid_at,
            payments.c.amount,
            payments.c.method,
            payments.c.reference,
            payments.c.rma,
            orders.c.number.label("order_number"),
            returns.c.number.label("rma_number"),
        )
        .join(orders, payments.c.order == orders.c.id)
        .outerjoin(returns, payments.c.rma == returns.c.id)
        .where(
            payments.c.customer == customer_id,
            payments.c.status != "void",
            payments.c.paid_at >= _start(since),
            payments.c.paid_at < _start(until + timedelta(days=1)),
        )
    ).all()
    credit = rt.records.entity(RETURNS).label
    found = []
    for r in rows:
        day = clock.local(r.paid_at).date()
        how = show(entity.fields["method"], r.method)
        detail = f"{r.order_number} · {how}" + (f" · {r.reference}" if r.reference else "")
        if r.rma is not None:  # the goods came back: the order is credited what is refunded
            found.append(
                Entry(day, "return", r.rma, r.rma_number, credit, r.order_number, r.amount)
            )
        found.append(Entry(day, "payment", r.id, r.number, entity.label, detail, received=r.amount))
    return found


@hookimpl
def apploom_routes(app):
    app.register_blueprint(pages)
