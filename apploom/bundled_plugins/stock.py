"""Stock for orders: reserve on confirm or backorder with the expected arrival, allocate
arrivals to backorders first come first served, release on cancel, restock returns, post
purchase receipts and transfers, and propose a purchase order when an item runs low
(parcels issue what orders reserved: shipments.py).

Every quantity moves through the ledger ``wms.stock_move``; its ``stock`` balance (on
hand and reserved per item and warehouse) refuses any move that would leave
``on_hand - reserved`` below zero, atomically. A reservation is tried inside a savepoint,
so a line that loses the race to a concurrent order is backordered instead of failing
the whole confirmation. Each action is named in a rule of apps/oms.yaml or apps/wms.yaml.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlalchemy import and_, func, select

from apploom.plugin import BalanceRefused, RecordRefused, clock, hookimpl, msg

MOVES, ORDERS, ITEMS = "wms.stock_move", "oms.order", "wms.item"
PURCHASES = "wms.purchase_order"


def _move(
    context, kind: str, item: int, warehouse: int, qty: int, document: str, line: int | None = None
) -> None:
    """A ledger row. Its balance locks the item's row before the item's stock, so every
    transaction moving an item takes its locks in one order: a transfer, an order and an
    arrival meeting on one item wait for each other instead of deadlocking."""
    context.create(
        MOVES,
        {
            "item": item,
            "warehouse": warehouse,
            "kind": kind,
            "qty": qty,
            "document": document,
            "line": line,
        },
    )


def _waiting_before(context, item: int, order) -> int:
    """How much of ``item`` backordered orders older than ``order`` still wait for."""
    orders, lines = context.table(ORDERS), context.table("oms.order_line")
    date, order_id = order.values["order_date"], order.values["id"]
    return context.conn.execute(
        select(func.coalesce(func.sum(lines.c.qty), 0))
        .join(orders, lines.c.parent_id == orders.c.id)
        .where(
            orders.c.status == "backordered",
            lines.c.item == item,
            lines.c.reserved == 0,
            orders.c.id != order_id,
            (orders.c.order_date < date)
            | ((orders.c.order_date == date) & (orders.c.id < order_id)),
        )
    ).scalar()


def _free_stock(context, line: dict, order) -> list[int]:
    """Warehouses where the line can be reserved whole, the order's own first, then the
    fullest; none while older backorders wait for what is free (first come, first
    served)."""
    stock = context.balance("wms.stock")
    free = (stock.c.on_hand - stock.c.reserved).label("free")
    rows = context.conn.execute(
        select(stock.c.warehouse, free).where(stock.c.item == line["item"])
    ).all()
    if sum(r.free for r in rows) - _waiting_before(context, line["item"], order) < line["qty"]:
        return []
    preferred = order.values["warehouse"]
    return [
        r.warehouse
        for r in sorted(rows, key=lambda r: (r.warehouse != preferred, -r.free))
        if r.free >= line["qty"]
    ]


def _reserve(context, line: dict, order) -> int | None:
    """Reserve a whole line in one warehouse; the warehouse, or None if none has it free."""
    for warehouse in _free_stock(context, line, order):
        try:
            with context.attempt():
                _move(
                    context,
                    "reserve",
                    line["item"],
                    warehouse,
                    line["qty"],
                    order.values["number"],
                    line["id"],
                )
            return warehouse
        except BalanceRefused:
            continue  # a concurrent order took it since we looked
    return None


def _in_lock_order(lines: list[dict]) -> list[dict]:
    """Lines by item, so transactions lock the same balance rows in the same order (on
    PostgreSQL, two orders locking them in turn would deadlock)."""
    return sorted(lines, key=lambda line: (line["item"], line["id"]))


def _expected_arrival(context, line: dict, order, today: date) -> date:
    """When the line can be served (available to promise): the first open purchase order
    by whose arrival the free stock and what is coming cover the older backorders and
    this line; else, as something must still be bought, today plus the lead time."""
    item = line["item"]
    po, pl = context.table(PURCHASES), context.table("wms.purchase_line")
    arrivals = context.conn.execute(
        select(po.c.expected_date, func.sum(pl.c.qty - pl.c.received))
        .join(pl, pl.c.parent_id == po.c.id)
        .where(
            pl.c.item == item,
            pl.c.qty > pl.c.received,
            po.c.status.in_(["ordered", "partly_received"]),
            po.c.expected_date.is_not(None),
        )
        .group_by(po.c.expected_date)
        .order_by(po.c.expected_date)
    ).all()
    stock = context.balance("wms.stock")
    covered = context.conn.execute(
        select(func.coalesce(func.sum(stock.c.on_hand - stock.c.reserved), 0)).where(
            stock.c.item == item
        )
    ).scalar()
    needed = _waiting_before(context, item, order) + line["qty"]
    for day, qty in arrivals:
        covered += qty
        if covered >= needed:
            return max(day, today)
    items = context.table(ITEMS)
    lead = context.conn.execute(select(items.c.lead_time_days).where(items.c.id == item)).scalar()
    return today + timedelta(days=lead or 0)


def _allocate(context, order_id: int, arrived: int | None = None) -> tuple[int, int]:
    """Reserve every unreserved line of an order, or only those of the item that
    ``arrived`` (whose lock the arrival holds: the other items' own arrivals serve
    theirs); record what is short and when it is expected. Returns (lines reserved now,
    lines still short)."""
    order = context.load(ORDERS, order_id)
    waiting = [line for line in _in_lock_order(order.rows["lines"]) if not line["reserved"]]
    if arrived is None:  # all its items locked first: proposals below lock them again
        context.lock(ITEMS, (line["item"] for line in waiting))
    changes, short = {}, []
    for line in waiting:
        if arrived is not None and line["item"] != arrived:
            short.append(line)
            continue
        warehouse = _reserve(context, line, order)
        if warehouse is None:
            short.append(line)
            continue
        changes[line["id"]] = {
            "reserved": line["qty"],
            "warehouse": warehouse,
            "expected_date": None,
        }
    values, dates = _promise(context, order, short)
    context.force(
        ORDERS,
        order_id,
        values={**values, **({"was_backordered": True} if short else {})},
        rows={"lines": {**changes, **dates}},
    )
    if arrived is None:  # a backorder's short lines were proposed for when it was made
        for line in short:
            _propose(context, line["item"], order.values["warehouse"], line["qty"])
    return len(changes), len(short)


def _promise(context, order, short: list[dict]) -> tuple[dict, dict]:
    """When each short line is expected, and the order's shortage and expected date:
    (the order's values, the lines' values by id)."""
    today = clock.today()
    titles = context.titles(ITEMS, {line["item"] for line in short})
    dates = {line["id"]: _expected_arrival(context, line, order, today) for line in short}
    shortage = "\n".join(
        f"{line['qty']} x {titles[line['item']]} ({dates[line['id']].isoformat()})"
        for line in short
    )
    values = {"shortage": shortage or None, "expected_date": max(dates.values(), default=None)}
    return values, {line_id: {"expected_date": day} for line_id, day in dates.items()}


def redate_backorders(context, params) -> str:
    """A purchase order was placed, re-dated, received or cancelled: the backordered
    orders waiting for its items are told again when to expect them (a rule emails the
    customer when the date moves later)."""
    if not context.defines(ORDERS):
        return msg("no order app: nothing to re-date")
    items = {line["item"] for line in context.load(PURCHASES).rows["lines"]}
    orders, lines = context.table(ORDERS), context.table("oms.order_line")
    waiting = (
        context.conn.execute(
            select(orders.c.id)
            .join(lines, lines.c.parent_id == orders.c.id)
            .where(orders.c.status == "backordered", lines.c.item.in_(items), lines.c.reserved == 0)
            .group_by(orders.c.id, orders.c.order_date)
            .order_by(orders.c.order_date, orders.c.id)
        )
        .scalars()
        .all()
    )
    moved = 0
    for order_id in waiting:
        order = context.load(ORDERS, order_id)
        short = [line for line in order.rows["lines"] if not line["reserved"]]
        values, dates = _promise(context, order, short)
        if values["expected_date"] != order.values["expected_date"]:
            context.force(ORDERS, order_id, values=values, rows={"lines": dates})
            moved += 1
    return msg("re-dated {moved} of {count} backordered order(s)", moved=moved, count=len(waiting))


def reserve_stock(context, params) -> str:
    """On confirm: reserve every line, or backorder the order (the customer is emailed
    by the rule on the backorder transition)."""
    reserved, short = _allocate(context, context.record_id)
    if short:
        context.take("backorder")
        return msg(
            "reserved {reserved} line(s); {short} short: backordered",
            reserved=reserved,
            short=short,
        )
    return msg("reserved {reserved} line(s)", reserved=reserved)


def allocate_backorders(context, params) -> str:
    """Stock arrived: offer it to backordered orders waiting for the item, oldest order
    first. An order that cannot be served stops the round for this item, so stock is
    never handed to a later order while an earlier one still waits for it."""
    if not context.defines(ORDERS):
        return msg("no order app: nothing to allocate")
    item = context.names["item"]
    waiting = _backorders(context, item)
    if waiting:  # asked again under the item's lock: another arrival may have served them
        context.lock(ITEMS, [item])
        waiting = _backorders(context, item)
    lines = context.table("oms.order_line")
    served = []
    for order_id in waiting:
        if not _still_backordered(context, order_id):
            continue  # cancelled meanwhile: what it would take goes to the next
        _, short = _allocate(context, order_id, arrived=item)
        still_waiting = context.conn.execute(
            select(lines.c.id).where(
                lines.c.parent_id == order_id, lines.c.item == item, lines.c.reserved == 0
            )
        ).first()
        if not short:
            context.take("allocate", ORDERS, order_id)
            served.append(order_id)
        if still_waiting:
            break
    return msg("allocated {count} backordered order(s)", count=len(served))


def _still_backordered(context, order_id: int) -> bool:
    """Lock the order and say whether it still waits. The arrival holds the item's lock
    and a cancellation takes the order's first, then the item's: rather than wait for
    it (a deadlock), the arrival gives way at once and runs again (NOWAIT: a lock
    conflict, retried)."""
    orders = context.table(ORDERS)
    status = context.conn.execute(
        select(orders.c.status)
        .where(orders.c.id == order_id)
        .with_for_update(key_share=True, nowait=True)
    ).scalar()
    return status == "backordered"


def _backorders(context, item: int) -> list[int]:
    """The backordered orders waiting for ``item``, oldest first."""
    orders, lines = context.table(ORDERS), context.table("oms.order_line")
    return (
        context.conn.execute(
            select(orders.c.id)
            .join(lines, lines.c.parent_id == orders.c.id)
            .where(orders.c.status == "backordered", lines.c.item == item, lines.c.reserved == 0)
            .group_by(orders.c.id, orders.c.order_date)
            .order_by(orders.c.order_date, orders.c.id)
        )
        .scalars()
        .all()
    )


def release_stock(context, params) -> str:
    """On cancel: give back what the order's lines hold."""
    order = context.load(ORDERS)
    changes = {}
    for line in _in_lock_order(order.rows["lines"]):
        if line["reserved"]:
            _move(
                context,
                "release",
                line["item"],
                line["warehouse"],
                line["reserved"],
                order.values["number"],
                line["id"],
            )
            changes[line["id"]] = {"reserved": 0}
    if changes:
        context.force(ORDERS, context.record_id, rows={"lines": changes})
    return msg("released {count} line(s)", count=len(changes))


