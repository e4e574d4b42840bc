"""Payments (收款): money received for an order, or paid back (a refund: a negative
amount). An order's ``paid`` (the sum of its payments that are not void) and its
``payment_status`` follow them and are never typed: recording or voiding a payment,
refunding a return and changing an order's total recompute both in the same
transaction, the order's row locked first, so payments of one order made at the same
time count in turn and refunds never take back more than was paid.

A payment is never edited: a wrong one is voided with its reason and recorded again, so
the order's figures, its history and any statement already sent keep every step. A
return's refund is paid out as a negative payment bound to it, by the return's refund
method or else the way the order was last paid, so a refund is never typed twice.
Money stays exact (Decimal, two places, as the money fields store it). Each action is
named in a rule of apps/oms.yaml.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import case, func, select

from apploom.plugin import RecordRefused, clock, hookimpl, msg

ORDERS, PAYMENTS, RETURNS = "oms.order", "oms.payment", "oms.return"


def payment_status(total: Decimal, paid: Decimal, refunded: Decimal) -> str:
    """From the order's total, what it has paid net of refunds, and its refunds."""
    if refunded:
        return "partially_refunded" if paid > 0 else "refunded"
    if not paid:
        return "unpaid"
    return "paid" if paid >= total else "partially_paid"


def _sums(context, order_id: int) -> tuple[Decimal, Decimal]:
    """(paid net of refunds, refunded) over the order's payments that are not void."""
    payments = context.table(PAYMENTS)
    amount = payments.c.amount
    paid, refunded = context.conn.execute(
        select(
            func.coalesce(func.sum(amount), 0),
            func.coalesce(func.sum(case((amount < 0, -amount), else_=0)), 0),
        ).where(payments.c.order == order_id, payments.c.status != "void")
    ).one()
    return Decimal(paid), Decimal(refunded)


def _locked(context, order_id: int):
    """The order, its row locked until the transaction ends."""
    context.lock(ORDERS, [order_id])
    return context.load(ORDERS, order_id)


def _settle(context, order) -> str:
    """Set the order's paid figure and payment status from its payments."""
    paid, refunded = _sums(context, order.values["id"])
    status = payment_status(order.values["total"] or Decimal(0), paid, refunded)
    values = {"paid": paid, "payment_status": status}
    if any(order.values[name] != value for name, value in values.items()):
        context.force(ORDERS, order.values["id"], values=values)
    return msg(
        "{number} {status} ({paid} paid)",
        number=order.values["number"],
        status=context.automation.records.entity(ORDERS)
        .fields["payment_status"]
        .option_label(status),
        paid=format(paid, ".2f"),
    )


def _most_refundable(number: str, paid: Decimal) -> str:
    if paid <= 0:
        return msg("{number} has nothing paid to refund", number=number)
    return msg(
        "may take back at most {paid}, what {number} has paid",
        paid=format(paid, ".2f"),
        number=number,
    )


def record_payment(context, params) -> str:
    """A new payment counts towards its order, unless it is zero, pays a cancelled
    order, takes back more than the order has paid, or binds a return it does not pay
    out."""
    payment = context.names["record"]  # as just saved
    order = _locked(context, payment["order"])
    number, amount = order.values["number"], payment["amount"]
    paid = _sums(context, order.values["id"])[0] - amount  # before this payment
    errors = {}
    if not amount:
        errors["amount"] = "must not be zero (a refund is negative)"
    elif amount > 0 and order.values["status"] == "cancelled":
        errors["order"] = f"{number} is cancelled: it takes refunds only"
    elif -amount > paid:
        errors["amount"] = _most_refundable(number, paid)
    if payment["void_reason"]:
        errors["void_reason"] = "is given when the payment is voided"
    if payment["rma"] is not None and not errors:
        errors.update(_return_refusals(context, payment, order))
    if errors:
        raise RecordRefused(errors)
    return _settle(context, order)


def _return_refusals(context, payment, order) -> dict[str, str]:
    """A payment bound to a return is (part of) its refund: negative, of the return's
    order, once the return is refunded, and within its refund amount."""
    rma = context.load(RETURNS, payment["rma"]).values
    if rma["order"] != order.values["id"]:
        return {"rma": f"{rma['number']} is a return of another order"}
    if payment["amount"] > 0:
        return {"amount": f"refunds {rma['number']}: it must be negative"}
    if rma["status"] != "refunded":
        return {"rma": f"{rma['number']} is not refunded yet: its Refund step pays it out"}
    payments = context.table(PAYMENTS)
    refunded = -context.conn.execute(
        select(func.coalesce(func.sum(payments.c.amount), 0)).where(
            payments.c.rma == rma["id"], payments.c.status != "void"
        )
    ).scalar()
    refund = rma["refund_amount"] or Decimal(0)
    if refunded > refund:
        left = refund - refunded - payment["amount"]
        return {"amount": f"may take back at most {left:.2f}: {rma['number']} refunds {refund:.2f}"}
    return {}


def void_payment(context, params) -> str:
    """A voided payment stops counting, unless the order's refunds would then take back
    more than it has paid."""
    payment = context.names["record"]  # as just voided
    order = _locked(context, payment["order"])
    paid = _sums(context, order.values["id"])[0]  # without this payment, now void
    if paid < 0:
        raise RecordRefused(
            {
                "amount": f"without it {order.values['number']} has refunded {-paid:.2f} more "
                "than it paid: void those refunds first"
            }
        )
    return _settle(context, order)


def settle_order(context, params) -> str:
    """The order's total or customer changed: its payment status follows the total, and
    its payments the customer."""
    order = context.load(ORDERS)
    payments = context.table(PAYMENTS)
    customer = order.values["customer"]
    elsewhere = context.conn.execute(
        select(payments.c.id).where(
            payments.c.order == context.record_id, payments.c.customer != customer
        )
    ).scalars()
    for payment_id in list(elsewhere):
        context.force(PAYMENTS, payment_id, values={"customer": customer})
    return _settle(context, order)


def record_refund(context, params) -> str:
    """The return's refund is paid out: a negative payment of its order, bound to it, by
    the return's refund method or else the way the order was last paid."""
    rma = context.load(RETURNS).values
    amount = rma["refund_amount"]
    if not amount:
        return msg("nothing to refund")
    order = _locked(context, rma["order"])
    paid = _sums(context, order.values["id"])[0]
    if amount > paid:
        raise RecordRefused({"refund_amount": _most_refundable(order.values["number"], paid)})
    made = context.create(
        PAYMENTS,
        {
            "order": order.values["id"],
            "rma": rma["id"],
            "amount": -amount,
            "method": rma["refund_method"] or _last_method(context, order.values["id"]),
            "paid_at": clock.now(),
        },
    )
    return msg("refunded {amount} in {number}", amount=format(amount, ".2f"), number=made["number"])


def _last_method(context, order_id: int) -> str:
    """How the order's latest payment received (not void) was made."""
    payments = context.table(PAYMENTS)
    return context.conn.execute(
        select(payments.c.method)
        .where(payments.c.order == order_id, payments.c.status != "void", payments.c.amount > 0)
        .order_by(payments.c.paid_at.desc(), payments.c.id.desc())
        .limit(1)
    ).scalar()


@hookimpl
def apploom_actions():
    return {
        "record_payment": record_payment,
        "void_payment": void_payment,
        "settle_order": settle_order,
        "record_refund": record_refund,
    }
