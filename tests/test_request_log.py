"""An access log line per request with an id the answer names, and error lines with it."""

from __future__ import annotations

import logging

import pytest

from apploom.web import create_app
from tests.helpers import make_runtime


@pytest.fixture
def access(caplog):
    caplog.set_level(logging.INFO, logger="apploom.access")
    return lambda: [r for r in caplog.records if r.name == "apploom.access"]


def test_each_request_logs_its_method_path_status_duration_and_id(sqlite_runtime, access):
    client = create_app(runtime=sqlite_runtime).test_client()
    first = client.get("/healthz")
    second = client.get("/login?next=/oms/order%3Fq%3Dsecret")
    missing = client.get("/no/such/page")

    lines = access()
    assert [(r.method, r.path, r.status) for r in lines] == [
        ("GET", "/healthz", 200),
        ("GET", "/login", 200),  # no query string: it can hold searches and tokens
        ("GET", "/no/such/page", 404),
    ]
    ids = [r.request_id for r in lines]
    assert ids == [a.headers["X-Request-Id"] for a in (first, second, missing)]
    assert len(set(ids)) == 3
    assert all(r.duration_ms >= 0 for r in lines)
    message = lines[0].getMessage()
    assert message.startswith("GET /healthz 200 ") and message.endswith(f"request_id={ids[0]}")


def test_a_request_id_is_taken_only_from_a_trusted_proxy(sqlite_runtime, sqlite_url, tmp_path):
    direct = create_app(runtime=sqlite_runtime).test_client()
    sent = direct.get("/healthz", headers={"X-Request-Id": "from-the-client"})
    assert sent.headers["X-Request-Id"] != "from-the-client"

    proxied = make_runtime(sqlite_url, tmp_path / "proxied", trusted_proxies=1)
    try:
        client = create_app(runtime=proxied).test_client()
        kept = client.get("/healthz", headers={"X-Request-Id": "nginx-4f2a.1"})
        assert kept.headers["X-Request-Id"] == "nginx-4f2a.1"
        for bad in ("id GET /admin 200", "x" * 65):  # not one word, or too long
            answer = client.get("/healthz", headers={"X-Request-Id": bad})
            assert answer.headers["X-Request-Id"] not in (bad, "")
    finally:
        proxied.close()


def test_an_unexpected_error_is_logged_with_the_request_id_and_path(sqlite_runtime, access, caplog):
    app = create_app(runtime=sqlite_runtime)

    def broken():
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", "broken", broken)
    answer = app.test_client().get("/broken")
    assert answer.status_code == 500

    rid = answer.headers["X-Request-Id"]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (error.request_id, error.path, error.method) == (rid, "/broken", "GET")
    assert error.getMessage() == f"Unexpected error in GET /broken request_id={rid}"
    assert error.exc_info is not None and "a bug" in str(error.exc_info[1])
    assert [(r.path, r.status, r.request_id) for r in access()] == [("/broken", 500, rid)]
