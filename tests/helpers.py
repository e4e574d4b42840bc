"""Test factories: runtimes over chosen definitions, and a small shop of records."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.jobs.service import ACTIVE
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_job
from apploom.engine.versions.install import ApplyResult
from apploom.plugins import (
    BUNDLED,
    Extensions,
    gather,
    install_definitions,
    open_runtime,
    plugin_manager,
)
from apploom.web import create_app
from tests.databases import seed

PG_URL = os.environ.get("APPLOOM_TEST_DATABASE_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL, reason="APPLOOM_TEST_DATABASE_URL is not set (PostgreSQL tests run in CI)"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=needs_pg)]


APPS = Path(__file__).resolve().parent / "apps"


def app_text(name: str) -> str:
    """The text of the test app ``tests/apps/<name>.yaml``."""
    return (APPS / f"{name}.yaml").read_text(encoding="utf-8")


def bundled_plugins() -> Extensions:
    return gather(plugin_manager([BUNDLED]), None)


def bundled_actions() -> frozenset[str]:
    """Every action the bundled apps may name: the built-in ones and the bundled plugins'."""
    return frozenset(BUILTIN_ACTIONS) | frozenset(bundled_plugins().actions)


def install(
    db: Database, sources: list[Source], extra_actions: frozenset[str] = frozenset(), **options
) -> ApplyResult:
    """Apply definitions knowing what the bundled plugins add (the bundled apps use them)."""
    return install_definitions(db, sources, Settings.load(environ={}), extra_actions, **options)


def make_runtime(
    database_url: str, instance: Path, sources: list[Source] | None = None, **settings
) -> Runtime:
    """Apply ``sources`` (default: the bundled apps) and open a runtime on them, with
    the bundled plugins."""
    config = Settings.load(
        {"instance_path": str(instance), "database_url": database_url, **settings}, environ={}
    )
    seed(config.database_url, sources if sources is not None else bundled_sources(), install)
    return open_runtime(config)


@contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """The app served over real HTTP on 127.0.0.1 by a server thread; yields its URL."""
    http = make_server("127.0.0.1", 0, create_app(runtime=runtime), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(timeout=5)


def reopen(runtime: Runtime, sources: list[Source]) -> Runtime:
    """Apply ``sources`` to the runtime's database and open a fresh runtime on the result."""
    install(runtime.db, sources)
    runtime.close()
    return open_runtime(runtime.settings)


def bundled_with(file: str, old: str, new: str) -> list[Source]:
    """The bundled definitions with one text replacement in ``file``."""
    sources = []
    for source in bundled_sources():
        if source.file.endswith(file):
            assert old in source.text, f"{old!r} is not in {file}"
            source = Source(source.file, source.text.replace(old, new))
        sources.append(source)
    return sources


class Api:
    """A test client that sends one user's token."""

    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        def call(url, headers=None, **kwargs):
            return getattr(self.client, method)(
                url, headers={**self.headers, **(headers or {})}, **kwargs
            )

        return call


def finished(api: Api, accepted, timeout: float = 120) -> dict:
    """The job a 202 answer names, polled at its Location until it ends."""
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    deadline = time.monotonic() + timeout
    while (job := api.get(accepted.headers["Location"]).json)["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def settled(runtime: Runtime, timeout: float = 120) -> None:
    """Wait until no job of the runtime's database is queued or running."""
    deadline = time.monotonic() + timeout
    active = select(func.count()).where(sys_job.c.status.in_(ACTIVE))
    while True:
        with runtime.db.read() as conn:
            if not conn.execute(active).scalar():
                return
        assert time.monotonic() < deadline, "jobs still running"
        time.sleep(0.05)


class Shop:
    """A few records to work with: two customers, two items, a warehouse with 100 of each."""

    def __init__(self, rt: Runtime, user=SYSTEM_USER):
        create = rt.records.create
        self.customer = create(
            user, "crm.customer", {"name": "张三", "email": "zs@example.com", "city": "上海"}
        )
        self.other = create(user, "crm.customer", {"name": "Emma", "city": "London"})
        self.cup = create(user, "wms.item", {"sku": "CUP-1", "name": "Cup", "price": "12.50"})
        self.pot = create(user, "wms.item", {"sku": "POT-1", "name": "Pot", "price": "268.00"})
        self.warehouse = create(SYSTEM_USER, "wms.warehouse", {"code": "SH", "name": "Shanghai"})
        for item in (self.cup, self.pot):
            create(
                SYSTEM_USER,
                "wms.stock_move",
                {
                    "item": item["id"],
                    "kind": "receipt",
                    "warehouse": self.warehouse["id"],
                    "qty": 100,
                },
            )

    def order(self, **overrides) -> dict:
        data = {
            "customer": self.customer["id"],
            "channel": "web",
            "lines": [
                {"item": self.cup["id"], "qty": 2, "price": "12.50"},
                {"item": self.pot["id"], "qty": 1, "price": "268.00"},
            ],
        }
        data.update(overrides)
        return data


TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A test client that signs in and sends the CSRF token like the pages do."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = ""

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        found = response.mimetype == "text/html" and TOKEN.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, url, data=None, **kwargs):
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def login(self, username, password="password1234"):
        """Sign in, then load a page: signing in gives the session a new CSRF token."""
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        self.get("/")
        return response


def browser(app, username: str) -> Browser:
    """A Browser signed in as ``username``."""
    b = Browser(app)
    assert b.login(username).status_code == 303
    return b


def silence(runtime: Runtime, job_id: int) -> None:
    """Make a running job look as if its process died five minutes ago, as the worker
    finds one to take up."""
    with runtime.db.write() as conn:
        conn.execute(
            update(sys_job)
            .where(sys_job.c.id == job_id)
            .values(beat_at=datetime.now(timezone.utc) - timedelta(minutes=5))
        )
