"""Scans on the warehouse floor, checked where they are written: each is an inbound
webhook ``scan`` on a record (apps/oms.yaml, apps/wms.yaml), called by the floor's
screens and open to a handheld's own app through the API. Its payload is ``{"code":
..., "qty": ...}``; the code is an item's SKU or barcode.

- A parcel being picked (``oms.shipment``): one more of the item is picked; an item
  the parcel does not carry, or one more than it carries, is refused.
- A purchase order being received (``wms.purchase_order``): the quantity goes into the
  order's draft goods receipt (started by the first scan), which the receipt's own
  rule holds to what the order still expects.
- A stock count (``wms.stock_count``): the quantity is added to what was counted of the
  item; posting the count books each difference from the stock on hand as a count gain
  or loss.

A refusal names the field ``code`` or ``qty`` and says why, in English and Chinese
(the screens show it in the user's language); the scan then changes nothing.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, or_, select

from apploom.plugin import RecordRefused, hookimpl, msg

SHIPMENTS, ITEMS, MOVES = "oms.shipment", "wms.item", "wms.stock_move"
PURCHASES, RECEIPTS, COUNTS = "wms.purchase_order", "wms.goods_receipt", "wms.stock_count"
MAX_QTY = 100_000  # more than any one scan can mean: a code typed into the quantity


def _refuse(field: str, en: str, zh: str) -> RecordRefused:
    return RecordRefused({field: en}, zh={field: zh})


def _payload(context) -> tuple[str, int]:
    """The scanned code and quantity, checked."""
    given = context.names.get("payload")
    given = given if isinstance(given, dict) else {}
    code = given.get("code")
    if not isinstance(code, str) or not code.strip():
        raise _refuse("code", "scan or type a code", "请扫描或输入条码")
    qty = given.get("qty", 1)
    if isinstance(qty, str) and qty.strip().isdigit():
        qty = int(qty)
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise _refuse(
            "qty", f"must be a whole number from 1 to {MAX_QTY}", f"数量须为 1 到 {MAX_QTY} 的整数"
        )
    return code.strip(), qty


def _item(context, code: str) -> tuple[int, str]:
    """The item whose SKU or barcode is ``code`` (a SKU in any case), and its title."""
    items = context.table(ITEMS)
    found = context.conn.execute(
        select(items.c.id)
        .where(or_(items.c.sku == code.upper(), items.c.barcode == code))
        .order_by(items.c.id)
        .limit(1)
    ).scalar()
    if found is None:
        raise _refuse(
            "code", f"no item has the SKU or barcode {code}", f"没有商品的编码或条码是 {code}"
        )
    return found, context.titles(ITEMS, [found])[found]


def _status(context, ref: str, allowed: tuple[str, ...], doing: tuple[str, str]):
    """This record as stored, refused unless in one of the ``allowed`` states; ``doing``
    says which, in English and Chinese."""
    record = context.load(ref)
    number, status = record.values["number"], record.values["status"]
    if status not in allowed:
        state = context.entity.workflow.states[status].label
        raise _refuse(
            "code", f"{number} is {state.en}: {doing[0]}", f"{number}{state.zh}：{doing[1]}"
        )
    return record


def pick_scan(context, params) -> str:
    """One more of the scanned item is picked into the parcel."""
    code, qty = _payload(context)
    parcel = _status(
        context,
        SHIPMENTS,
        ("picking",),
        ("only a parcel being picked is scanned", "只有拣货中的包裹可以扫描"),
    )
    item, title = _item(context, code)
    lines = [line for line in parcel.rows["lines"] if line["item"] == item]
    if not lines:
        raise _refuse("code", f"{title} is not in this parcel", f"{title} 不在此包裹中")
    wanted = sum(line["qty"] for line in lines)
    picked = sum(line["picked"] or 0 for line in lines)
    if picked + qty > wanted:
        raise _refuse(
            "code",
            f"{title}: the parcel takes {wanted}, {picked} already scanned",
            f"{title}：包裹只需 {wanted} 件，已扫描 {picked} 件",
        )
    changes, left = {}, qty
    for line in lines:
        taken = min(left, line["qty"] - (line["picked"] or 0))
        if taken > 0:
            changes[line["id"]] = {"picked": (line["picked"] or 0) + taken}
            left -= taken
    context.force(SHIPMENTS, context.record_id, rows={"lines": changes})
    return msg(
        "picked {qty} x {item} ({done} of {wanted})",
        qty=qty,
        item=title,
        done=picked + qty,
        wanted=wanted,
    )


def receive_scan(context, params) -> str:
    """The scanned quantity goes into the purchase order's draft goods receipt."""
    code, qty = _payload(context)
    po = _status(
        context,
        PURCHASES,
        ("ordered", "partly_received"),
        ("goods are received only against an ordered purchase order", "只有已下单的采购单可以收货"),
    )
    item, title = _item(context, code)
    if not any(line["item"] == item for line in po.rows["lines"]):
        number = po.values["number"]
        raise _refuse("code", f"{title} is not on {number}", f"{title} 不在采购单 {number} 中")
    receipt_id = draft_receipt(context.conn, context.table(RECEIPTS), context.record_id)
    if receipt_id is None:
        context.require(RECEIPTS, "create")
        context.create(
            RECEIPTS, {"purchase_order": context.record_id, "lines": [{"item": item, "qty": qty}]}
        )
    else:
        context.require(RECEIPTS, "update")
        receipt = context.load(RECEIPTS, receipt_id)
        context.update(
            RECEIPTS,
            receipt_id,
            {"lines": _added(receipt.rows["lines"], "qty", item, qty)},
        )
    return msg("received {qty} x {item}", qty=qty, item=title)