def restock(context, params) -> str:
    """A return came back: resaleable goods go back on the shelf."""
    rma = context.load("oms.return")
    back = [line for line in _in_lock_order(rma.rows["lines"]) if line["resaleable"]]
    for line in back:
        _move(
            context,
            "return",
            line["item"],
            rma.values["warehouse"],
            line["qty"],
            rma.values["number"],
            line["id"],
        )
    return msg("restocked {count} line(s)", count=len(back))


def receive_purchase(context, params) -> str:
    """Goods received: every outstanding purchase line becomes a receipt."""
    po = context.load(PURCHASES)
    due = [
        line for line in _in_lock_order(po.rows["lines"]) if line["qty"] > (line["received"] or 0)
    ]
    context.force(
        PURCHASES,
        context.record_id,
        rows={
            "lines": {  # before the arrivals'
                line["id"]: {"received": line["qty"]} for line in due
            }
        },
    )  # rules look
    for line in due:
        _move(
            context,
            "receipt",
            line["item"],
            po.values["warehouse"],
            line["qty"] - (line["received"] or 0),
            po.values["number"],
            line["id"],
        )
    return msg("received {count} line(s)", count=len(due))


def check_receipt(context, params) -> str:
    """Refuse receipt lines for items not on the purchase order, or more than it still
    expects of them (plus the item's tolerance); a receipt saved without lines starts
    from everything the order still expects."""
    receipt = context.load("wms.goods_receipt")
    po = context.load(PURCHASES, receipt.values["purchase_order"])
    number = po.values["number"]
    if po.values["status"] not in ("ordered", "partly_received"):
        raise RecordRefused(
            {
                "purchase_order": f"{number} is {po.values['status']}: goods are "
                "received only against an ordered purchase order"
            }
        )
    expected = _expected(po)
    if not receipt.rows["lines"]:
        context.set({"lines": [{"item": i, "qty": q} for i, q in expected.items() if q > 0]})
        return msg("started from what {number} still expects", number=number)
    taken: Counter = Counter()
    errors, zh = {}, {}
    for i, line in enumerate(receipt.rows["lines"]):
        item = line["item"]
        if item not in expected:
            errors[f"lines.{i}.item"] = f"is not on {number}"
            zh[f"lines.{i}.item"] = f"不在采购单 {number} 中"
            continue
        taken[item] += line["qty"]
        allowed = expected[item] + _tolerance(context, po, item)
        if taken[item] > allowed:
            still = max(expected[item], 0)
            errors[f"lines.{i}.qty"] = f"{number} still expects {still}" + (
                f" (with the item's tolerance, up to {allowed})" if allowed > expected[item] else ""
            )
            zh[f"lines.{i}.qty"] = f"采购单 {number} 尚待收货 {still} 件" + (
                f"（含超收容差，最多 {allowed} 件）" if allowed > expected[item] else ""
            )
    if errors:
        raise RecordRefused(errors, zh=zh)
    return msg("within what {number} expects", number=number)


