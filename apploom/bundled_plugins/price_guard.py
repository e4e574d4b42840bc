"""The price guard: a line sold below its item's cost, or below its list price by more
than a set share, needs one of the approving roles to confirm the order; anyone else is
refused with the line named, so a mistyped or overly generous price never goes through
unseen. A line's price is what it sells for after its own discount (amount / qty).

Which orders it watches (those whose prices staff type, say) is its rule's condition,
in apps/oms.yaml:

    - name: guard_prices
      on: {transition: confirm}
      if: "channel in ('store', 'phone', 'email')"
      do:
        - check_prices: {below_list: 20, approvers: [manager]}
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from apploom.plugin import RecordRefused, hookimpl, msg

ORDERS, ITEMS = "oms.order", "wms.item"


def check_prices(context, params) -> str:
    user = context.change.user
    approvers = set(params.get("approvers") or ["manager"])
    if user is None or user.is_admin or approvers & user.roles:
        return msg("prices need no approval from this user")
    share = Decimal(str(params.get("below_list", 20)))
    lines = context.load(ORDERS).rows["lines"]
    items = context.table(ITEMS)
    catalogue = {
        row.id: (row.price, row.cost)
        for row in context.conn.execute(
            select(items.c.id, items.c.price, items.c.cost).where(
                items.c.id.in_({line["item"] for line in lines})
            )
        )
    }
    who = " or ".join(sorted(approvers))
    errors = {}
    for i, line in enumerate(lines):
        sold = line["amount"] / line["qty"]
        listed, cost = catalogue[line["item"]]
        if cost is not None and sold < cost:
            errors[f"lines.{i}.price"] = (
                f"sells at {sold:.2f}, below the item's cost {cost:.2f}: a {who} must confirm"
            )
        elif listed and sold < listed * (100 - share) / 100:
            errors[f"lines.{i}.price"] = (
                f"sells at {sold:.2f}, more than {share}% below the list price {listed:.2f}: "
                f"a {who} must confirm"
            )
    if errors:
        raise RecordRefused(errors)
    return msg("every line within the price guard")


@hookimpl
def apploom_actions():
    return {"check_prices": check_prices}
