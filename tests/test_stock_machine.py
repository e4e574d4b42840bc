"""Stock and orders you can trust: a stateful property test.

Hypothesis plays random sequences of what the business does — orders created, confirmed,
edited, cancelled, deleted, picked and shipped; returns received and refunded; purchase
orders received whole or in parts; parcels packed, shortened, cancelled and shipped one
by one or all at once; transfers, stock counts and moves posted by hand —
over two warehouses and three items, each step as one of the demo roles through the
record service and the workflows. After every step it checks the stock invariants:

* on hand and reserved are the sums of the ledger's moves, and a rebuild of the balances
  from the ledger gives the running figures;
* what is reserved is what open orders' lines hold, line by line, and no draft,
  cancelled, shipped, delivered, completed or deleted order holds anything;
* no figure is negative;
* a line holds all it has not shipped or nothing (a confirmed order's lines all of it);
  open parcels carry no more than their order holds; nothing is shipped twice, returned
  beyond what its parcels carried, or refunded beyond what the order cost;
* purchase orders receive no more than they ordered and goods receipts only what they
  ordered;
* an order's paid figure is the sum of its payments not void, its payment status follows
  from it, refunds never take back more than was paid, nor more than a return refunds;
* reservations, releases and shipments are written by the engine's own actions only: a
  role posting one by hand is refused.

A refused step (a role not allowed, a state that forbids it, stock that is not there) is
a legitimate outcome, but it must leave every business table as it was.

The machine runs on the bundled apps with the read-only fields taken off the Picking
status: stock must stay right whatever a definition's states lock, so an app someone
changed in the studio is as safe as the bundled one.

``bench/stock_properties.py`` runs the same machine for thousands of examples.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select

from apploom.demo import DEMO_USERS
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.errors import (
    AppLoomError,
    Conflict,
    Forbidden,
    NotFound,
    RuleError,
    ValidationFailed,
)
from apploom.engine.runtime import Runtime
from tests.helpers import bundled_with, make_runtime

PICKING_STATE = "picking:     {label: {en: Picking, zh: 拣货中}, colour: purple"
SOURCES = bundled_with(
    "oms.yaml", PICKING_STATE + ", readonly: [customer, lines]}", PICKING_STATE + "}"
)

ROLES = tuple(role for role in DEMO_USERS if role != "admin")
WAREHOUSES = ("EAST", "WEST")
ITEMS = {  # sku: reorder point (POT runs low, so the engine proposes purchases)
    "TEA": 0,
    "CUP": 0,
    "POT": 2,
}
OPENING = {  # (sku, warehouse): on hand
    ("TEA", "EAST"): 6,
    ("TEA", "WEST"): 2,
    ("CUP", "EAST"): 4,
    ("CUP", "WEST"): 1,
    ("POT", "WEST"): 3,
}

ORDER, RETURN, PURCHASE, PARCEL = "oms.order", "oms.return", "wms.purchase_order", "oms.shipment"
PAYMENT = "oms.payment"
RECEIPT, TRANSFER = "wms.goods_receipt", "wms.stock_transfer"

DRAFT, CONFIRMED, PICKING = frozenset({"draft"}), frozenset({"confirmed"}), frozenset({"picking"})
SHIPPING = frozenset({"picking", "partly_shipped"})  # orders with parcels still to leave
SHIPPED, DELIVERED = frozenset({"shipped"}), frozenset({"delivered"})
REQUESTED, RECEIVED = frozenset({"requested"}), frozenset({"received"})
CANCELLABLE = frozenset({"draft", "confirmed", "backordered"})
RECEIVABLE = frozenset({"ordered", "partly_received"})
CANCELLABLE_PO = RECEIVABLE | {"draft"}
OPEN = frozenset({"confirmed", "backordered", "picking", "partly_shipped"})  # may hold stock
SENT = frozenset({"shipped", "delivered", "completed"})  # the goods left
ANY_ORDER = DRAFT | OPEN | SENT | {"cancelled"}
ENGINE_ONLY = frozenset({"reserve", "release", "ship"})  # moves only the engine writes
ON_HAND_IN = frozenset({"receipt", "transfer_in", "adjust_in", "return"})
ON_HAND_OUT = frozenset({"issue", "ship", "transfer_out", "adjust_out"})
GOODS_BACK = frozenset({"received", "refunded"})  # returns whose goods came back
RECORDED = frozenset({"recorded"})  # payments that count

# The business tables, children before parents: cleared before every example.
BUSINESS = (
    "oms_payment",
    "oms_return_line",
    "oms_return",
    "oms_shipment_line",
    "oms_shipment",
    "oms_order_line",
    "oms_order",
    "wms_receipt_line",
    "wms_goods_receipt",
    "wms_purchase_line",
    "wms_purchase_order",
    "wms_transfer_line",
    "wms_stock_transfer",
    "wms_stock_move",
    "wms_stock",
)
LOGS = (
    "sys_history",
    "sys_transition",
    "sys_rule_run",
    "sys_outbox",
    "sys_notification",
    "sys_series",
    "sys_idempotency",
    "sys_comment",
)

# A refused step: the engine said no for a reason the user can read.
REFUSALS = (ValidationFailed, Conflict, Forbidden, NotFound, RuleError)

PICK = st.integers(0, 9)  # which record of those an action may act on
SKUS = st.sampled_from(list(ITEMS))
PLACES = st.sampled_from(WAREHOUSES)
LINES = st.lists(st.tuples(SKUS, st.integers(1, 3)), min_size=1, max_size=3)
EDITS = st.one_of(
    st.tuples(st.just("qty"), st.integers(0, 2), st.integers(1, 7)),
    st.tuples(st.just("add"), SKUS, st.integers(1, 4)),
    st.tuples(st.just("remove"), st.integers(0, 2)),
)
RETURNED = st.one_of(
    st.just("as ordered"),
    st.lists(st.tuples(SKUS, st.integers(1, 4), st.booleans()), min_size=1, max_size=2),
)
TRANSITIONS = [  # every transition of the documents the machine makes
    *((ORDER, name) for name in ("confirm", "backorder", "allocate", "pick", "ship")),
    *((ORDER, name) for name in ("ship_part", "ship_last")),
    *((PARCEL, name) for name in ("ship", "cancel")),
    *((ORDER, name) for name in ("deliver", "complete", "cancel")),
    *((RETURN, name) for name in ("receive", "refund", "reject")),
    (PAYMENT, "void"),
    *((PURCHASE, name) for name in ("place", "receive_part", "receive", "cancel")),
]
ASKED = {
    "ship": {"carrier": "sf"},
    "refund": {"refund_amount": "1.00"},
    "void": {"void_reason": "typed in error"},
}
PAID = ("the rest", "half", "refund half", "refund all", "refund more")  # of an order
CENT = Decimal("0.01")
REFUNDS = {"half": Decimal("0.5"), "all": Decimal(1), "more": Decimal("1.5")}
MOVE_KINDS = ("receipt", "issue", "adjust_in", "adjust_out", *sorted(ENGINE_ONLY))


def role(*names: str):
    return st.sampled_from(names)


def acting_on(ref: str, states: frozenset[str]):
    """A rule that acts on a record of ``ref`` in one of ``states``: it runs while there
    is one."""
    return precondition(lambda self: bool(self.fitting(ref, states)))


# How long to run. The test runs the profile APPLOOM_STOCK_PROFILE names, by default
# "stock-ci": bounded, the same examples every time, and no shrinking, so that a failure
# is reported in seconds; "stock-shrink" runs the same examples and shrinks a failure to
# its shortest sequence; "stock-long" (bench/stock_properties.py) runs 2,000 examples
# from a random seed.
settings.register_profile(
    "stock-ci",
    max_examples=30,
    stateful_step_count=35,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("stock-shrink", settings.get_profile("stock-ci"), phases=list(Phase))
settings.register_profile(
    "stock-long",
    settings.get_profile("stock-shrink"),
    max_examples=2000,
    stateful_step_count=50,
    derandomize=False,
)


class Shop:
    """What every example starts from and leaves alone: the demo roles' users, two
    warehouses, three items and a customer."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.users = {}
        for name in ROLES:
            rt.users.create(name, DEMO_USERS[name], "password1234")
            self.users[name] = rt.users.get(name)
        create = rt.records.create
        self.warehouses = {
            code: create(SYSTEM_USER, "wms.warehouse", {"code": code, "name": code.title()})["id"]
            for code in WAREHOUSES
        }
        self.items = {
            sku: create(
                SYSTEM_USER,
                "wms.item",
                {
                    "sku": sku,
                    "name": sku.title(),
                    "price": "10.00",
                    "cost": "4.00",
                    "reorder_point": point,
                    "preferred_supplier": "Hangzhou Co." if point else None,
                },
            )["id"]
            for sku, point in ITEMS.items()
        }
        self.customer = create(
            SYSTEM_USER, "crm.customer", {"name": "张三", "email": "zs@example.com"}
        )["id"]
        self.skus = {id: sku for sku, id in self.items.items()}
        self.codes = {id: code for code, id in self.warehouses.items()}
        tables = rt.records.tables
        self.cleared = [tables[name] for name in BUSINESS + LOGS]

    def clear(self) -> None:
        """Back to no orders, documents or stock: a fresh start for the next example."""
        with self.rt.db.write() as conn:
            for table in self.cleared:
                conn.execute(delete(table))