def _expected(po) -> Counter:
    """What a purchase order still expects, by item."""
    expected: Counter = Counter()
    for line in po.rows["lines"]:
        expected[line["item"]] += line["qty"] - (line["received"] or 0)
    return expected


def _tolerance(context, po, item: int) -> int:
    """How many more than ordered may arrive of an item: its over-receipt tolerance, a
    percentage of what the purchase order ordered of it."""
    items = context.table(ITEMS)
    percent = context.conn.execute(
        select(items.c.receipt_tolerance).where(items.c.id == item)
    ).scalar()
    ordered = sum(line["qty"] for line in po.rows["lines"] if line["item"] == item)
    return ordered * (percent or 0) // 100


def post_goods_receipt(context, params) -> str:
    """Part of a purchase order arrived: each receipt line is posted into the order's
    warehouse and counted on the order's lines of that item, and the order becomes
    partly or wholly received. More than the order still expects is refused."""
    receipt = context.load("wms.goods_receipt")
    po_id = receipt.values["purchase_order"]
    context.lock(PURCHASES, [po_id])  # two receipts for one order count in turn
    po = context.load(PURCHASES, po_id)
    number = po.values["number"]
    if po.values["status"] not in ("ordered", "partly_received"):
        raise ValueError(
            f"{number} is {po.values['status']}: goods are received only "
            "against an ordered purchase order"
        )
    received = {line["id"]: line["received"] or 0 for line in po.rows["lines"]}
    for line in receipt.rows["lines"]:
        left = line["qty"]
        ordered = [o for o in po.rows["lines"] if o["item"] == line["item"]]
        for row in ordered:
            taken = max(min(left, row["qty"] - received[row["id"]]), 0)
            received[row["id"]] += taken
            left -= taken
        over = sum(received[o["id"]] - o["qty"] for o in ordered)
        if not ordered or left > _tolerance(context, po, line["item"]) - over:
            raise ValueError(
                f"line {line['position'] + 1}: {left} more than {number} still expects of this item"
            )
        if left:
            received[ordered[-1]["id"]] += left  # more than ordered, within the tolerance
    # counted first: the arrivals' rules ask what is still due
    context.force(
        PURCHASES,
        po_id,
        rows={"lines": {line_id: {"received": qty} for line_id, qty in received.items()}},
    )
    for line in _in_lock_order(receipt.rows["lines"]):
        _move(
            context,
            "receipt",
            line["item"],
            po.values["warehouse"],
            line["qty"],
            receipt.values["number"],
            line["id"],
        )
    complete = all(received[line["id"]] >= line["qty"] for line in po.rows["lines"])
    if complete:
        context.take("receive", PURCHASES, po_id)
    elif po.values["status"] == "ordered":
        context.take("receive_part", PURCHASES, po_id)
    return msg(
        "received {count} line(s) of {number}", count=len(receipt.rows["lines"]), number=number
    )