def draft_receipt(conn, receipts, po_id: int) -> int | None:
    """The goods receipt of a purchase order still being filled: its latest draft."""
    return conn.execute(
        select(func.max(receipts.c.id)).where(
            receipts.c.purchase_order == po_id, receipts.c.status == "draft"
        )
    ).scalar()


def _added(rows: list[dict], column: str, item: int, qty: int) -> list[dict]:
    """Table rows with ``qty`` more of ``item`` in ``column``: on its row, or a new one."""
    kept = [{"id": row["id"], "item": row["item"], column: row[column]} for row in rows]
    for row in kept:
        if row["item"] == item:
            row[column] += qty
            return kept
    return [*kept, {"item": item, column: qty}]


def count_scan(context, params) -> str:
    """The scanned quantity is added to what was counted of the item."""
    code, qty = _payload(context)
    count = _status(
        context,
        COUNTS,
        ("draft",),
        ("only a count in progress takes scans", "只有盘点中的盘点单可以扫描"),
    )
    item, title = _item(context, code)
    context.set({"lines": _added(count.rows["lines"], "counted", item, qty)})
    return msg("counted {qty} x {item}", qty=qty, item=title)


def check_count(context, params) -> str:
    """A count holds one line per item, so its difference is booked once."""
    seen: set[int] = set()
    errors = {}
    for i, line in enumerate(context.load(COUNTS).rows["lines"]):
        if line["item"] in seen:
            errors[f"lines.{i}.item"] = "is counted on an earlier line: add to that one"
        seen.add(line["item"])
    if errors:
        raise RecordRefused(errors)
    return msg("one line per item")


def post_stock_count(context, params) -> str:
    """Each counted item's difference from the stock on hand in the count's warehouse
    becomes a count gain or loss; the lines keep the stock on hand and the difference."""
    count = context.load(COUNTS)
    warehouse, number = count.values["warehouse"], count.values["number"]
    lines = count.rows["lines"]
    context.lock(ITEMS, (line["item"] for line in lines))  # no move of them meanwhile
    stock = context.balance("wms.stock")
    on_hand: Counter = Counter(
        dict(
            context.conn.execute(
                select(stock.c.item, stock.c.on_hand).where(
                    stock.c.warehouse == warehouse,
                    stock.c.item.in_([line["item"] for line in lines]),
                )
            ).all()
        )
    )
    changes, moved = {}, 0
    for line in lines:
        had = on_hand[line["item"]] or 0
        difference = line["counted"] - had
        changes[line["id"]] = {"on_hand": had, "difference": difference}
        if difference:
            moved += 1
            context.create(
                MOVES,
                {
                    "item": line["item"],
                    "warehouse": warehouse,
                    "kind": "adjust_in" if difference > 0 else "adjust_out",
                    "qty": abs(difference),
                    "document": number,
                    "line": line["id"],
                },
            )
    context.force(COUNTS, context.record_id, rows={"lines": changes})
    return msg(
        "booked {moved} difference(s) of {count} counted item(s)", moved=moved, count=len(lines)
    )


@hookimpl
def apploom_actions():
    return {
        "pick_scan": pick_scan,
        "receive_scan": receive_scan,
        "count_scan": count_scan,
        "check_count": check_count,
        "post_stock_count": post_stock_count,
    }