def read(rt: Runtime, names: tuple[str, ...] = BUSINESS) -> dict[str, list[dict]]:
    """Every row of the tables ``names``."""
    tables = rt.records.tables
    with rt.db.read() as conn:
        return {
            name: [dict(r) for r in conn.execute(select(tables[name])).mappings()] for name in names
        }


def comparable(name: str, rows: list[dict]) -> list[tuple]:
    """A table's rows, to compare; balance rows by their key (a rebuild renumbers them)."""
    return sorted(
        tuple(sorted((k, str(v)) for k, v in row.items() if name != "wms_stock" or k != "id"))
        for row in rows
    )


class View:
    """The business tables as they stand, read once per step."""

    def __init__(self, rt: Runtime):
        self.rows = read(rt)
        self.stock = {(r["item"], r["warehouse"]): r for r in self.rows["wms_stock"]}
        self.moves = self.rows["wms_stock_move"]
        self.records = {
            ref: {r["id"]: r for r in self.rows[ref.replace(".", "_")]}
            for ref in (ORDER, RETURN, PURCHASE, RECEIPT, TRANSFER, PARCEL, PAYMENT)
        }
        self.orders, self.returns = self.records[ORDER], self.records[RETURN]
        self.purchases, self.receipts = self.records[PURCHASE], self.records[RECEIPT]
        self.lines = self._children("oms_order_line")
        self.return_lines = self._children("oms_return_line")
        self.purchase_lines = self._children("wms_purchase_line")
        self.receipt_lines = self._children("wms_receipt_line")
        self.parcels = self.records[PARCEL]
        self.parcel_lines = self._children("oms_shipment_line")

    def _children(self, name: str) -> dict[int, list[dict]]:
        rows = defaultdict(list)
        for row in self.rows[name]:
            rows[row["parent_id"]].append(row)
        return rows

    def snapshot(self) -> dict[str, list]:
        return {name: comparable(name, rows) for name, rows in self.rows.items()}

    def ledger_reserved(self) -> Counter:
        """Net reservation per (order line, item, warehouse) from the ledger: reserved and
        released by the order, shipped by its parcels."""
        net: Counter = Counter()
        for m in self.moves:
            key = (m["line"], m["item"], m["warehouse"])
            if m["kind"] == "reserve":
                net[key] += m["qty"]
            elif m["kind"] in ("release", "ship"):
                net[key] -= m["qty"]
        return net


