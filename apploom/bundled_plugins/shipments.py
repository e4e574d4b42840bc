"""Shipments (发货单): an order leaves in one or more parcels, each from one warehouse
with its own carrier and tracking number, carrying what the order holds reserved there.

Starting to pick an order packs a parcel per warehouse holding its reservations; staff
may take lines or quantities out of one (they ship later in another parcel) or add one
by hand. A parcel carries only what the order holds in its warehouse and no other open
parcel carries. Shipping a parcel issues its goods (a ``ship`` move lowers on hand and
reserved), counts them on the order's lines and moves the order on: partly shipped
after the first of several parcels, shipped after the last. Shipping the order ships
every open parcel and packs one for whatever is left. Each action is named in a rule
of apps/oms.yaml.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import func, select

from apploom.plugin import RecordRefused, clock, hookimpl, msg

ORDERS, SHIPMENTS, ITEMS, MOVES = "oms.order", "oms.shipment", "wms.item", "wms.stock_move"
SHIPPING = ("picking", "partly_shipped", "shipped")  # orders whose parcels may be packed


def _unpacked(context, order, leaving_out: int | None = None) -> Counter:
    """What the order holds reserved and no open parcel (but ``leaving_out``) carries,
    by (item, warehouse)."""
    held: Counter = Counter()
    for line in order.rows["lines"]:
        if line["reserved"]:
            held[(line["item"], line["warehouse"])] += line["reserved"]
    parcels, lines = context.table(SHIPMENTS), context.table("oms.shipment_line")
    packed = context.conn.execute(
        select(lines.c.item, parcels.c.warehouse, func.sum(lines.c.qty))
        .join(parcels, lines.c.parent_id == parcels.c.id)
        .where(
            parcels.c.order == order.values["id"],
            parcels.c.status == "picking",
            parcels.c.id != (leaving_out or 0),
        )
        .group_by(lines.c.item, parcels.c.warehouse)
    ).all()
    for item, warehouse, qty in packed:
        held[(item, warehouse)] -= qty
    return +held


def _contents(context, lines: list[dict]) -> str:
    titles = context.titles(ITEMS, {line["item"] for line in lines})
    return "\n".join(f"{line['qty']} x {titles[line['item']]}" for line in lines)


def check_shipment(context, params) -> str:
    """Refuse parcel lines the order does not hold in the parcel's warehouse, or more
    than other open parcels leave of them; a parcel saved without lines starts from all
    that is left there. The parcel takes the order's customer and, unless one is
    chosen, its carrier."""
    parcel = context.load(SHIPMENTS)
    order = context.load(ORDERS, parcel.values["order"])
    number, status = order.values["number"], order.values["status"]
    if status not in SHIPPING:
        raise RecordRefused(
            {"order": f"{number} is {status}: parcels are packed once an order is picked"}
        )
    warehouse = parcel.values["warehouse"]
    left = _unpacked(context, order, parcel.values["id"])
    if not parcel.rows["lines"]:
        here = [
            {"item": item, "qty": qty} for (item, house), qty in left.items() if house == warehouse
        ]
        if not here or context.names["old"] is not None:
            raise RecordRefused(
                {"lines": f"{number} holds nothing in this warehouse that no parcel carries"}
                if not here
                else {"lines": "a parcel carries at least one item"}
            )
        context.set({"lines": here})  # checked again by the rule on the lines
        return msg("packed what {number} holds here", number=number)
    errors = {}
    for i, line in enumerate(parcel.rows["lines"]):
        key = (line["item"], warehouse)
        if not left[key]:
            errors[f"lines.{i}.item"] = f"{number} holds none of this item here for a parcel"
        elif line["qty"] > left[key]:
            errors[f"lines.{i}.qty"] = f"at most {left[key]}: what {number} holds here unpacked"
        left[key] -= min(line["qty"], left[key])
    if errors:
        raise RecordRefused(errors)
    values = {
        "customer": order.values["customer"],
        "contents": _contents(context, parcel.rows["lines"]),
    }
    if not parcel.values["carrier"]:
        values["carrier"] = order.values["carrier"]
    context.force(SHIPMENTS, parcel.values["id"], values=values)
    return msg("within what {number} holds", number=number)


def plan_shipments(context, params) -> str:
    """Pack a parcel per warehouse for what the order holds and no parcel carries."""
    order = context.load(ORDERS)
    by_warehouse = defaultdict(list)
    for (item, warehouse), qty in sorted(_unpacked(context, order).items()):
        by_warehouse[warehouse].append({"item": item, "qty": qty})
    for warehouse, lines in by_warehouse.items():
        context.create(
            SHIPMENTS, {"order": context.record_id, "warehouse": warehouse, "lines": lines}
        )
    return msg("packed {count} parcel(s)", count=len(by_warehouse))


def ship_order(context, params) -> str:
    """Ship everything left: pack what no parcel carries, then ship each open parcel
    with the order's carrier. A tracking number typed on the order goes to its parcel
    when it leaves in one."""
    plan_shipments(context, params)
    order = context.load(ORDERS)
    parcels = context.table(SHIPMENTS)
    waiting = context.conn.execute(
        select(parcels.c.id, parcels.c.carrier, parcels.c.tracking_number)
        .where(parcels.c.order == context.record_id, parcels.c.status == "picking")
        .order_by(parcels.c.id)
    ).all()
    context.lock(ITEMS, (line["item"] for line in order.rows["lines"]))  # before any parcel's
    typed = order.values["tracking_number"] if len(waiting) == 1 else None
    for parcel in waiting:
        given = {"carrier": parcel.carrier or order.values["carrier"]}
        if typed and not parcel.tracking_number:
            given["tracking_number"] = typed
        context.force(SHIPMENTS, parcel.id, values=given)
        context.take("ship", SHIPMENTS, parcel.id)
    for line in context.load(ORDERS).rows["lines"]:
        if (line["shipped"] or 0) < line["qty"]:
            raise ValueError(
                msg("line {number} holds no stock: it cannot ship", number=line["position"] + 1)
            )
    return msg("shipped {count} parcel(s)", count=len(waiting))


def issue_shipment(context, params) -> str:
    """The parcel leaves: its goods are issued from what the order's lines hold in its
    warehouse, counted as shipped on them, and the order moves on."""
    parcel = context.load(SHIPMENTS)
    order_id, warehouse = parcel.values["order"], parcel.values["warehouse"]
    context.lock(ORDERS, [order_id])  # two parcels of one order count in turn
    order = context.load(ORDERS, order_id)
    number, status = order.values["number"], order.values["status"]
    if status not in SHIPPING:
        raise ValueError(
            msg(
                "{number} is {status}: its parcels cannot leave",
                number=number,
                status=context.automation.records.entity(ORDERS).workflow.states[status].label,
            )
        )
    held = {line["id"]: {**line, "shipped": line["shipped"] or 0} for line in order.rows["lines"]}
    for line in sorted(parcel.rows["lines"], key=lambda line: line["item"]):
        left = line["qty"]
        for row in held.values():
            if row["item"] != line["item"] or row["warehouse"] != warehouse or not left:
                continue
            taken = min(left, row["reserved"])
            if taken:
                context.create(
                    MOVES,
                    {
                        "item": row["item"],
                        "warehouse": warehouse,
                        "kind": "ship",
                        "qty": taken,
                        "document": parcel.values["number"],
                        "line": row["id"],
                    },
                )
                row["reserved"] -= taken
                row["shipped"] += taken
                left -= taken
        if left:
            raise ValueError(
                f"line {line['position'] + 1}: {left} more than {number} holds of this item here"
            )
    done = all(row["shipped"] >= row["qty"] for row in held.values())
    values: dict = {"tracking_number": _tracking_numbers(context, order_id)}
    if done:
        values["shipped_at"] = clock.now()
    changes = {i: {"reserved": r["reserved"], "shipped": r["shipped"]} for i, r in held.items()}
    context.force(ORDERS, order_id, values=values, rows={"lines": changes})
    if status != "shipped":
        step = "ship_last" if done else "ship_part" if status == "picking" else None
        if step:
            context.take(step, ORDERS, order_id)
    return msg("issued {count} line(s) of {number}", count=len(parcel.rows["lines"]), number=number)


def _tracking_numbers(context, order_id: int) -> str:
    """The order's parcels' tracking numbers, as they left."""
    parcels = context.table(SHIPMENTS)
    found = context.conn.execute(
        select(parcels.c.tracking_number)
        .where(
            parcels.c.order == order_id,
            parcels.c.status == "shipped",
            parcels.c.tracking_number.is_not(None),
        )
        .order_by(parcels.c.shipped_at, parcels.c.id)
    ).scalars()
    return ", ".join(found)


@hookimpl
def apploom_actions():
    return {
        "check_shipment": check_shipment,
        "plan_shipments": plan_shipments,
        "ship_order": ship_order,
        "issue_shipment": issue_shipment,
    }
