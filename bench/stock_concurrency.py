"""Stock under concurrency on PostgreSQL: many clients confirming, cancelling, shipping and
receiving a few scarce items in two warehouses, against one client doing the same.

Each client is a thread using the engine directly (no server); until the time is up it
repeats an operation picked at random, each step one user action:
  confirm  a new order of one or two of the items, confirmed: reserved, or backordered
  cancel   an open order (confirmed or backordered) cancelled: its reservation released
  ship     an order picked, then shipped: its reserved stock leaves the warehouse
  arrive   a receipt of a few of an item into a warehouse: waiting backorders served
Each outcome is counted as done, refused (a clear business answer: the order's state
does not allow it now) or an error (anything else, a lock conflict that outlasted the
engine's retries among them), which must not happen. Then the figures are checked:
nothing negative, reserved equal to what open orders' lines hold, the running figures
equal to a rebuild from the ledger, and no backorder first in its item's queue while a
warehouse has the stock for it. Prints JSON with operations (done or refused) per second
for one client, the baseline, on tables of its own, and for all of them, their ratio,
and the lock conflicts the engine retried.

    python bench/stock_concurrency.py [--clients N] [--seconds S] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from records import fresh_runtime, pg_urls, run_together
from sqlalchemy import func, select

from apploom.engine.errors import AppLoomError
from apploom.engine.runtime import Runtime

STOCK = 12  # of each item in each warehouse at the start: scarce for the orders to come
OPEN = ("confirmed", "backordered", "picking", "partly_shipped")
REFUSED = re.compile(r"cannot be taken while|is already ")  # the order's state says no
MIX = {"confirm": 4, "cancel": 1, "ship": 3, "arrive": 2}  # more asked for than arrives


class Shop:
    """The users, items and warehouses the clients work with, and the orders that may
    still be open (clients tell each other by this list)."""

    def __init__(self, runtime: Runtime, data: dict):
        self.runtime = runtime
        records, admin = runtime.records, runtime.users.get("bench_admin")
        self.sales = runtime.users.get("bench")
        self.warehouse = runtime.users.create("bench_warehouse", ["warehouse"], "bench-password")
        self.customer = records.create(
            admin, "crm.customer", {"name": "Bench Buyer", "email": "buyer@example.com"}
        )["id"]
        self.items = data["items"]
        self.warehouses = [
            records.create(admin, "wms.warehouse", {"code": code, "name": code})["id"]
            for code in ("E1", "W1")
        ]
        for item in self.items:
            for warehouse in self.warehouses:
                self.receive(item, warehouse, STOCK)
        self.orders: list[int] = []
        self.lock = threading.Lock()

    def receive(self, item: int, warehouse: int, qty: int) -> None:
        move = {"item": item, "warehouse": warehouse, "kind": "receipt", "qty": qty}
        self.runtime.records.create(self.warehouse, "wms.stock_move", move)

    def take(self, user, order: int, transition: str, data: dict | None = None) -> None:
        self.runtime.transitions.take(user, "oms.order", order, transition, data)

    def some_order(self, rng: random.Random) -> int | None:
        with self.lock:
            return rng.choice(self.orders) if self.orders else None

    def remember(self, order: int) -> None:
        with self.lock:
            self.orders.append(order)

    def forget(self, order: int) -> None:
        with self.lock:
            if order in self.orders:
                self.orders.remove(order)


def confirm(shop: Shop, rng: random.Random) -> bool:
    lines = [
        {"item": item, "qty": rng.randint(1, 3), "price": "9.90"}
        for item in rng.sample(shop.items, rng.randint(1, 2))
    ]
    order = shop.runtime.records.create(
        shop.sales,
        "oms.order",
        {
            "customer": shop.customer,
            "channel": "web",
            "warehouse": rng.choice(shop.warehouses),
            "lines": lines,
        },
    )
    shop.take(shop.sales, order["id"], "confirm")
    shop.remember(order["id"])
    return True


def cancel(shop: Shop, rng: random.Random) -> bool:
    order = shop.some_order(rng)
    if order is None:
        return False
    shop.forget(order)  # cancelled now, or refused: on its way or cancelled already
    shop.take(shop.sales, order, "cancel")
    return True


def ship(shop: Shop, rng: random.Random) -> bool:
    order = shop.some_order(rng)
    if order is None:
        return False
    shop.take(shop.warehouse, order, "pick")
    shop.forget(order)
    shop.take(shop.warehouse, order, "ship", {"carrier": "sf"})
    return True


def arrive(shop: Shop, rng: random.Random) -> bool:
    shop.receive(rng.choice(shop.items), rng.choice(shop.warehouses), rng.randint(1, 3))
    return True


OPERATIONS = {"confirm": confirm, "cancel": cancel, "ship": ship, "arrive": arrive}
OUTCOMES = ("done", "refused", "error", "no order yet")


class Retries(logging.Handler):
    """Counts the lock conflicts the engine retried (it logs each), by kind."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.kinds: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.kinds[record.args[-1] if record.args else "?"] += 1


