"""Confirming orders with stock reservation, against confirming without it.

For N draft orders (3 lines each) over items with stock in two warehouses, on fresh
tables, one transaction per order:
  plain       Transitions.take('confirm') on the bundled apps without their
              reservation rule: the transition alone (checks, version, history, log)
  reserving   the same on the bundled apps: for every line, read the free stock, post
              a reservation move in a savepoint (the stock balance's conditional
              UPDATE), the low-stock check, and the lines' reserved quantities
Prints JSON with orders/s and the cost of reserving as a ratio to the plain transition.

    python bench/stock.py [--orders N] [--pg URL]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from records import fresh_runtime, order_payload, run_on_both

from apploom.engine.definitions.loading import Source, bundled_sources

RESERVE_RULE = """      - name: reserve_stock
        on: {transition: confirm}
        do:
          - reserve_stock: {}
"""


def without_reservation() -> list[Source]:
    return [Source(s.file, s.text.replace(RESERVE_RULE, "")) for s in bundled_sources()]


def confirm_rate(url: str, count: int, sources: list[Source]) -> tuple[float, int]:
    """Orders confirmed per second, and the quantity then reserved."""
    with tempfile.TemporaryDirectory() as instance:
        runtime, data = fresh_runtime(url, Path(instance), sources)
        admin, user = runtime.users.get("bench_admin"), runtime.users.get("bench")
        for code in ("E1", "W1"):
            warehouse = runtime.records.create(admin, "wms.warehouse", {"code": code, "name": code})
            for item in data["items"]:
                runtime.records.create(
                    admin,
                    "wms.stock_move",
                    {
                        "item": item,
                        "warehouse": warehouse["id"],
                        "kind": "receipt",
                        "qty": 10 * count,
                    },
                )
        ids = [
            runtime.records.create(user, "oms.order", order_payload(data, n))["id"]
            for n in range(count + 10)
        ]
        for record_id in ids[:10]:  # warm up
            runtime.transitions.take(user, "oms.order", record_id, "confirm")
        start = time.perf_counter()
        for record_id in ids[10:]:
            runtime.transitions.take(user, "oms.order", record_id, "confirm")
        rate = count / (time.perf_counter() - start)
        reserved = sum(row["reserved"] for row in runtime.balances.rows(admin, "stock")[0])
        runtime.close()
    return rate, reserved


def measure(make_url_for, count: int) -> dict:
    rates, reserved = {}, {}
    for name, sources in (("plain", without_reservation()), ("reserving", bundled_sources())):
        url, cleanup = make_url_for()
        rates[name], reserved[name] = confirm_rate(url, count, sources)
        cleanup()
    assert reserved["plain"] == 0 < reserved["reserving"], reserved
    return {
        "orders": count,
        "orders_per_s": {k: round(v, 1) for k, v in rates.items()},
        "reserving_over_plain": round(rates["plain"] / rates["reserving"], 2),
    }


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 300)
