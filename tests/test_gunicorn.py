"""gunicorn as the deployment docs run it: two workers forked from one preloaded app
(``--preload``) on PostgreSQL, under a few hundred signed-in requests at once, pages and
API, reads and writes. Every request succeeds, both workers serve, every line logged is
JSON naming its request, and /metrics sums the counts of both workers."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.helpers import TOKEN, Shop, make_runtime, needs_pg

pytestmark = needs_pg
ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docs" / "deploy" / "gunicorn.conf.py"
METRICS_TOKEN = secrets.token_hex(24)
REQUESTS = 300


class Client:
    """HTTP over urllib, with a session cookie (pages) or a bearer token (API)."""

    def __init__(self, base: str, api_token: str):
        self.base, self.api_token = base, api_token
        self.cookie = self.csrf = ""

    def call(self, path: str, method: str = "GET", body=None, form=None, headers=None):
        sent = {"Cookie": self.cookie, **(headers or {})}
        if path.startswith("/api/"):
            sent["Authorization"] = f"Bearer {self.api_token}"
        data = None
        if body is not None:
            sent["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        elif form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            data = urllib.parse.urlencode({"csrf_token": self.csrf, **form}).encode()
        request = urllib.request.Request(self.base + path, data, sent, method=method)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read().decode()

    def sign_in(self, username: str, password: str = "password1234") -> None:
        _, headers, page = self.call("/login")
        self._keep_session(headers)
        self.csrf = TOKEN.search(page).group(1)
        form = {"username": username, "password": password}
        status, headers, _ = self.call("/login", "POST", form=form)
        assert status == 303, status
        self._keep_session(headers)
        _, _, page = self.call("/")  # signing in made a new CSRF token
        self.csrf = TOKEN.search(page).group(1)

    def _keep_session(self, headers) -> None:
        for cookie in headers.get_all("Set-Cookie"):
            if cookie.startswith("apploom_session="):
                self.cookie = cookie.split(";", 1)[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 303 is an answer to check, not a page to follow


@pytest.fixture
def instance(pg_database_url, tmp_path):
    """A small shop on its own PostgreSQL database: customers, items in stock, a few
    orders, and a sales user with an API token."""
    runtime = make_runtime(pg_database_url, tmp_path / "instance")
    try:
        shop = Shop(runtime)
        sue = runtime.users.create("sue", ["sales"], "password1234")
        orders = [runtime.records.create(sue, "oms.order", shop.order()) for _ in range(3)]
        token = runtime.users.create_token("sue")
        runtime.records.comment(SYSTEM_USER, "oms.order", orders[0]["id"], "first")
    finally:
        runtime.close()
    return pg_database_url, tmp_path / "instance", shop, [o["id"] for o in orders], token


@contextmanager
def gunicorn(
    database_url: str, instance: Path, log: Path, workers: int = 2, threads: int | None = None
) -> Iterator[tuple[str, set[int]]]:
    """gunicorn with the deployment's settings, ``workers`` workers (of ``threads`` each,
    with a database connection each: by default the settings' threads and pool),
    --preload, on a free port; yields its URL and its workers' PIDs, and stops it (by
    its PID) afterwards."""
    metrics = instance / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)  # gunicorn.conf.py empties it at each start
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLOOM_")}
    env.update(
        DATABASE_URL=database_url,
        APPLOOM_INSTANCE_PATH=str(instance),
        APPLOOM_LOG_FORMAT="json",
        APPLOOM_METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG)]
    command += ["--workers", str(workers), "--preload", "--bind", "127.0.0.1:0"]
    if threads is not None:
        command += ["--threads", str(threads)]
        env["APPLOOM_DB_POOL_SIZE"] = str(threads)
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*command, "apploom.web:create_app()"], env=env, stderr=stderr, cwd=instance
        )
    try:
        url, pids = _started(server, log, workers)
        yield url, pids
    finally:
        server.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _started(server: subprocess.Popen, log: Path, count: int) -> tuple[str, set[int]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text()
        port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        workers = {int(p) for p in re.findall(r"Booting worker with pid: (\d+)", text)}
        if port and len(workers) == count:
            return f"http://127.0.0.1:{port.group(1)}", workers
        assert server.poll() is None, f"gunicorn stopped:\n{text}"
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()}")


def _work(shop: Shop, orders: list[int]) -> list[tuple[int, tuple]]:
    """What a few salespeople do at once, each with the status it answers: lists,
    records and pages; new customers, orders and comments."""
    order = f"/a/oms/order/{orders[1]}"
    reads = [
        (200, ("/api/v1/oms/order?limit=20",)),
        (200, (f"/api/v1/oms/order/{orders[0]}",)),
        (200, ("/api/v1/crm/customer?q=Emma",)),
        (200, ("/a/oms/order",)),
        (200, (order,)),
        (200, ("/",)),
        (200, ("/a/crm/customer",)),
    ]
    writes = [
        (201, ("/api/v1/crm/customer", "POST", {"name": "New customer"})),
        (201, ("/api/v1/oms/order", "POST", shop.order())),
        (303, (f"{order}/comment", "POST", None, {"body": "called the customer"})),
    ]
    return [writes[i // 10 % 3] if i % 10 == 9 else reads[i % len(reads)] for i in range(REQUESTS)]


def _scrape(client: Client) -> float:
    """The requests /metrics counts, all routes and statuses summed."""
    status, headers, text = client.call(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    counts = re.findall(r"^apploom_http_requests_total\{.*\} (\S+)$", text, re.MULTILINE)
    return sum(float(c) for c in counts)


def test_two_preloaded_workers_serve_concurrent_requests_without_an_error(instance, tmp_path):
    database_url, folder, shop, orders, token = instance
    log = tmp_path / "gunicorn.log"
    work = _work(shop, orders)
    with gunicorn(database_url, folder, log) as (url, workers):
        client = Client(url, token)
        client.sign_in("sue")
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda item: client.call(*item[1]), work))
        sent = 3 + REQUESTS  # signing in took three
        scraped = [_scrape(client) for _ in range(4)]

    got = [status for status, _, _ in answers]
    assert [(args, g) for (want, args), g in zip(work, got, strict=True) if g != want] == []
    assert scraped == [sent, sent + 1, sent + 2, sent + 3]  # whichever worker answers

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line["logger"] == "apploom.access"}
    ids = [headers["X-Request-Id"] for _, headers, _ in answers]
    assert len(set(ids)) == REQUESTS and set(ids) <= set(access)
    assert {access[i]["pid"] for i in ids} == workers  # both workers served
    assert {access[i]["user"] for i in ids} == {"sue"}
    assert [line for line in lines if line["level"] in ("ERROR", "CRITICAL")] == []