def run_clients(shop: Shop, clients: int, seconds: float) -> dict:
    """Every client's operations until the time is up: how many of each ended how."""
    outcomes: Counter = Counter()
    errors: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine: Counter = Counter()
        my_errors: Counter = Counter()
        start.wait()
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            name = rng.choices(list(MIX), list(MIX.values()))[0]
            try:
                mine[name, "done" if OPERATIONS[name](shop, rng) else "no order yet"] += 1
            except Exception as exc:  # anything but a refusal is an error a user would see
                refused = isinstance(exc, AppLoomError) and REFUSED.search(str(exc))
                mine[name, "refused" if refused else "error"] += 1
                if not refused:
                    my_errors[f"{name}: {type(exc).__name__}: {exc}"] += 1
        with lock:
            outcomes.update(mine)
            errors.update(my_errors)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    elapsed = run_together(threads, start)
    done = sum(n for (_, outcome), n in outcomes.items() if outcome in ("done", "refused"))
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "operations_per_s": round(done / elapsed, 1),
        "outcomes": {
            name: {o: outcomes[name, o] for o in OUTCOMES if outcomes[name, o]} for name in MIX
        },
        "errors": dict(errors.most_common(5)),
    }


def figures(runtime: Runtime) -> dict:
    """The stock figures and the checks they must pass."""
    tables = runtime.records.tables
    stock, orders, lines = tables["wms_stock"], tables["oms_order"], tables["oms_order_line"]

    def running() -> dict:
        with runtime.db.read() as conn:
            rows = conn.execute(
                select(stock.c.item, stock.c.warehouse, stock.c.on_hand, stock.c.reserved)
            )
            return {(r.item, r.warehouse): (r.on_hand, r.reserved) for r in rows}

    before = running()
    with runtime.db.read() as conn:
        held = {
            (item, warehouse): qty
            for item, warehouse, qty in conn.execute(
                select(lines.c.item, lines.c.warehouse, func.sum(lines.c.reserved))
                .join(orders, lines.c.parent_id == orders.c.id)
                .where(orders.c.status.in_(OPEN), lines.c.reserved > 0)
                .group_by(lines.c.item, lines.c.warehouse)
            )
        }
        statuses = dict(
            conn.execute(select(orders.c.status, func.count()).group_by(orders.c.status)).all()
        )
        first_waiting: dict[int, int] = {}  # item -> what the first in its queue waits for
        for item, qty in conn.execute(
            select(lines.c.item, lines.c.qty)
            .join(orders, lines.c.parent_id == orders.c.id)
            .where(orders.c.status == "backordered", lines.c.reserved == 0)
            .order_by(orders.c.order_date, orders.c.id)
        ):
            first_waiting.setdefault(item, qty)
    most_free: dict[int, int] = {}  # item -> the most of it free in one warehouse
    for (item, _), (on_hand, reserved) in before.items():
        most_free[item] = max(most_free.get(item, 0), on_hand - reserved)
    runtime.balances.rebuild("stock")
    checks = {
        "nothing_negative": all(
            min(on_hand, reserved, on_hand - reserved) >= 0 for on_hand, reserved in before.values()
        ),
        "reserved_is_what_open_orders_hold": {k: r for k, (_, r) in before.items() if r} == held,
        "rebuild_equals_running": running() == before,
        "no_backorder_waits_for_free_stock": all(
            most_free.get(item, 0) < qty for item, qty in first_waiting.items()
        ),
    }
    return {
        "checks": checks,
        "stock": {
            f"item {item} in warehouse {warehouse}": {
                "on_hand": on_hand,
                "reserved": reserved,
                "available": on_hand - reserved,
            }
            for (item, warehouse), (on_hand, reserved) in sorted(before.items())
        },
        "orders": statuses,
    }


def measure(url: str, clients: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as instance:
        # a connection for each client, as APPLOOM_DB_POOL_SIZE gives a server's threads
        runtime, data = fresh_runtime(url, Path(instance), db_pool_size=clients)
        shop = Shop(runtime, data)
        retries = Retries()
        logging.getLogger("apploom.engine.storage.retries").addHandler(retries)
        try:
            result = run_clients(shop, clients, seconds)
        finally:
            logging.getLogger("apploom.engine.storage.retries").removeHandler(retries)
        result["lock_conflicts_retried"] = dict(retries.kinds)
        result.update(figures(runtime))
        runtime.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--pg", default=os.environ.get("APPLOOM_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if not args.pg:
        sys.exit("this benchmark needs PostgreSQL: give --pg or APPLOOM_TEST_DATABASE_URL")
    logging.getLogger("apploom.engine.storage.retries").setLevel(logging.INFO)
    make_url = pg_urls(args.pg)
    results = {}
    for name, clients in (("baseline", 1), ("concurrent", args.clients)):
        url, drop = make_url()
        try:
            results[name] = measure(url, clients, args.seconds)
        finally:
            drop()
    results["concurrent_over_baseline"] = round(
        results["concurrent"]["operations_per_s"] / results["baseline"]["operations_per_s"], 2
    )
    print(json.dumps(results, indent=2, ensure_ascii=False))
    failed = [
        name
        for name in ("baseline", "concurrent")
        if results[name]["errors"] or not all(results[name]["checks"].values())
    ]
    if failed:
        sys.exit(f"errors seen or checks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
