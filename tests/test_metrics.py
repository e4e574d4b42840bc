"""/metrics for Prometheus: off without a token, refused without the right one; requests
by route and status with their latency; the outbox, imports and rule failures as the
database holds them."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, inspect, update

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import outbox
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.errors import BadSetting, RuleError
from apploom.engine.storage.system_tables import sys_outbox
from apploom.web import create_app
from tests.helpers import app_text, browser, install, make_runtime, reopen

TOKEN = "5f0c1d6e9a4b8c2d7e3f1a0b9c8d7e6f5a4b3c2d"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def watched(database_url, tmp_path):
    """The bundled apps and the desk app (whose rules can fail), /metrics on."""
    rt = make_runtime(database_url, tmp_path / "instance", metrics_token=TOKEN)
    rt = reopen(rt, bundled_sources() + [Source("desk.yaml", app_text("desk"))])
    yield rt
    rt.close()


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample /metrics answers, by name and labels."""
    answer = client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for s in family.samples
    }


def test_metrics_are_off_until_a_token_is_set(sqlite_runtime):
    client = create_app(runtime=sqlite_runtime).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_only_the_token_opens_them(sqlite_url, tmp_path):
    rt = make_runtime(sqlite_url, tmp_path / "instance", metrics_token=TOKEN, trusted_proxies=1)
    try:
        app = create_app(runtime=rt)
        rt.users.create("boss", ["admin"], "password1234")
        for headers in (
            {},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": TOKEN},  # not as a bearer token
            {"X-Forwarded-For": "127.0.0.1"},
        ):
            refused = app.test_client().get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["WWW-Authenticate"] == 'Bearer realm="apploom-metrics"'
            assert "apploom_" not in refused.get_data(as_text=True)
        assert browser(app, "boss").get("/metrics").status_code == 401  # a session is no token
        assert app.test_client().get("/metrics", headers=BEARER).status_code == 200
    finally:
        rt.close()


def test_a_weak_token_refuses_to_start(sqlite_url, tmp_path):
    rt = make_runtime(sqlite_url, tmp_path / "instance", metrics_token="metrics")
    try:
        with pytest.raises(BadSetting, match="APPLOOM_METRICS_TOKEN is too short"):
            create_app(runtime=rt)
    finally:
        rt.close()


def test_requests_are_counted_by_route_and_status_with_their_latency(watched):
    client = create_app(runtime=watched).test_client()
    watched.users.create("boss", ["admin"], "password1234")
    auth = {"Authorization": "Bearer " + watched.users.create_token("boss")}
    customers = [
        watched.records.create(SYSTEM_USER, "crm.customer", {"name": name})["id"]
        for name in ("Ann", "Bo")
    ]
    route = ("route", "/api/v1/<app>/<entity>/<int:record_id>")
    before = scrape(client)
    for customer in customers:
        assert client.get(f"/api/v1/crm/customer/{customer}", headers=auth).status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    def added(name, *labels):
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0) - before.get(key, 0)

    assert added("apploom_http_requests_total", ("method", "GET"), route, ("status", "200")) == 2
    assert added("apploom_http_request_duration_seconds_count", ("method", "GET"), route) == 2
    assert added("apploom_http_request_duration_seconds_sum", ("method", "GET"), route) > 0
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert added("apploom_http_requests_total", *unmatched) == 1
    assert not any(f"/{customers[0]}" in str(labels) for _, labels in after)  # no raw paths
    scraped = (("method", "GET"), ("route", "/metrics"), ("status", "200"))
    assert added("apploom_http_requests_total", *scraped) == 1  # the scrape before


def test_the_database_figures_are_read_at_each_scrape(watched):
    client = create_app(runtime=watched).test_client()
    empty = scrape(client)
    assert empty[("apploom_database_up", ())] == 1
    assert empty[("apploom_outbox_waiting", (("kind", "email"),))] == 0
    assert empty[("apploom_outbox_oldest_waiting_seconds", ())] == 0
    assert empty[("apploom_imports", (("status", "running"),))] == 0

    with watched.db.write() as conn:
        with clock.at(clock.now() - timedelta(hours=1)):
            outbox.enqueue(conn, "email", {"to": "a@example.com", "subject": "old"})
        outbox.enqueue(conn, "email", {"to": "b@example.com", "subject": "new"})
        dead = outbox.enqueue(conn, "webhook", {"url": "http://127.0.0.1:9/", "body": {}})
        conn.execute(update(sys_outbox).where(sys_outbox.c.id == dead).values(status="dead"))
    watched.imports.upload(SYSTEM_USER, "crm.customer", "c.csv", io.BytesIO(b"Name\nAnn\n"))
    agent = watched.users.create("ann", ["agent"], "password1234")
    ticket = watched.records.create(agent, "desk.ticket", {"subject": "x" * 60})
    for _ in range(2):
        with pytest.raises(RuleError):
            watched.transitions.take(agent, "desk.ticket", ticket["id"], "answer")

    found = scrape(client)
    assert found[("apploom_outbox_waiting", (("kind", "email"),))] == 2
    assert found[("apploom_outbox_waiting", (("kind", "webhook"),))] == 0
    assert found[("apploom_outbox_dead", (("kind", "webhook"),))] == 1
    assert 3600 <= found[("apploom_outbox_oldest_waiting_seconds", ())] < 3700
    assert found[("apploom_imports", (("status", "uploaded"),))] == 1
    failed = (("entity", "desk.ticket"), ("rule", "follow_up"))
    assert found[("apploom_rule_failures_total", failed)] == 2


def test_a_database_that_does_not_answer_is_a_figure_too(sqlite_url, tmp_path):
    rt = make_runtime(sqlite_url, tmp_path / "instance", metrics_token=TOKEN)
    try:
        client = create_app(runtime=rt).test_client()
        rt.db.engine.dispose()
        rt.db.engine = create_engine(f"sqlite:///{tmp_path}/no/such/folder/x.db")
        found = scrape(client)
        assert found[("apploom_database_up", ())] == 0
        assert not any(name.startswith("apploom_outbox") for name, _ in found)
    finally:
        rt.close()


def test_an_older_database_gets_the_index_failed_rule_runs_are_counted_from(runtime):
    with runtime.db.write() as conn:
        conn.exec_driver_sql("DROP INDEX ix_sys_rule_run_failed")
    install(runtime.db, bundled_sources())  # as 'apploom init' does for a new release
    with runtime.db.read() as conn:
        indexes = {i["name"] for i in inspect(conn).get_indexes("sys_rule_run")}
    assert "ix_sys_rule_run_failed" in indexes
