"""Throughput across processes: a mixed workload from N clients against gunicorn with 1,
then 2 workers on PostgreSQL, and its order creates against the record service's.

The instance, in a fresh schema dropped afterwards, holds 200 customers and 200 items
with ample stock in two warehouses, so no confirm runs short. gunicorn runs as
docs/deploy/gunicorn.conf.py has it (gthread, its threads a worker and a database
connection each, --preload, JSON logs, request metrics) on 127.0.0.1 and a free port,
and is stopped by its PID. Each client is a thread: a salesperson on a keep-alive
connection, signed in (a session cookie) for the pages, with an API token for the API.
Until the time is up it sends a request picked at random by weight:
  list_api     2  GET /api/v1/oms/order, drafts and confirmed orders, by total
  list_page    2  GET /a/oms/order with the same filter and sort: the HTML list
  record_api   2  GET /api/v1/oms/order/<id>, with the transitions it allows
  record_page  2  GET /a/oms/order/<id>: the HTML page, timeline and panels
  create       2  POST /api/v1/oms/order with 3 lines
  confirm      1  POST /api/v1/oms/order/<id>/transitions/confirm of a draft: the
                  reservation of every line's stock
Then, on the same server, the clients only create orders for a while. The baseline,
earlier in the same run: as many threads creating orders through the record service
(runtime.records.create) in this process, no HTTP. Every answer is checked (its status;
a confirmed order, not a backordered one) and a single error fails the run.

Prints a table (on stderr) and JSON: per worker count, requests/s overall and per kind,
p50 and p99 latency per kind, the requests each worker served, the CPU the workers used
in the mix and in creates alone (cores kept busy, ms per request: the figure a loaded
machine disturbs least), the errors, and the HTTP order creates/s as a ratio to the
record service's; and the load average around the run.

    python bench/serve.py [--clients 8] [--seconds 30] [--create-seconds 10]
        [--threads T] [--pg URL]

PostgreSQL: --pg, else APPLOOM_TEST_DATABASE_URL, else the local test database.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import runpy
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from records import fresh_runtime, pg_urls, run_together

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apploom.engine.access.permissions import User  # noqa: E402
from apploom.engine.runtime import Runtime  # noqa: E402
from tests.test_gunicorn import CONFIG, Client, gunicorn  # noqa: E402

LOCAL_PG = "postgresql+psycopg://root@127.0.0.1:5432/test"
CUSTOMERS, ITEMS, STOCK = 200, 200, 10_000  # STOCK: of each item in each warehouse
LIST = "status__in=draft,confirmed&sort=-total"  # both lists' filter and sort
WARM_UP = 2  # seconds of the workload, not measured, before each measured phase


class Shop:
    """What orders are made of, every order made (record pages show one), and the drafts
    still to be confirmed, oldest first."""

    def __init__(self, runtime: Runtime, data: dict):
        admin = runtime.users.get("bench_admin")
        create = runtime.records.create
        self.customers = [data["customer"]] + [
            create(admin, "crm.customer", {"name": f"Customer {n}"})["id"]
            for n in range(CUSTOMERS - 1)
        ]
        self.items = data["items"] + [
            create(admin, "wms.item", {"sku": f"S-{n}", "name": f"Item {n}", "price": "9.90"})["id"]
            for n in range(ITEMS - len(data["items"]))
        ]
        for code in ("E1", "W1"):
            warehouse = create(admin, "wms.warehouse", {"code": code, "name": code})["id"]
            for item in self.items:
                move = {"item": item, "warehouse": warehouse, "kind": "receipt", "qty": STOCK}
                create(admin, "wms.stock_move", move)
        self.orders: list[int] = []
        self.drafts: deque[int] = deque()

    def order(self, rng: random.Random) -> dict:
        return {
            "customer": rng.choice(self.customers),
            "channel": "web",
            "lines": [
                {"item": item, "qty": rng.randint(1, 3), "price": "9.90"}
                for item in rng.sample(self.items, 3)
            ],
        }

    def made(self, order: int) -> None:
        self.orders.append(order)
        self.drafts.append(order)


class Http:
    """A salesperson at the server: a keep-alive connection, the session cookie of a
    sign-in for the pages and an API token for the API."""

    def __init__(self, url: str, token: str):
        browser = Client(url, token)
        browser.sign_in("bench", "bench-password")
        self.pages = {"Cookie": browser.cookie}
        self.api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        address = urlsplit(url)
        self.conn = http.client.HTTPConnection(str(address.hostname), address.port, timeout=60)

    def call(self, status: int, method: str, path: str, body: Any = None) -> bytes:
        """The answer's body, if its status is ``status``."""
        headers = self.api if path.startswith("/api/") else self.pages
        self.conn.request(method, path, None if body is None else json.dumps(body), headers)
        response = self.conn.getresponse()
        text = response.read()
        if response.status != status:
            raise RuntimeError(f"{method} {path} answered {response.status}: {text[:300]!r}")
        return text


@dataclass(frozen=True)
class InProcess:
    """A caller of the record service in this process."""

    runtime: Runtime
    user: User


