"""A million orders: lists, search, the record page, a create and a confirm at scale,
each beside the hand-written SQL for the same result in the same run.

Builds N orders (1,000,000 by default) with 3 lines each over 20,000 customers and 300
items across a year, a payment for most, and the history they would carry (a create and a
confirm each, in sys_history and sys_transition), all in bulk. Then times, as an admin,
the best of 5 warm runs of:
  list_first_page     the order list as it opens (newest first, its lines, the count)
  list_deep_page      the page after the 500,000th order, by the cursor of the page before
  list_by_customer    sorted by the customer's name (a ref's field)
  list_filtered       status shipped and an order date in one month
  search_number       q = one order number
  search_customer     q = one customer's name
  search_tracking     q = one tracking number
  record_page         one order with its lines and its timeline
each against one hand-written SQL statement set giving the same rows; and a create with 3
lines and a confirm against the same on an empty database in the same run (the ratio shows
what the million costs). Memory: the process's resident size before and after 200 more
rounds of the lists. Prints JSON.

    python bench/scale.py [--orders N] [--pg URL]
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from records import fresh_runtime, order_payload, run_on_both
from reports import best, generate
from sqlalchemy import text

from apploom.engine import clock
from apploom.engine.query.filters import Condition, Query
from apploom.engine.records.service import COUNT_LIMIT

LINES = 3
CUSTOMERS = 20_000
PAGE = 50
ROUNDS = 5


def add_history(runtime) -> None:
    """A create and a confirm for every order, as the record service writes them."""
    user = runtime.users.get("bench_admin").id
    changes = '\'{"status": [null, "draft"]}\''
    if runtime.db.dialect == "postgresql":
        changes += "::json"
    with runtime.db.engine.begin() as conn:
        for version, action, transition in ((1, "create", "NULL"), (2, "transition", "'confirm'")):
            conn.execute(
                text(
                    "INSERT INTO sys_history (entity, record_id, version, action, user_id, at, "
                    f"changes, transition) SELECT 'oms.order', id, {version}, '{action}', "
                    f"{user}, created_at, {changes}, {transition} FROM oms_order"
                )
            )
        for transition, before, after in (
            ("NULL", "NULL", "draft"),
            ("'confirm'", "'draft'", "confirmed"),
        ):
            conn.execute(
                text(
                    "INSERT INTO sys_transition (entity, record_id, transition, from_state, "
                    f"to_state, user_id, at) SELECT 'oms.order', id, {transition}, {before}, "
                    f"'{after}', {user}, created_at FROM oms_order"
                )
            )
        if runtime.db.dialect == "postgresql":  # the orders came with their ids
            conn.execute(text("SELECT setval('oms_order_id_seq', (SELECT max(id) FROM oms_order))"))
        conn.execute(text("ANALYZE"))


def fetch(runtime, *statements: str, **params) -> list[list[dict]]:
    """Run hand-written statements in one read, each fed the ids the first returned, and
    give their rows as JSON would carry them (what a hand-written endpoint does too)."""
    with runtime.db.engine.connect() as conn:
        first = conn.execute(text(statements[0]), params)
        results = [plain(first)]
        ids = ",".join(str(r["id"]) for r in results[0]) or "0"
        for statement in statements[1:]:
            results.append(plain(conn.execute(text(statement.format(ids=ids)))))
        return results


def plain(result) -> list[dict]:
    keys = list(result.keys())
    return [
        {
            k: v.isoformat()
            if isinstance(v, (date, datetime))
            else str(v)
            if isinstance(v, Decimal)
            else v
            for k, v in zip(keys, row, strict=True)
        }
        for row in result
    ]


def counted(where: str) -> str:
    """The count a list gives: up to COUNT_LIMIT."""
    return (
        f"SELECT count(*) AS id FROM (SELECT 1 FROM oms_order o{where} LIMIT {COUNT_LIMIT + 1}) s"
    )


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


LINES_OF = "SELECT * FROM oms_order_line WHERE parent_id IN ({ids}) ORDER BY parent_id, position"


def cases(runtime, orders: int) -> dict:
    """Each case: (ours, hand-written), both giving the same rows."""
    admin = runtime.users.get("bench_admin")
    records = runtime.records

    def ours(query: Query):
        return lambda: records.list(admin, "oms.order", query)

    def hand(where: str, order: str, after: str = "", **params):
        """The page (after ``after``), its lines, and the count of the list."""
        cond = f" WHERE {where}" if where else ""
        page_cond = (
            f" WHERE {' AND '.join(c for c in (where, after) if c)}" if where or after else ""
        )
        return lambda: (
            fetch(
                runtime,
                f"SELECT o.* FROM oms_order o{page_cond} ORDER BY {order} LIMIT {PAGE}",
                LINES_OF,
                **params,
            ),
            fetch(runtime, counted(cond), **params),
        )

    newest = "o.created_at DESC, o.id DESC"
    with runtime.db.engine.connect() as conn:
        middle = conn.execute(
            text(
                f"SELECT created_at, id FROM oms_order ORDER BY created_at DESC, id DESC "
                f"LIMIT 1 OFFSET {orders // 2}"
            )
        ).one()
        number, customer_name, tracking = conn.execute(
            text(
                "SELECT o.number, c.name, o.tracking_number FROM oms_order o "
                "JOIN crm_customer c ON c.id = o.customer WHERE o.tracking_number IS NOT NULL "
                f"AND o.id > {orders // 3} ORDER BY o.id LIMIT 1"
            )
        ).one()
    month_start = clock.today() - timedelta(days=60)
    month_end = month_start + timedelta(days=30)
    middle_cursor = records.list(admin, "oms.order", Query(limit=1, offset=orders // 2)).next
    like = "lower({}) LIKE lower(:q)" if runtime.db.dialect == "sqlite" else "{} ILIKE :q"

    def searched(prefix: str) -> list[str]:
        return [
            *(like.format(prefix + c) for c in ("number", "external_id", "tracking_number")),
            f"{prefix}customer IN (SELECT id FROM crm_customer WHERE {like.format('name')})",
        ]

    def search_hand(value: str):
        """One scan testing each column on SQLite; on PostgreSQL, one index (trigram) per
        column, the ids of each joined."""
        if runtime.db.dialect == "sqlite":
            found = "(" + " OR ".join(searched("o.")) + ")"
        else:
            found = (
                "o.id IN ("
                + " UNION ".join(f"SELECT id FROM oms_order WHERE {c}" for c in searched(""))
                + ")"
            )
        return hand(found, newest, q=f"%{value}%")

    return {
        "list_first_page": (ours(Query()), hand("", newest)),
        "list_deep_page": (
            ours(Query(after=middle_cursor)),
            hand(
                "",
                newest,
                after="(o.created_at, o.id) < (:at, :id)",
                at=middle.created_at,
                id=middle.id,
            ),
        ),
        "list_by_customer": (
            ours(Query(sort=("customer.name",))),
            lambda: (
                fetch(
                    runtime,
                    "SELECT o.* FROM oms_order o LEFT JOIN crm_customer c ON c.id = o.customer "
                    f"ORDER BY c.name, o.id LIMIT {PAGE}",
                    LINES_OF,
                ),
                fetch(runtime, counted("")),
            ),
        ),
        "list_filtered": (
            ours(
                Query(
                    conditions=(
                        Condition("status", "eq", "shipped"),
                        Condition("order_date", "between", f"{month_start},{month_end}"),
                    )
                )
            ),
            hand(
                "o.status = 'shipped' AND o.order_date BETWEEN :a AND :b",
                newest,
                a=month_start,
                b=month_end,
            ),
        ),
        "search_number": (ours(Query(search=number)), search_hand(number)),
        "search_customer": (ours(Query(search=customer_name)), search_hand(customer_name)),
        "search_tracking": (ours(Query(search=tracking)), search_hand(tracking)),
        "record_page": (
            lambda: (
                records.get(admin, "oms.order", orders // 2),
                records.timeline(admin, "oms.order", orders // 2),
            ),
            lambda: fetch(
                runtime,
                f"SELECT * FROM oms_order WHERE id = {orders // 2}",
                "SELECT * FROM oms_order_line WHERE parent_id IN ({ids}) ORDER BY position",
                "SELECT * FROM sys_history WHERE entity = 'oms.order' AND record_id IN ({ids})"
                " ORDER BY at DESC",
                "SELECT * FROM sys_comment WHERE entity = 'oms.order' AND record_id IN ({ids})",
                "SELECT * FROM sys_rule_run WHERE entity = 'oms.order' AND record_id IN ({ids})",
            ),
        ),
    }


def writes(runtime, data: dict, rounds: int) -> dict:
    """Seconds for a create with 3 lines and for a confirm, the best of ``rounds``."""
    admin, user = runtime.users.get("bench_admin"), runtime.users.get("bench")
    warehouse = runtime.records.create(admin, "wms.warehouse", {"code": "BW", "name": "Bench"})
    for item in data["items"]:
        runtime.records.create(
            admin,
            "wms.stock_move",
            {"item": item, "warehouse": warehouse["id"], "kind": "receipt", "qty": 100 * rounds},
        )
    created: list[int] = []

    def create() -> None:
        created.append(
            runtime.records.create(user, "oms.order", order_payload(data, len(created)))["id"]
        )

    create_s = best(create, rounds)
    confirm_s = min(
        _timed(lambda i=i: runtime.transitions.take(user, "oms.order", i, "confirm"))
        for i in created
    )
    return {"create_s": create_s, "confirm_s": confirm_s}


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(make_url_for, orders: int) -> dict:
    empty_url, empty_cleanup = make_url_for()
    with tempfile.TemporaryDirectory() as instance:
        runtime, data = fresh_runtime(empty_url, Path(instance))
        on_empty = writes(runtime, data, 20)
        runtime.close()
    empty_cleanup()

    url, cleanup = make_url_for()
    with tempfile.TemporaryDirectory() as instance:
        runtime, data = fresh_runtime(url, Path(instance))
        started = time.perf_counter()
        generate(runtime, orders, lines_each=LINES, customers_count=CUSTOMERS)
        add_history(runtime)
        generated = time.perf_counter() - started
        results = {}
        for name, (ours, theirs) in cases(runtime, orders).items():
            ours_s, theirs_s = best(ours, ROUNDS), best(theirs, ROUNDS)
            results[name] = {
                "ours_ms": round(ours_s * 1000, 1),
                "hand_written_ms": round(theirs_s * 1000, 1),
                "ratio": round(ours_s / theirs_s, 2),
            }
        at_scale = writes(runtime, data, 20)
        for name in ("create_s", "confirm_s"):
            results[name.replace("_s", "")] = {
                "ours_ms": round(at_scale[name] * 1000, 1),
                "empty_db_ms": round(on_empty[name] * 1000, 1),
                "ratio": round(at_scale[name] / on_empty[name], 2),
            }
        before = rss_kib()
        lists = [ours for ours, _ in cases(runtime, orders).values()]
        for _ in range(200 // len(lists)):
            for action in lists:
                action()
        memory = {"rss_before_kib": before, "rss_after_kib": rss_kib()}
        runtime.close()
    cleanup()
    return {
        "orders": orders,
        "order_lines": orders * LINES,
        "generated_in_s": round(generated, 1),
        "cases": results,
        "memory": memory,
    }


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 1_000_000)
