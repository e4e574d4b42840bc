"""After-sales bounds: a return (RMA) brings back only what its order's parcels shipped,
less what earlier returns brought back, and refunds at most what those goods were sold
for (payments.py pays the refund out, within what the order has paid). The action is
named in a rule of apps/oms.yaml.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select

from apploom.plugin import RecordRefused, hookimpl, msg

ORDERS, RETURNS = "oms.order", "oms.return"


def check_return(context, params) -> str:
    """Refuse return lines for items the order did not ship, or more than is left of
    them, and a refund beyond what the returned goods were sold for."""
    rma = context.load(RETURNS)
    order = context.load(ORDERS, rma.values["order"])
    number = order.values["number"]
    shipped: Counter = Counter()
    price: dict[int, Decimal] = {}
    for line in order.rows["lines"]:
        if line["shipped"]:
            shipped[line["item"]] += line["shipped"]
            price[line["item"]] = max(price.get(line["item"], Decimal(0)), line["price"])
    left = shipped - _returned_before(context, order.values["id"], rma.values["id"])
    errors, value = {}, Decimal(0)
    for i, line in enumerate(rma.rows["lines"]):
        item, qty = line["item"], line["qty"]
        if not shipped[item]:
            errors[f"lines.{i}.item"] = f"{number} shipped none of this item"
        elif qty > left[item]:
            errors[f"lines.{i}.qty"] = (
                f"at most {left[item]} can come back: {number} shipped {shipped[item]}, "
                f"and {shipped[item] - left[item]} came back already"
            )
        else:
            left[item] -= qty
            value += qty * price[item]
    refund = rma.values["refund_amount"]
    if not errors and refund is not None and refund > value:
        errors["refund_amount"] = f"may be at most {value:.2f}, what the goods were sold for"
    if errors:
        raise RecordRefused(errors)
    return msg("within what {number} shipped", number=number)


def _returned_before(context, order_id: int, rma_id: int) -> Counter:
    """What the order's other returns (but rejected ones) bring back, by item."""
    returns, lines = context.table(RETURNS), context.table("oms.return_line")
    rows = context.conn.execute(
        select(lines.c.item, func.sum(lines.c.qty))
        .join(returns, lines.c.parent_id == returns.c.id)
        .where(returns.c.order == order_id, returns.c.id != rma_id, returns.c.status != "rejected")
        .group_by(lines.c.item)
    ).all()
    return Counter(dict(rows))


@hookimpl
def apploom_actions():
    return {
        "check_return": check_return,
    }