def list_api(client: Http, shop: Shop, rng: random.Random) -> None:
    client.call(200, "GET", f"/api/v1/oms/order?{LIST}")


def list_page(client: Http, shop: Shop, rng: random.Random) -> None:
    client.call(200, "GET", f"/a/oms/order?{LIST}")


def record_api(client: Http, shop: Shop, rng: random.Random) -> None:
    client.call(200, "GET", f"/api/v1/oms/order/{rng.choice(shop.orders)}")


def record_page(client: Http, shop: Shop, rng: random.Random) -> None:
    client.call(200, "GET", f"/a/oms/order/{rng.choice(shop.orders)}")


def create(client: Http, shop: Shop, rng: random.Random) -> None:
    shop.made(json.loads(client.call(201, "POST", "/api/v1/oms/order", shop.order(rng)))["id"])


def confirm(client: Http, shop: Shop, rng: random.Random) -> None:
    order = shop.drafts.popleft()  # never empty: the baseline left drafts, the mix adds more
    path = f"/api/v1/oms/order/{order}/transitions/confirm"
    status = json.loads(client.call(200, "POST", path))["status"]
    if status != "confirmed":
        raise RuntimeError(f"order {order} is {status} after confirm: its stock ran short")


def service_create(client: InProcess, shop: Shop, rng: random.Random) -> None:
    shop.made(client.runtime.records.create(client.user, "oms.order", shop.order(rng))["id"])


MIX: dict[Callable, int] = {
    list_api: 2,
    list_page: 2,
    record_api: 2,
    record_page: 2,
    create: 2,
    confirm: 1,
}
KINDS = [operation.__name__ for operation in MIX]
WORKERS = (1, 2)


def drive(clients: list, mix: dict[Callable, int], shop: Shop, seconds: float) -> dict:
    """Each client, a thread, repeats operations picked from ``mix`` by weight until the
    time is up, and stops at its first error: the rates, latencies and errors."""
    took: dict[str, list[float]] = {operation.__name__: [] for operation in mix}
    errors: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(clients) + 1)

    def run(client, seed: int) -> None:
        rng = random.Random(seed)
        mine: dict[str, list[float]] = {name: [] for name in took}
        failed: Counter = Counter()
        start.wait()
        stop = time.monotonic() + seconds
        while not failed and time.monotonic() < stop:
            operation = rng.choices(list(mix), list(mix.values()))[0]
            began = time.perf_counter()
            try:
                operation(client, shop, rng)
            except Exception as exc:  # any error fails the run
                failed[f"{operation.__name__}: {type(exc).__name__}: {exc}"] += 1
            else:
                mine[operation.__name__].append(time.perf_counter() - began)
        with lock:
            for name, times in mine.items():
                took[name] += times
            errors.update(failed)

    threads = [threading.Thread(target=run, args=(c, n)) for n, c in enumerate(clients)]
    elapsed = run_together(threads, start)
    requests = sum(map(len, took.values()))
    return {
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "kinds": {name: rates(times, elapsed) for name, times in took.items()},
        "errors": dict(errors.most_common(5)),
    }


def rates(times: list[float], elapsed: float) -> dict:
    """Per second, and the median and 99th percentile latency in ms (nearest rank)."""
    times = sorted(times)

    def ms(q: float) -> float | None:
        return round(times[min(len(times) - 1, int(q * len(times)))] * 1000, 1) if times else None

    return {"per_s": round(len(times) / elapsed, 1), "p50_ms": ms(0.5), "p99_ms": ms(0.99)}


def checked(result: dict) -> dict:
    """The result of ``drive``, if no request failed; else the run ends, loudly."""
    if result["errors"]:
        sys.exit("errors: " + json.dumps(result["errors"], indent=2, ensure_ascii=False))
    return result


def served(log: Path, since: int) -> list[int]:
    """Requests each worker answered, most first, from byte ``since`` of gunicorn's log
    (JSON lines: the access lines name their process)."""
    with log.open("rb") as lines:
        lines.seek(since)
        pids = Counter(
            entry["pid"]
            for line in lines
            if line.startswith(b"{") and (entry := json.loads(line))["logger"] == "apploom.access"
        )
    return sorted(pids.values(), reverse=True)


