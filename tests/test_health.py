"""The probes: /healthz (the process answers) and /readyz (it can serve), no sign-in."""

from __future__ import annotations

from sqlalchemy import create_engine

from apploom.engine.definitions.loading import bundled_sources
from apploom.engine.settings import Settings
from apploom.plugins import open_runtime
from apploom.web import create_app
from tests.helpers import browser, install


def test_both_answer_without_sign_in_when_the_apps_are_installed(sqlite_runtime):
    client = create_app(runtime=sqlite_runtime).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {"status": "ready"}


def test_a_database_that_does_not_answer_is_not_ready_but_the_process_is_alive(
    sqlite_runtime, tmp_path
):
    app = create_app(runtime=sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    signed_in = browser(app, "sue")  # a session cookie asks for no user on a probe
    sqlite_runtime.db.engine.dispose()
    sqlite_runtime.db.engine = create_engine(f"sqlite:///{tmp_path}/no/such/folder/x.db")

    assert signed_in.get("/healthz").status_code == 200
    ready = signed_in.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "reason": "the database does not answer"}


def test_a_database_without_apps_is_ready_once_they_are_installed(tmp_path):
    settings = Settings.load(
        {"instance_path": str(tmp_path), "database_url": f"sqlite:///{tmp_path}/new.db"},
        environ={},
    )
    runtime = open_runtime(settings)
    try:
        client = create_app(runtime=runtime).test_client()
        empty = client.get("/readyz")
        assert empty.status_code == 503
        assert empty.get_json()["reason"] == "no apps installed: run 'apploom init'"
        install(runtime.db, bundled_sources())
        assert client.get("/readyz").status_code == 200
    finally:
        runtime.close()
