"""Log lines as one JSON object each (APPLOOM_LOG_FORMAT=json): the access log, errors,
rule failures and the outbox, each naming its request when it has one."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from sqlalchemy import update

from apploom import logs
from apploom.engine.automation import outbox
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.errors import BadSetting
from apploom.engine.settings import Settings
from apploom.engine.storage.system_tables import sys_outbox
from apploom.web import create_app, request_log
from tests.helpers import app_text, browser, reopen


@pytest.fixture
def lines(caplog):
    """The lines logged during the test as the JSON handler writes them, parsed."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = logs.handler("json", request_log.fields)
    handler.setStream(stream)
    logging.root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.root.removeHandler(handler)


@pytest.fixture
def desk(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("desk.yaml", app_text("desk"))])
    rt.users.create("ann", ["agent"], "password1234")
    yield rt
    rt.close()


def test_an_access_line_is_one_json_object_with_its_request(sqlite_runtime, lines):
    answer = create_app(runtime=sqlite_runtime).test_client().get("/healthz?token=secret")
    (line,) = [line for line in lines() if line["logger"] == "apploom.access"]
    assert set(line) == {
        *("time", "level", "logger", "message", "pid"),
        *("request_id", "method", "path", "user", "status", "duration_ms"),
    }
    assert line["time"].endswith("+00:00") and line["level"] == "INFO"
    assert (line["request_id"], line["method"], line["path"], line["status"]) == (
        answer.headers["X-Request-Id"],
        "GET",
        "/healthz",  # never the query string
        200,
    )
    assert line["user"] is None and line["message"].startswith("GET /healthz 200 ")


def test_a_rule_failure_is_logged_with_the_request_and_its_user(desk, lines):
    client = create_app(runtime=desk).test_client()
    auth = {"Authorization": "Bearer " + desk.users.create_token("ann")}
    ticket = client.post("/api/v1/desk/ticket", json={"subject": "x" * 60}, headers=auth).json
    refused = client.post(
        f"/api/v1/desk/ticket/{ticket['id']}/transitions/answer", json={}, headers=auth
    )
    assert refused.status_code == 422
    rid = refused.headers["X-Request-Id"]
    mine = [line for line in lines() if line.get("request_id") == rid]
    assert [(line["level"], line["logger"]) for line in mine] == [
        ("WARNING", "apploom.engine.records.service"),
        ("INFO", "apploom.access"),
    ]
    assert mine[0]["message"].startswith("Rule 'Follow up' failed at action 1 (create): title")
    assert (mine[0]["method"], mine[0]["user"]) == ("POST", "ann")
    assert mine[0]["path"] == f"/api/v1/desk/ticket/{ticket['id']}/transitions/answer"


def test_an_error_line_carries_method_path_user_request_id_and_traceback(desk, lines):
    app = create_app(runtime=desk)

    def broken():
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", "broken", broken)
    answer = browser(app, "ann").get("/broken")
    assert answer.status_code == 500
    (error,) = [line for line in lines() if line["level"] == "ERROR"]
    assert error["logger"] == "apploom.web"
    assert (error["method"], error["path"], error["user"], error["request_id"]) == (
        "GET",
        "/broken",
        "ann",
        answer.headers["X-Request-Id"],
    )
    assert "Traceback" in error["exception"] and "RuntimeError: a bug" in error["exception"]


def test_outbox_failures_are_logged_outside_any_request(sqlite_runtime, lines):
    db = sqlite_runtime.db
    with db.write() as conn:
        message = outbox.enqueue(conn, "webhook", {"url": "http://127.0.0.1:9/", "body": {}})

    def refuse(payload):
        raise ConnectionRefusedError("nobody listens")

    assert outbox.deliver_one(db, {"webhook": refuse})
    with db.write() as conn:  # due again, on its last attempt
        conn.execute(
            update(sys_outbox)
            .where(sys_outbox.c.id == message)
            .values(attempts=outbox.MAX_ATTEMPTS - 1, next_attempt_at=outbox._now())
        )
    assert outbox.deliver_one(db, {"webhook": refuse})
    found = [line for line in lines() if line["logger"] == "apploom.engine.automation.outbox"]
    assert [line["level"] for line in found] == ["WARNING", "ERROR"]
    assert found[0]["message"] == (
        f"outbox message {message} (webhook) failed, attempt 1 of {outbox.MAX_ATTEMPTS}: "
        "ConnectionRefusedError: nobody listens"
    )
    assert found[1]["message"].endswith("now a dead letter: ConnectionRefusedError: nobody listens")
    assert not any("request_id" in line for line in found)


def test_text_is_the_default_and_another_format_refuses_to_start():
    assert Settings.load(environ={}).log_format == "text"
    assert Settings.load(environ={"APPLOOM_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(BadSetting, match="APPLOOM_LOG_FORMAT is 'xml': use one of text, json"):
        Settings.load(environ={"APPLOOM_LOG_FORMAT": "xml"})


def test_logging_is_set_up_only_where_nothing_else_set_it_up():
    before = list(logging.root.handlers)  # pytest's own
    logs.configure("json")
    assert logging.root.handlers == before
    script = (
        "import logging; from apploom import logs; logs.configure('json'); "
        "logging.getLogger('apploom.worker').info('started'); "
        "logs.configure('text'); logging.getLogger('x').warning('once, as JSON')"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    first, second = [json.loads(line) for line in run.stderr.splitlines()]
    assert (first["logger"], first["level"], first["message"]) == (
        "apploom.worker",
        "INFO",
        "started",
    )
    assert second["message"] == "once, as JSON" and "request_id" not in second