def _business_refusal(exc: Exception) -> bool:
    """Whether an engine error is a refusal for a business reason. A rule fails with the
    error an action raised as its context: a plugin's ValueError or an engine refusal is
    a reason; a KeyError or TypeError is a bug."""
    if not isinstance(exc, RuleError):
        return True
    reason = exc.__context__
    return isinstance(reason, ValueError | AppLoomError) and not isinstance(reason, RuleError)


def _reason(exc: Exception) -> str:
    fields = getattr(exc, "fields", None) if not isinstance(exc, RuleError) else None
    text = "; ".join(f"{k} {v}" for k, v in fields.items()) if fields else str(exc)
    return text if len(text) <= 140 else text[:137] + "..."


class StockMachine(RuleBasedStateMachine):
    """A rule per business action, an invariant per promise the stock makes.

    A rule acting on a record runs while there is one in a state the action leaves from,
    and takes ``pick``, which of them it acts on. ``anything`` tries any transition on
    any record as any role, so refusals are tried too."""

    def __init__(self, shop: Shop):
        super().__init__()
        self.shop, self.rt = shop, shop.rt
        self._view: View | None = None
        shop.clear()

    # ---- helpers ------------------------------------------------------------------------

    def view(self) -> View:
        if self._view is None:
            self._view = View(self.rt)
        return self._view

    def fitting(self, ref: str, states: frozenset[str]) -> list[int]:
        """The records of ``ref`` in one of ``states``, oldest first."""
        return [i for i, r in sorted(self.view().records[ref].items()) if r["status"] in states]

    def choose(self, ref: str, pick: int, states: frozenset[str]) -> int:
        found = self.fitting(ref, states)
        return found[pick % len(found)]

    @contextmanager
    def step(self, what: str) -> Iterator[list]:
        """One engine call. If it is refused, nothing may have changed; the refusal is
        put into the yielded list. Each step is noted in a failing example."""
        before = self.view().snapshot()
        self._view = None
        refused: list[Exception] = []
        try:
            yield refused
        except REFUSALS as exc:
            if not _business_refusal(exc):
                raise
            refused.append(exc)
            after = self.view().snapshot()
            changed = [name for name in BUSINESS if before[name] != after[name]]
            assert not changed, f"a refused step ({exc}) changed {', '.join(changed)}"
        note(f"  {what}: " + (f"refused: {_reason(refused[0])}" if refused else "done"))

    def user(self, name: str):
        return self.shop.users[name]

    def where(self, key: tuple[int, int]) -> str:
        """An item and warehouse, by SKU and code."""
        return f"{self.shop.skus[key[0]]} in {self.shop.codes[key[1]]}"

    def title(self, ref: str, record_id: int) -> str:
        found = self.view().records[ref].get(record_id)
        return f"{found['number']} ({found['status']})" if found else f"deleted {ref} {record_id}"

    def take(self, who: str, ref: str, record_id: int, name: str, data: Any = None) -> bool:
        """Take a transition as ``who``; whether it was taken."""
        with self.step(f"{who} takes {name} on {self.title(ref, record_id)}") as refused:
            self.rt.transitions.take(self.user(who), ref, record_id, name, data)
        return not refused

    def create(self, who: str, ref: str, data: dict) -> int | None:
        """Create a record as ``who``; its id, or None if it was refused."""
        with self.step(f"{who} creates a {ref}"):
            return self.rt.records.create(self.user(who), ref, data)["id"]
        return None

    def lines(self, lines: list[tuple[str, int]], **more) -> list[dict]:
        return [{"item": self.shop.items[sku], "qty": qty, **more} for sku, qty in lines]

    # ---- the opening ------------------------------------------------------------------

    @initialize(orders=st.lists(LINES, max_size=3))
    def open_shop(self, orders):
        """Each example opens with the same stock, received by the warehouse, and a few
        orders sales has confirmed."""
        for (sku, place), qty in OPENING.items():
            self.rt.records.create(
                self.user("warehouse"),
                "wms.stock_move",
                {
                    "item": self.shop.items[sku],
                    "warehouse": self.shop.warehouses[place],
                    "kind": "receipt",
                    "qty": qty,
                    "document": "OPENING",
                },
            )
        for lines in orders:
            data = {"customer": self.shop.customer, "lines": self.lines(lines, price="10.00")}
            order = self.rt.records.create(self.user("sales"), ORDER, data)
            self.rt.transitions.take(self.user("sales"), ORDER, order["id"], "confirm")
        self._view = None

    # ---- orders -------------------------------------------------------------------------

    @rule(who=role("sales", "manager"), lines=LINES, ship_from=st.none() | PLACES)
    def create_order(self, who, lines, ship_from):
        data = {
            "customer": self.shop.customer,
            "channel": "web",
            "lines": self.lines(lines, price="10.00"),
        }
        if ship_from:
            data["warehouse"] = self.shop.warehouses[ship_from]
        self.create(who, ORDER, data)

    @acting_on(ORDER, DRAFT)
    @rule(pick=PICK, who=role("sales", "manager"))
    def confirm(self, pick, who):
        self.take(who, ORDER, self.choose(ORDER, pick, DRAFT), "confirm")

    @acting_on(ORDER, ANY_ORDER)
    @rule(pick=PICK, who=role("sales", "manager"), edit=EDITS)
    def edit_order(self, pick, who, edit):
        """Change a line's quantity, add a line or remove one, in any state."""
        order = self.choose(ORDER, pick, ANY_ORDER)
        found = self.view().orders[order]
        lines = [{"id": line["id"]} for line in self.view().lines[order]]
        kind, *args = edit
        if kind == "qty":
            lines[args[0] % len(lines)]["qty"] = args[1]
        elif kind == "add":
            lines += self.lines([tuple(args)], price="10.00")
        else:
            del lines[args[0] % len(lines)]
        with self.step(f"{who} edits {self.title(ORDER, order)}: {edit}"):
            self.rt.records.update(
                self.user(who), ORDER, order, {"lines": lines}, version=found["version"]
            )

    @acting_on(ORDER, CANCELLABLE)
    @rule(pick=PICK, who=role("sales", "manager"))
    def cancel(self, pick, who):
        self.take(who, ORDER, self.choose(ORDER, pick, CANCELLABLE), "cancel")

    @acting_on(ORDER, ANY_ORDER)
    @rule(pick=PICK, who=role("manager", "sales"))
    def delete_order(self, pick, who):
        order = self.choose(ORDER, pick, ANY_ORDER)
        with self.step(f"{who} deletes {self.title(ORDER, order)}"):
            self.rt.records.delete(self.user(who), ORDER, order)

    @acting_on(ORDER, CONFIRMED)
    @rule(pick=PICK, who=role("warehouse", "manager"))
    def pick_goods(self, pick, who):
        self.take(who, ORDER, self.choose(ORDER, pick, CONFIRMED), "pick")

    @acting_on(ORDER, SHIPPING)
    @rule(pick=PICK, who=role("warehouse", "manager"))
    def ship(self, pick, who):
        """Ship all that is left of an order: its open parcels and one for the rest."""
        self.take(who, ORDER, self.choose(ORDER, pick, SHIPPING), "ship", {"carrier": "sf"})

    @acting_on(ORDER, SHIPPING)
    @rule(
        pick=PICK,
        who=role("warehouse", "manager"),
        place=PLACES,
        lines=st.just("the rest") | st.lists(st.tuples(SKUS, st.integers(1, 4)), max_size=2),
    )
    def pack(self, pick, who, place, lines):
        """A parcel by hand: what is left in a warehouse (no lines), or any items and
        quantities (perhaps more than the order holds)."""
        order = self.choose(ORDER, pick, SHIPPING)
        given = [] if lines == "the rest" else self.lines(lines)
        data = {"order": order, "warehouse": self.shop.warehouses[place], "lines": given}
        self.create(who, PARCEL, data)

    @acting_on(PARCEL, PICKING)
    @rule(pick=PICK, who=role("warehouse", "manager"), qty=st.integers(0, 4))
    def shorten_parcel(self, pick, who, qty):
        """Change the quantity of a parcel's first line (0: take it out)."""
        parcel = self.choose(PARCEL, pick, PICKING)
        first, *others = [{"id": line["id"]} for line in self.view().parcel_lines[parcel]]
        lines = ([{**first, "qty": qty}] if qty else []) + others
        version = self.view().parcels[parcel]["version"]
        with self.step(f"{who} sets {self.title(PARCEL, parcel)}'s first line to {qty}"):
            self.rt.records.update(
                self.user(who), PARCEL, parcel, {"lines": lines}, version=version
            )

    @acting_on(PARCEL, PICKING)
    @rule(pick=PICK, who=role("warehouse", "manager"), carrier=st.sampled_from(["sf", "jd"]))
    def ship_parcel(self, pick, who, carrier):
        self.take(who, PARCEL, self.choose(PARCEL, pick, PICKING), "ship", {"carrier": carrier})

    @acting_on(PARCEL, PICKING)
    @rule(pick=PICK, who=role("warehouse", "manager"))
    def cancel_parcel(self, pick, who):
        self.take(who, PARCEL, self.choose(PARCEL, pick, PICKING), "cancel")

    @acting_on(ORDER, SHIPPED)
    @rule(pick=PICK, who=role("warehouse", "service"))
    def deliver(self, pick, who):
        self.take(who, ORDER, self.choose(ORDER, pick, SHIPPED), "deliver")

    @acting_on(ORDER, DELIVERED)
    @rule(pick=PICK, who=role("service", "manager"))
    def complete(self, pick, who):
        self.take(who, ORDER, self.choose(ORDER, pick, DELIVERED), "complete")

    @rule(transition=st.sampled_from(TRANSITIONS), pick=PICK, who=role(*ROLES))
    def anything(self, transition, pick, who):
        """Any transition on any order, return or purchase order, by any role: mostly
        refused (the state, the role or the condition), sometimes a step of its own."""
        ref, name = transition
        found = sorted(self.view().records[ref])
        if found:
            self.take(who, ref, found[pick % len(found)], name, ASKED.get(name))

    # ---- returns ------------------------------------------------------------------------

    @acting_on(ORDER, ANY_ORDER)
    @rule(pick=PICK, who=role("service", "sales"), lines=RETURNED, to=PLACES)
    def create_return(self, pick, who, lines, to):
        """A return of the order's lines as ordered, or of any items and quantities; of
        an order that was shipped, while there is one."""
        order = self.choose(ORDER, pick, SENT if self.fitting(ORDER, SENT) else ANY_ORDER)
        if lines == "as ordered":
            lines = [(line["item"], line["qty"], True) for line in self.view().lines[order]]
        else:
            lines = [(self.shop.items[sku], qty, back) for sku, qty, back in lines]
        data = {
            "order": order,
            "reason": "damaged",
            "warehouse": self.shop.warehouses[to],
            "lines": [{"item": i, "qty": q, "resaleable": back} for i, q, back in lines],
        }
        self.create(who, RETURN, data)

    @acting_on(RETURN, REQUESTED)
    @rule(pick=PICK, who=role("warehouse", "service"))
    def receive_return(self, pick, who):
        self.take(who, RETURN, self.choose(RETURN, pick, REQUESTED), "receive")

    @acting_on(RETURN, RECEIVED)
    @rule(pick=PICK, who=role("service", "manager"), amount=st.sampled_from(list(REFUNDS)))
    def refund(self, pick, who, amount):
        """Refund half the order's total, all of it, or more."""
        rma = self.choose(RETURN, pick, RECEIVED)
        order = self.view().records[ORDER][self.view().records[RETURN][rma]["order"]]
        refund = max(Decimal(order["total"]) * REFUNDS[amount], Decimal("0.01"))
        self.take(who, RETURN, rma, "refund", {"refund_amount": f"{refund:.2f}"})

    @acting_on(RETURN, REQUESTED)
    @rule(pick=PICK, who=role("service", "manager"))
    def reject_return(self, pick, who):
        self.take(who, RETURN, self.choose(RETURN, pick, REQUESTED), "reject")

    # ---- payments -----------------------------------------------------------------------

    @acting_on(ORDER, ANY_ORDER)
    @rule(pick=PICK, who=role(*ROLES), how=st.sampled_from(PAID))
    def pay(self, pick, who, how):
        """A payment of what an order has left to pay or of half its total, or a refund
        of half of what it paid, all of it or more; by any role."""
        order = self.view().orders[self.choose(ORDER, pick, ANY_ORDER)]
        total, paid = Decimal(order["total"] or 0), Decimal(order["paid"])
        amount = {
            "the rest": total - paid,
            "half": total / 2,
            "refund half": -paid / 2,
            "refund all": -paid,
            "refund more": -paid - 1,
        }[how]
        data = {"order": order["id"], "amount": f"{amount.quantize(CENT)}", "method": "cash"}
        self.create(who, PAYMENT, data)

    @acting_on(PAYMENT, RECORDED)
    @rule(pick=PICK, who=role("manager", "sales"))
    def void_payment(self, pick, who):
        self.take(who, PAYMENT, self.choose(PAYMENT, pick, RECORDED), "void", ASKED["void"])

    # ---- purchases, transfers, counts ---------------------------------------------------

    @rule(who=role("purchasing"), lines=LINES, to=PLACES)
    def create_purchase(self, who, lines, to):
        data = {
            "supplier": "Hangzhou Co.",
            "warehouse": self.shop.warehouses[to],
            "lines": self.lines(lines, cost="4.00"),
        }
        self.create(who, PURCHASE, data)

    @acting_on(PURCHASE, DRAFT)
    @rule(pick=PICK, who=role("purchasing", "manager"))
    def place(self, pick, who):
        self.take(who, PURCHASE, self.choose(PURCHASE, pick, DRAFT), "place")

    @acting_on(PURCHASE, RECEIVABLE)
    @rule(pick=PICK, who=role("warehouse", "manager"))
    def receive_purchase(self, pick, who):
        """Goods received: the rest of the purchase order arrives."""
        self.take(who, PURCHASE, self.choose(PURCHASE, pick, RECEIVABLE), "receive")

    @acting_on(PURCHASE, RECEIVABLE)
    @rule(pick=PICK, who=role("warehouse", "manager"), lines=st.just("half") | LINES)
    def receive_in_part(self, pick, who, lines):
        """A goods receipt for half of what a purchase order still expects, or for any
        items (perhaps ones it never ordered)."""
        po = self.choose(PURCHASE, pick, RECEIVABLE)
        if lines == "half":
            due = [
                (line["item"], line["qty"] - line["received"])
                for line in self.view().purchase_lines[po]
            ]
            items = [{"item": item, "qty": left // 2} for item, left in due if left >= 2]
        else:
            items = self.lines(lines)
        receipt = self.create(who, RECEIPT, {"purchase_order": po, "lines": items})
        if receipt is not None:
            self.take(who, RECEIPT, receipt, "post")

    @acting_on(PURCHASE, CANCELLABLE_PO)
    @rule(pick=PICK, who=role("purchasing", "manager"))
    def cancel_purchase(self, pick, who):
        self.take(who, PURCHASE, self.choose(PURCHASE, pick, CANCELLABLE_PO), "cancel")

    @rule(who=role("warehouse", "manager"), source=PLACES, to=PLACES, lines=LINES)
    def transfer(self, who, source, to, lines):
        data = {
            "from_warehouse": self.shop.warehouses[source],
            "to_warehouse": self.shop.warehouses[to],
            "lines": self.lines(lines),
        }
        moved = self.create(who, TRANSFER, data)
        if moved is not None:
            self.take(who, TRANSFER, moved, "post")

    @rule(who=role("warehouse", "manager"), sku=SKUS, place=PLACES, counted=st.integers(0, 6))
    def count(self, who, sku, place, counted):
        """A stock count: the difference to what is on hand is posted as a gain or loss."""
        key = (self.shop.items[sku], self.shop.warehouses[place])
        row = self.view().stock.get(key)
        difference = counted - (row["on_hand"] if row else 0)
        if difference:
            kind = "adjust_in" if difference > 0 else "adjust_out"
            self.post_move(who, kind, key, abs(difference))

    @rule(
        who=role("warehouse", "manager"),
        kind=st.sampled_from(MOVE_KINDS),
        sku=SKUS,
        place=PLACES,
        qty=st.integers(1, 3),
    )
    def move_by_hand(self, who, kind, sku, place, qty):
        """A stock move typed in by a role; reservations, releases and shipments are the
        engine's alone and must be refused."""
        key = (self.shop.items[sku], self.shop.warehouses[place])
        refused = self.post_move(who, kind, key, qty)
        if kind in ENGINE_ONLY:
            assert refused, f"{who} posted a '{kind}' move by hand and it was stored"

    def post_move(self, who: str, kind: str, key: tuple[int, int], qty: int) -> bool:
        """Post a move as ``who``; whether it was refused."""
        data = {"item": key[0], "warehouse": key[1], "kind": kind, "qty": qty, "document": "HAND"}
        with self.step(f"{who} posts a {kind} move of {qty}") as refused:
            self.rt.records.create(self.user(who), "wms.stock_move", data)
        return bool(refused)

    # ---- invariants ---------------------------------------------------------------------

    @invariant()
    def on_hand_and_reserved_are_the_sums_of_the_moves(self):
        """Per item and warehouse, summed here from the kinds of the moves."""
        view = self.view()
        sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for m in view.moves:
            key = (m["item"], m["warehouse"])
            sums[key][0] += m["qty"] * ((m["kind"] in ON_HAND_IN) - (m["kind"] in ON_HAND_OUT))
            sums[key][1] += m["qty"] * (
                (m["kind"] == "reserve") - (m["kind"] in ("release", "ship"))
            )
        for key in set(sums) | set(view.stock):
            row = view.stock.get(key, {"on_hand": 0, "reserved": 0})
            assert [row["on_hand"], row["reserved"]] == sums[key], (
                f"{self.where(key)}: on hand {row['on_hand']}, reserved {row['reserved']}; "
                f"its moves sum to {sums[key]}"
            )

    @invariant()
    def a_rebuild_from_the_ledger_gives_the_running_figures(self):
        """The engine's own rebuild (Balances.rebuild) agrees with the running table."""
        running = comparable("wms_stock", self.view().rows["wms_stock"])
        self.rt.balances.rebuild("stock")
        rebuilt = comparable("wms_stock", read(self.rt, ("wms_stock",))["wms_stock"])
        assert rebuilt == running, f"running {running}, rebuilt {rebuilt}"

    @invariant()
    def no_figure_is_negative(self):
        """On hand, reserved and available (on hand - reserved)."""
        for row in self.view().stock.values():
            on_hand, reserved = row["on_hand"], row["reserved"]
            assert min(on_hand, reserved, on_hand - reserved) >= 0, (
                f"{self.where((row['item'], row['warehouse']))}: on hand {on_hand}, "
                f"reserved {reserved}"
            )

    @invariant()
    def reserved_is_what_open_orders_hold(self):
        """Per item and warehouse: the balance's reserved is the sum of the reserved
        quantities of open orders' lines there."""
        view = self.view()
        held: Counter = Counter()
        for order_id, order in view.orders.items():
            if order["status"] in OPEN:
                for line in view.lines[order_id]:
                    if line["reserved"]:
                        held[(line["item"], line["warehouse"])] += line["reserved"]
        for key in set(held) | set(view.stock):
            reserved = view.stock[key]["reserved"] if key in view.stock else 0
            assert reserved == held[key], (
                f"{self.where(key)}: {reserved} reserved, open orders hold {held[key]}"
            )

    @invariant()
    def every_reservation_in_the_ledger_belongs_to_a_line_holding_it(self):
        """Line by line: what the ledger reserved and did not release or ship is what
        the line holds; a line of a deleted order, or a move posted by hand, holds
        nothing."""
        view = self.view()
        holds: Counter = Counter()
        for lines in view.lines.values():
            for line in lines:
                if line["reserved"]:
                    holds[(line["id"], line["item"], line["warehouse"])] += line["reserved"]
        net = view.ledger_reserved()
        for key in set(net) | set(holds):
            assert net[key] == holds[key], (
                f"order line {key[0]} ({self.where(key[1:])}): the ledger holds "
                f"{net[key]} for it, the line {holds[key]}"
            )

    @invariant()
    def closed_orders_hold_nothing(self):
        """Draft, cancelled, shipped, delivered and completed orders hold no stock."""
        view = self.view()
        for order_id, order in view.orders.items():
            if order["status"] not in OPEN:
                held = [line["reserved"] for line in view.lines[order_id]]
                assert not any(held), f"{order['number']} is {order['status']} and holds {held}"

    @invariant()
    def a_line_holds_all_it_has_not_shipped_or_nothing(self):
        """A reservation is for all a line has not shipped: an open order's line holds
        none or all of it (so what holds can ship), a confirmed order's every line all of
        it."""
        view = self.view()
        for order_id, order in view.orders.items():
            for line in view.lines[order_id]:
                reserved, left = line["reserved"], line["qty"] - line["shipped"]
                whole = (left,) if order["status"] == "confirmed" else (0, left)
                assert order["status"] not in OPEN or reserved in whole, (
                    f"{order['number']} ({order['status']}) line {line['id']}: "
                    f"{reserved} held, {left} not shipped"
                )

    @invariant()
    def open_parcels_carry_no_more_than_their_order_holds(self):
        """Per order, item and warehouse: the parcels still being picked carry at most
        what the order's lines hold there."""
        view = self.view()
        packed: Counter = Counter()
        for parcel_id, parcel in view.parcels.items():
            if parcel["status"] == "picking":
                for line in view.parcel_lines[parcel_id]:
                    packed[(parcel["order"], line["item"], parcel["warehouse"])] += line["qty"]
        held: Counter = Counter()
        for order_id, lines in view.lines.items():
            for line in lines:
                held[(order_id, line["item"], line["warehouse"])] += line["reserved"]
        for key, qty in packed.items():
            assert qty <= held[key], (
                f"{self.title(ORDER, key[0])}: parcels carry {qty} {self.where(key[1:])}, "
                f"the order holds {held[key]}"
            )

    @invariant()
    def nothing_ships_twice_and_shipped_orders_shipped_whole(self):
        """No line ships more than its quantity, its shipped count is what its parcels'
        moves issued, and a shipped order shipped every line."""
        view = self.view()
        shipped: Counter = Counter()
        for m in view.moves:
            if m["kind"] == "ship":
                shipped[m["line"]] += m["qty"]
        for order_id, order in view.orders.items():
            for line in view.lines[order_id]:
                out = shipped[line["id"]]
                assert out <= line["qty"], f"{order['number']} line {line['id']} shipped {out}"
                assert out == line["shipped"], (
                    f"{order['number']} line {line['id']} counts {line['shipped']} shipped, "
                    f"its parcels issued {out}"
                )
                if order["status"] in SENT:
                    assert out == line["qty"], (
                        f"{order['number']} is {order['status']}: line {line['id']} "
                        f"shipped {out} of {line['qty']}"
                    )

    @invariant()
    def returns_come_back_only_as_shipped(self):
        """Per order and item, the goods back in on returns never exceed what was
        shipped of them."""
        view = self.view()
        shipped: Counter = Counter()
        numbers = {parcel["number"]: parcel["order"] for parcel in view.parcels.values()}
        for m in view.moves:
            if m["kind"] == "ship" and m["document"] in numbers:
                shipped[(numbers[m["document"]], m["item"])] += m["qty"]
        back: Counter = Counter()
        for rma_id, rma in view.returns.items():
            if rma["status"] in GOODS_BACK:
                for line in view.return_lines[rma_id]:
                    back[(rma["order"], line["item"])] += line["qty"]
        for (order_id, item), qty in back.items():
            assert qty <= shipped[(order_id, item)], (
                f"{self.title(ORDER, order_id)}: {qty} {self.shop.skus[item]} came back, "
                f"{shipped[(order_id, item)]} were shipped"
            )

    @invariant()
    def refunds_never_exceed_the_order(self):
        """The refunds of an order's returns add up to no more than its total."""
        view = self.view()
        refunded: dict[int, Decimal] = defaultdict(Decimal)
        for rma in view.returns.values():
            if rma["status"] == "refunded":
                refunded[rma["order"]] += Decimal(rma["refund_amount"] or 0)
        for order_id, amount in refunded.items():
            total = Decimal(view.orders[order_id]["total"] or 0)
            assert amount <= total, f"{self.title(ORDER, order_id)} of {total} refunded {amount}"

    @invariant()
    def payments_add_up(self):
        """Each order's paid figure is the sum of its payments not void, never below
        zero, and its payment status follows from it; a return's refunds stay within
        its refund amount."""
        view = self.view()
        paid: dict[int, Decimal] = defaultdict(Decimal)
        refunded: dict[int, Decimal] = defaultdict(Decimal)
        for_return: dict[int, Decimal] = defaultdict(Decimal)
        for payment in view.records[PAYMENT].values():
            if payment["status"] in RECORDED:
                paid[payment["order"]] += payment["amount"]
                refunded[payment["order"]] -= min(payment["amount"], Decimal(0))
                if payment["rma"] is not None:
                    for_return[payment["rma"]] -= payment["amount"]
        for order_id, order in view.orders.items():
            money, back = paid[order_id], refunded[order_id]
            if back:
                expected = "partially_refunded" if money > 0 else "refunded"
            elif not money:
                expected = "unpaid"
            else:
                expected = "paid" if money >= (order["total"] or 0) else "partially_paid"
            title = self.title(ORDER, order_id)
            assert order["paid"] == money >= 0, f"{title} paid {order['paid']}, payments {money}"
            assert order["payment_status"] == expected, f"{title} {order['payment_status']}"
        for rma_id, amount in for_return.items():
            rma = view.returns[rma_id]
            assert amount <= (rma["refund_amount"] or 0), f"{rma['number']} refunded {amount}"

    @invariant()
    def purchases_receive_only_what_they_ordered(self):
        """Purchase lines receive at most their quantity, the receipts in the ledger
        are what the lines received, and a goods receipt lists only items its purchase
        order has."""
        view = self.view()
        posted: Counter = Counter()
        numbers = {}
        for receipt_id, receipt in view.receipts.items():
            po = view.purchases[receipt["purchase_order"]]
            ordered = {line["item"] for line in view.purchase_lines[po["id"]]}
            for line in view.receipt_lines[receipt_id]:
                assert line["item"] in ordered, (
                    f"{receipt['number']} lists {self.shop.skus[line['item']]}, which "
                    f"{po['number']} does not order"
                )
            numbers[receipt["number"]] = po["id"]
        for po_id, po in view.purchases.items():
            numbers[po["number"]] = po_id
        for m in view.moves:
            if m["kind"] == "receipt" and m["document"] in numbers:
                posted[(numbers[m["document"]], m["item"])] += m["qty"]
        for po_id in view.purchases:
            received: Counter = Counter()
            for line in view.purchase_lines[po_id]:
                assert 0 <= (line["received"] or 0) <= line["qty"], line
                received[line["item"]] += line["received"] or 0
            for item in set(received) | {i for p, i in posted if p == po_id}:
                assert received[item] == posted[(po_id, item)], (
                    f"{view.purchases[po_id]['number']} received {received[item]} "
                    f"{self.shop.skus[item]}; the ledger has {posted[(po_id, item)]}"
                )


@pytest.fixture
def shop(database_url, tmp_path):
    rt = make_runtime(database_url, tmp_path / "instance", SOURCES)
    yield Shop(rt)
    rt.close()


def test_stock_and_orders_keep_their_promises(shop):
    profile = settings.get_profile(os.environ.get("APPLOOM_STOCK_PROFILE", "stock-ci"))
    run_state_machine_as_test(lambda: StockMachine(shop), settings=profile)
