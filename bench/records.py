"""Orders per second: record service and HTTP API against hand-written SQLAlchemy Core.

Each run creates N orders with 3 lines three ways, on fresh tables, one
transaction per order:
  baseline  hand-written Core inserts of the same rows (number and totals
            computed in Python)
  service   RecordService.create (coercion, defaults, formulas, ref and unique
            checks, numbering, history)
  api       POST /api/v1/oms/order over one keep-alive HTTP connection to a
            threaded server on 127.0.0.1
and prints JSON with orders/s and the ratio of each to the baseline.

    python bench/records.py [--orders N] [--pg URL]

PostgreSQL runs when --pg or APPLOOM_TEST_DATABASE_URL gives a URL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from werkzeug.serving import WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apploom.engine.definitions.loading import bundled_sources  # noqa: E402
from apploom.engine.runtime import Runtime  # noqa: E402
from apploom.engine.settings import Settings  # noqa: E402
from apploom.engine.storage.database import Database  # noqa: E402
from apploom.plugins import install_definitions, open_runtime  # noqa: E402
from apploom.web import create_app  # noqa: E402


def fresh_runtime(url: str, instance: Path, sources=None, **more) -> tuple[Runtime, dict]:
    """A runtime on empty tables (of ``sources``, by default the bundled apps), with a
    sales user, a customer and three items; ``more`` settings (db_pool_size, say)."""
    settings = Settings.load(
        {"database_url": url, "instance_path": str(instance), **more}, environ={}
    )
    db = Database(url)
    install_definitions(db, sources or bundled_sources(), settings)
    db.dispose()
    runtime = open_runtime(settings)
    runtime.users.create("bench", ["sales"], "bench-password")
    admin = runtime.users.create("bench_admin", ["admin"], "bench-password")
    customer = runtime.records.create(admin, "crm.customer", {"name": "Bench Co"})
    items = [
        runtime.records.create(
            admin, "wms.item", {"sku": f"B-{i}", "name": f"Item {i}", "price": "9.90"}
        )
        for i in range(3)
    ]
    return runtime, {"customer": customer["id"], "items": [i["id"] for i in items]}


def order_payload(data: dict, n: int) -> dict:
    return {
        "customer": data["customer"],
        "channel": "web",
        "external_id": f"E-{n}",
        "lines": [
            {"item": item, "qty": 1 + (n + k) % 4, "price": "9.90"}
            for k, item in enumerate(data["items"])
        ],
    }


def run_baseline(runtime: Runtime, data: dict, numbers: range) -> float:
    tables = runtime.records.tables
    orders, lines = tables["oms_order"], tables["oms_order_line"]
    user_id = runtime.users.get("bench").id
    engine = runtime.db.engine
    start = time.perf_counter()
    for n in numbers:
        payload = order_payload(data, n)
        now = datetime.now(timezone.utc)
        amounts = [line["qty"] * Decimal(line["price"]) for line in payload["lines"]]
        with engine.begin() as conn:
            order_id = conn.execute(
                insert(orders).values(
                    number=f"BL-{n:06d}",
                    customer=data["customer"],
                    channel="web",
                    external_id=payload["external_id"],
                    order_date=now.date(),
                    payment_status="unpaid",
                    total=sum(amounts),
                    version=1,
                    created_at=now,
                    updated_at=now,
                    created_by=user_id,
                    updated_by=user_id,
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(lines),
                [
                    {
                        "parent_id": order_id,
                        "position": i,
                        "item": line["item"],
                        "qty": line["qty"],
                        "price": Decimal(line["price"]),
                        "amount": amount,
                    }
                    for i, (line, amount) in enumerate(zip(payload["lines"], amounts, strict=True))
                ],
            )
    return len(numbers) / (time.perf_counter() - start)


def run_service(runtime: Runtime, data: dict, numbers: range) -> float:
    user = runtime.users.get("bench")
    start = time.perf_counter()
    for n in numbers:
        runtime.records.create(user, "oms.order", order_payload(data, n))
    return len(numbers) / (time.perf_counter() - start)


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive, as a client of a real deployment gets, and no access log."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args, **kwargs) -> None:
        pass


def run_api(runtime: Runtime, data: dict, numbers: range) -> float:
    server = make_server(
        "127.0.0.1",
        0,
        create_app(runtime=runtime),
        threaded=True,
        request_handler=_KeepAliveHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token = runtime.users.create_token("bench")
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    start = time.perf_counter()
    for n in numbers:
        conn.request("POST", "/api/v1/oms/order", json.dumps(order_payload(data, n)), headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"API answered {response.status}")
    rate = len(numbers) / (time.perf_counter() - start)
    conn.close()
    server.shutdown()
    thread.join()
    return rate


def measure(make_url_for, count: int) -> dict:
    rates = {}
    for name, runner in (("baseline", run_baseline), ("service", run_service), ("api", run_api)):
        url, cleanup = make_url_for()
        with tempfile.TemporaryDirectory() as instance:
            runtime, data = fresh_runtime(url, Path(instance))
            runner(runtime, data, range(20))  # warm up caches and connections
            rates[name] = runner(runtime, data, range(20, 20 + count))
            runtime.close()
        cleanup()
    return {
        "orders": count,
        "orders_per_s": {k: round(v, 1) for k, v in rates.items()},
        "baseline_over_service": round(rates["baseline"] / rates["service"], 2),
        "baseline_over_api": round(rates["baseline"] / rates["api"], 2),
    }


def run_together(threads: list, start) -> float:
    """Start ``threads`` (each waits on the barrier ``start`` before its first step), let
    them go at once, and return the seconds until the last one is done."""
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return time.monotonic() - began


def sqlite_urls():
    def make():
        folder = tempfile.mkdtemp()
        return f"sqlite:///{folder}/bench.db", lambda: None

    return make


def pg_urls(base: str):
    def make():
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})

        def drop():
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        return url.render_as_string(hide_password=False), drop

    return make


def run_on_both(measure_with, description: str, orders: int) -> None:
    """Parse --orders and --pg, measure on SQLite and (given a URL) PostgreSQL, print JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--orders", type=int, default=orders)
    parser.add_argument("--pg", default=os.environ.get("APPLOOM_TEST_DATABASE_URL"))
    args = parser.parse_args()
    results = {"sqlite": measure_with(sqlite_urls(), args.orders)}
    if args.pg:
        results["postgresql"] = measure_with(pg_urls(args.pg), args.orders)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 500)