def post_transfer(context, params) -> str:
    """A transfer between warehouses: out of one, into the other, line by line."""
    transfer = context.load("wms.stock_transfer")
    number = transfer.values["number"]
    for line in _in_lock_order(transfer.rows["lines"]):
        _move(
            context,
            "transfer_out",
            line["item"],
            transfer.values["from_warehouse"],
            line["qty"],
            number,
            line["id"],
        )
        _move(
            context,
            "transfer_in",
            line["item"],
            transfer.values["to_warehouse"],
            line["qty"],
            number,
            line["id"],
        )
    return msg("moved {count} line(s)", count=len(transfer.rows["lines"]))


def propose_purchase(context, params) -> str:
    """A stock move lowered an item's free stock: propose a purchase if it ran low."""
    return _propose(context, context.names["item"], context.names["warehouse"])


def _propose(context, item_id: int, warehouse: int | None, wanted: int = 0) -> str:
    """Draft a purchase order for the item's preferred supplier (a rule tells purchasing)
    when what is free, less what backorders wait for, plus what open purchase orders
    bring, is below its reorder point, or below zero: back up to twice the reorder point,
    and at least what the backorders need (``wanted``: a line about to wait too)."""
    conn = context.conn
    items = context.table(ITEMS)
    # Locked (already, by the move's balance), so concurrent moves of the item from
    # other warehouses, whose stock rows do not lock each other, count each other's
    # proposals instead of proposing twice.
    context.lock(ITEMS, [item_id])
    item = conn.execute(select(items).where(items.c.id == item_id)).mappings().one()
    stock = context.balance("wms.stock")
    free = conn.execute(
        select(func.coalesce(func.sum(stock.c.on_hand - stock.c.reserved), 0)).where(
            stock.c.item == item_id
        )
    ).scalar()
    po, pl = context.table(PURCHASES), context.table("wms.purchase_line")
    incoming = conn.execute(
        select(func.coalesce(func.sum(pl.c.qty - pl.c.received), 0))
        .join(
            po,
            and_(
                pl.c.parent_id == po.c.id, po.c.status.in_(["draft", "ordered", "partly_received"])
            ),
        )
        .where(pl.c.item == item_id)
    ).scalar()
    position = free - _backordered(context, item_id) - wanted + incoming
    point = item["reorder_point"] or 0
    if position >= point and position >= 0:
        return msg("stock is sufficient")
    qty = max(2 * point - position, -position)
    if warehouse is None:  # an order without a Ship from: the first warehouse
        houses = context.table("wms.warehouse")
        warehouse = conn.execute(select(func.min(houses.c.id))).scalar()
    order = context.create(
        PURCHASES,
        {
            "supplier": item["preferred_supplier"] or "?",
            "warehouse": warehouse,
            "origin": "reorder",
            "expected_date": (
                clock.today() + timedelta(days=item["lead_time_days"] or 0)
            ).isoformat(),
            "lines": [{"item": item_id, "qty": qty, "cost": str(item["cost"] or 0)}],
        },
    )
    return msg("proposed {number} for {qty}", number=order["number"], qty=qty)


def _backordered(context, item: int) -> int:
    """How much of ``item`` backordered orders wait for."""
    if not context.defines(ORDERS):
        return 0
    orders, lines = context.table(ORDERS), context.table("oms.order_line")
    return context.conn.execute(
        select(func.coalesce(func.sum(lines.c.qty), 0))
        .join(orders, lines.c.parent_id == orders.c.id)
        .where(orders.c.status == "backordered", lines.c.item == item, lines.c.reserved == 0)
    ).scalar()


@hookimpl
def apploom_actions():
    return {
        "reserve_stock": reserve_stock,
        "allocate_backorders": allocate_backorders,
        "release_stock": release_stock,
        "restock": restock,
        "receive_purchase": receive_purchase,
        "post_goods_receipt": post_goods_receipt,
        "check_receipt": check_receipt,
        "post_transfer": post_transfer,
        "propose_purchase": propose_purchase,
        "redate_backorders": redate_backorders,
    }