def cpu_seconds(pids: set[int]) -> float:
    """The CPU time (user and system) these processes have used so far, from Linux's
    /proc/<pid>/stat: its 14th and 15th fields, in clock ticks."""
    ticks = 0
    for pid in pids:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(after_name[11]) + int(after_name[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def on_cpu(pids: set[int], clients: list, mix: dict[Callable, int], shop: Shop, seconds):
    """``drive`` against the server whose workers are ``pids``, with the CPU they used:
    how many cores they kept busy (on a shared machine, fewer than they could), and the
    ms per request (the figure a loaded machine disturbs least)."""
    before = cpu_seconds(pids)
    result = checked(drive(clients, mix, shop, seconds))
    used = cpu_seconds(pids) - before
    result["workers_cpu"] = {
        "cores": round(used / result["seconds"], 2),
        "ms_per_request": round(used * 1000 / result["requests"], 1),
    }
    return result


def serve(url: str, instance: Path, workers: int, args, token: str, shop: Shop) -> dict:
    """The mixed workload, then creates alone, against gunicorn with ``workers`` workers."""
    log = instance.parent / f"gunicorn-{workers}.log"
    with gunicorn(url, instance, log, workers, args.threads) as (base, pids):
        clients = [Http(base, token) for _ in range(args.clients)]
        checked(drive(clients, MIX, shop, WARM_UP))
        since = log.stat().st_size
        mixed = on_cpu(pids, clients, MIX, shop, args.seconds)
        mixed["served_by_each_worker"] = served(log, since)
        creates = on_cpu(pids, clients, {create: 1}, shop, args.create_seconds)
    mixed["creates_alone"] = {**creates["kinds"]["create"], "workers_cpu": creates["workers_cpu"]}
    return mixed


def baseline(runtime: Runtime, shop: Shop, args) -> dict:
    """Orders created through the record service by as many threads as there are
    clients; the drafts they leave are the first the clients confirm."""
    callers = [InProcess(runtime, runtime.users.get("bench"))] * args.clients
    checked(drive(callers, {service_create: 1}, shop, WARM_UP))
    return checked(drive(callers, {service_create: 1}, shop, args.create_seconds))


def table(results: dict) -> str:
    """The figures of each worker count side by side, for a reader."""
    phases = results["workers"].values()

    def line(name: str, cells) -> str:
        return f"{name:14}" + "".join(f"{cell:>26}" for cell in cells)

    def figures(found: dict) -> str:
        return f"{found['per_s']:>10}{found['p50_ms']:>8}{found['p99_ms']:>8}"

    def alone(value) -> str:  # under req/s
        return f"{value!s:>10}" + " " * 16

    lines = [
        f"{results['clients']} clients, {results['threads_per_worker']} threads a worker, "
        f"{results['seconds']} s of the mix, {results['create_seconds']} s of creates alone",
        line("", (f"{workers} worker(s)" for workers in results["workers"])),
        line("", (f"{'req/s':>10}{'p50 ms':>8}{'p99 ms':>8}" for _ in phases)),
        *(line(kind, (figures(p["kinds"][kind]) for p in phases)) for kind in KINDS),
        line("all", (alone(p["requests_per_s"]) for p in phases)),
        line(
            "each worker",
            (alone("/".join(map(str, p["served_by_each_worker"]))) for p in phases),
        ),
        line("cores busy", (alone(p["workers_cpu"]["cores"]) for p in phases)),
        line("CPU ms/req", (alone(p["workers_cpu"]["ms_per_request"]) for p in phases)),
        line("creates alone", (figures(p["creates_alone"]) for p in phases)),
        line("  / service", (alone(p["http_over_service"]) for p in phases)),
        line("  cores busy", (alone(p["creates_alone"]["workers_cpu"]["cores"]) for p in phases)),
        line(
            "  CPU ms/req",
            (alone(p["creates_alone"]["workers_cpu"]["ms_per_request"]) for p in phases),
        ),
    ]
    service, load = results["record_service_creates"], results["load_average"]
    lines.append(
        f"record service, {results['clients']} threads in one process: {service['per_s']} "
        f"creates/s, p50 {service['p50_ms']} ms, p99 {service['p99_ms']} ms"
    )
    lines.append(f"load average (1, 5, 15 min): {load['before']} before, {load['after']} after")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30, help="of the mixed workload")
    parser.add_argument("--create-seconds", type=float, default=10, help="of creates alone")
    parser.add_argument("--threads", type=int, default=runpy.run_path(str(CONFIG))["threads"])
    parser.add_argument("--pg", default=os.environ.get("APPLOOM_TEST_DATABASE_URL", LOCAL_PG))
    args = parser.parse_args()
    results: dict[str, Any] = {
        "clients": args.clients,
        "threads_per_worker": args.threads,
        "seconds": args.seconds,
        "create_seconds": args.create_seconds,
        "load_average": {"before": [round(n, 2) for n in os.getloadavg()]},
    }
    url, drop = pg_urls(args.pg)()
    try:
        with tempfile.TemporaryDirectory() as folder:
            instance = Path(folder) / "instance"
            runtime, data = fresh_runtime(url, instance, db_pool_size=args.clients)
            shop = Shop(runtime, data)
            token = runtime.users.create_token("bench")
            service = baseline(runtime, shop, args)["kinds"]["service_create"]
            runtime.close()
            results["record_service_creates"] = service
            results["workers"] = {}
            for workers in WORKERS:
                found = serve(url, instance, workers, args, token, shop)
                found["http_over_service"] = round(
                    found["creates_alone"]["per_s"] / service["per_s"], 2
                )
                results["workers"][workers] = found
    finally:
        drop()
    results["load_average"]["after"] = [round(n, 2) for n in os.getloadavg()]
    print(table(results), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
