"""Each bundled report against hand-written SQL for the same answer, on a million order lines.

Generates, in bulk with Core inserts, 250,000 orders with 4 lines each over 2,000
customers and 300 items across a year, most of them paid (a payment each), plus stock
for 3 warehouses, then times every
bundled report (ReportRunner.run: the grouped query with its totals, the titles of
its refs, and the shaping) against one hand-written SQL query per report giving the
same figures, in the same run. Each is the best of 3. Prints JSON with seconds and the
ratio of each report to its hand-written query (the goal: at most 1.3).

    python bench/reports.py [--orders N] [--pg URL]
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from records import fresh_runtime, run_on_both
from sqlalchemy import insert, text

LINES = 4
SOLD = "status NOT IN ('draft', 'cancelled')"
OWED = f"{SOLD} AND payment_status IN ('unpaid', 'partially_paid')"


def month(column: str, dialect: str) -> str:
    return (
        f"strftime('%Y-%m', {column})" if dialect == "sqlite" else f"to_char({column}, 'YYYY-MM')"
    )


def utc_month(column: str, dialect: str) -> str:
    return month(column if dialect == "sqlite" else f"timezone('UTC', {column})", dialect)


def ageing(group: str) -> str:
    """Receivables by the age of the order date, as one would write it by hand."""
    day = [(date.today() - timedelta(days=n)).isoformat() for n in (30, 60, 90)]
    owed = "total - paid"
    buckets = (
        f"sum(CASE WHEN order_date >= '{day[0]}' THEN {owed} END), "
        f"sum(CASE WHEN order_date < '{day[0]}' AND order_date >= '{day[1]}' THEN {owed} END), "
        f"sum(CASE WHEN order_date < '{day[1]}' AND order_date >= '{day[2]}' THEN {owed} END), "
        f"sum(CASE WHEN order_date < '{day[2]}' THEN {owed} END)"
    )
    select = f"SELECT {group + ', ' if group else ''}sum({owed}), {buckets}, count(*)"
    grouped = f" GROUP BY {group} ORDER BY 2 DESC" if group else ""
    return f"{select} FROM oms_order WHERE {OWED}{grouped}"


def hand_written(dialect: str) -> dict[str, str]:
    """The same answers, as one would write them by hand."""
    return {
        "oms.revenue": f"SELECT sum(total), count(*) FROM oms_order WHERE {SOLD}",
        "oms.average_order_value": f"SELECT sum(total), count(*), sum(total) * 1.0 / count(*)"
        f" FROM oms_order WHERE {SOLD}",
        "oms.backorder_rate": "SELECT count(*), sum(CASE WHEN was_backordered THEN 1 ELSE 0 "
        "END), sum(CASE WHEN was_backordered THEN 1 ELSE 0 END) * 1.0 / "
        f"count(*) FROM oms_order WHERE {SOLD}",
        "oms.sales_by_month": f"SELECT {month('order_date', dialect)}, channel, sum(total) "
        f"FROM oms_order WHERE {SOLD} GROUP BY 1, 2 ORDER BY 1, 2",
        "oms.top_customers": f"SELECT customer, sum(total), count(*) FROM oms_order WHERE "
        f"{SOLD} GROUP BY customer ORDER BY 2 DESC LIMIT 10",
        "oms.top_items": "SELECT l.item, sum(l.amount), sum(l.qty) FROM oms_order_line l JOIN "
        "oms_order o ON o.id = l.parent_id WHERE o.status NOT IN ('draft', "
        "'cancelled') GROUP BY l.item ORDER BY 2 DESC LIMIT 10",
        "oms.processing_time": f"SELECT {utc_month('shipped_at', dialect)}, avg(hours_to_ship),"
        " max(hours_to_ship), count(*) FROM oms_order WHERE shipped_at "
        "IS NOT NULL GROUP BY 1 ORDER BY 1",
        "oms.receivables": ageing(""),
        "oms.receivables_by_customer": ageing("customer"),
        "oms.payments_by_method": "SELECT method, sum(CASE WHEN amount > 0 THEN amount END), "
        "sum(CASE WHEN amount < 0 THEN amount END), sum(amount), count(*) FROM oms_payment "
        "WHERE status = 'recorded' GROUP BY method ORDER BY 2 DESC",
        "wms.stock_by_warehouse": "SELECT s.warehouse, sum(s.on_hand), sum(s.reserved), "
        "sum(s.on_hand * i.cost) FROM wms_stock s JOIN wms_item i ON "
        "i.id = s.item GROUP BY s.warehouse ORDER BY 1",
        "wms.stock_value": "SELECT sum(s.on_hand * i.cost), sum(s.on_hand) FROM wms_stock s "
        "JOIN wms_item i ON i.id = s.item",
        "wms.below_reorder_point": "SELECT s.item, sum(s.on_hand - s.reserved), "
        "max(i.reorder_point) FROM wms_stock s JOIN wms_item i ON "
        "i.id = s.item GROUP BY s.item HAVING sum(s.on_hand - "
        "s.reserved) < max(i.reorder_point) ORDER BY 2 LIMIT 50",
        "crm.pipeline": "SELECT stage, count(*), sum(amount) FROM crm_opportunity GROUP BY "
        "stage ORDER BY 1",
        "crm.new_customers": f"SELECT {utc_month('created_at', dialect)}, count(*) FROM "
        "crm_customer GROUP BY 1 ORDER BY 1",
    }


def generate(
    runtime, orders: int, seed: int = 11, lines_each: int = LINES, customers_count: int = 2000
) -> None:
    """A year of orders with their lines, written in bulk; shipped ones carry a tracking
    number."""
    rng = random.Random(seed)
    tables, engine = runtime.records.tables, runtime.db.engine
    now = datetime.now(timezone.utc)
    user = runtime.users.get("bench_admin").id
    stamp = {
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": user,
        "updated_by": user,
    }
    with engine.begin() as conn:
        customers = [
            conn.execute(
                insert(tables["crm_customer"]).values(
                    number=f"C-B{n:05d}",
                    name=f"Customer {n}",
                    kind="person",
                    tier="standard",
                    created_at=now - timedelta(days=rng.randint(0, 365)),
                    **{k: v for k, v in stamp.items() if k != "created_at"},
                )
            ).inserted_primary_key[0]
            for n in range(customers_count)
        ]
        items = [
            (
                conn.execute(
                    insert(tables["wms_item"]).values(
                        sku=f"SKU-{n:04d}",
                        name=f"Item {n}",
                        unit="pcs",
                        price=Decimal(10 + n % 90),
                        cost=Decimal(5 + n % 40),
                        reorder_point=n % 50,
                        lead_time_days=7,
                        active=True,
                        **stamp,
                    )
                ).inserted_primary_key[0],
                Decimal(10 + n % 90),
            )
            for n in range(300)
        ]
        warehouses = [
            conn.execute(
                insert(tables["wms_warehouse"]).values(code=f"W{n}", name=f"Warehouse {n}", **stamp)
            ).inserted_primary_key[0]
            for n in range(3)
        ]
        conn.execute(
            insert(tables["wms_stock"]),
            [
                {"item": item, "warehouse": w, "on_hand": rng.randint(0, 200), "reserved": 0}
                for item, _ in items
                for w in warehouses
            ],
        )
        conn.execute(
            insert(tables["crm_opportunity"]),
            [
                {
                    "name": f"Deal {n}",
                    "stage": rng.choice(["new", "contacted", "qualified", "won", "lost"]),
                    "amount": Decimal(rng.randint(1, 500) * 100),
                    **stamp,
                }
                for n in range(5000)
            ],
        )
    states = ["completed"] * 6 + ["shipped", "confirmed", "draft", "cancelled", "backordered"]
    channels = ["web", "store", "phone", "email", "marketplace"]
    methods = ["alipay"] * 4 + ["wechat_pay"] * 3 + ["bank_transfer", "card", "cash"]
    for start in range(0, orders, 5000):
        batch, lines, payments = [], [], []
        for n in range(start, min(start + 5000, orders)):
            day = now - timedelta(days=rng.randint(0, 364), hours=rng.randint(0, 23))
            chosen = [rng.choice(items) for _ in range(lines_each)]
            qty = [rng.randint(1, 5) for _ in chosen]
            total = sum((price * q for (_, price), q in zip(chosen, qty, strict=True)), Decimal(0))
            status = rng.choice(states)
            share = rng.choice([Decimal(1)] * 8 + [Decimal("0.5"), Decimal(0)])  # paid of it
            paid = (total * share).quantize(Decimal("0.01"))
            shipped = (
                day + timedelta(hours=rng.randint(2, 96))
                if status in ("completed", "shipped")
                else None
            )
            batch.append(
                {
                    "id": n + 1,
                    "number": f"SO-{n:07d}",
                    "customer": rng.choice(customers),
                    "channel": rng.choice(channels),
                    "order_date": day.date(),
                    "payment_status": "paid"
                    if share == 1
                    else "partially_paid"
                    if paid
                    else "unpaid",
                    "paid": paid,
                    "total": total,
                    "status": status,
                    "was_backordered": rng.random() < 0.05,
                    "confirmed_at": day,
                    "shipped_at": shipped,
                    "tracking_number": None if shipped is None else f"SF{n:010d}",
                    "hours_to_ship": None
                    if shipped is None
                    else Decimal(round((shipped - day).total_seconds() / 3600, 2)),
                    **stamp,
                    "created_at": day,
                    "ordered_at": day,
                }
            )
            lines += [
                {
                    "parent_id": n + 1,
                    "position": i,
                    "item": item,
                    "qty": q,
                    "price": price,
                    "amount": price * q,
                    "reserved": 0,
                }
                for i, ((item, price), q) in enumerate(zip(chosen, qty, strict=True))
            ]
            if paid:
                payments.append(
                    {
                        "number": f"PAY-{n:07d}",
                        "order": n + 1,
                        "customer": batch[-1]["customer"],
                        "amount": paid,
                        "method": rng.choice(methods),
                        "paid_at": day,
                        "status": "recorded",
                        **stamp,
                    }
                )
        with engine.begin() as conn:
            conn.execute(insert(tables["oms_order"]), batch)
            conn.execute(insert(tables["oms_order_line"]), lines)
            conn.execute(insert(tables["oms_payment"]), payments)
    if runtime.db.dialect == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def best(action, rounds: int = 3) -> float:
    """The fastest of ``rounds`` runs, after one that warms the caches."""
    action()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(make_url_for, orders: int) -> dict:
    url, cleanup = make_url_for()
    with tempfile.TemporaryDirectory() as instance:
        runtime, _ = fresh_runtime(url, Path(instance))
        started = time.perf_counter()
        generate(runtime, orders)
        generated = time.perf_counter() - started
        admin = runtime.users.get("bench_admin")
        sql = hand_written(runtime.db.dialect)
        results = {}
        for app in runtime.apps.ordered():
            for report in app.reports:

                def by_report(report=report):
                    runtime.reports.run(admin, report, {})

                def by_hand(query=sql[report.qualified]):
                    with runtime.db.engine.connect() as conn:
                        conn.execute(text(query)).all()

                ours, theirs = best(by_report), best(by_hand)
                results[report.qualified] = {
                    "report_s": round(ours, 4),
                    "hand_written_s": round(theirs, 4),
                    "ratio": round(ours / theirs, 2),
                }
        runtime.close()
    cleanup()
    return {
        "orders": orders,
        "order_lines": orders * LINES,
        "generated_in_s": round(generated, 1),
        "reports": results,
    }


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 250_000)
