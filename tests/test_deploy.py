"""The deployment examples in docs/deploy/ agree with AppLoom and with each other
(tests/test_gunicorn.py serves with their gunicorn.conf.py)."""

from __future__ import annotations

import re
import runpy
from dataclasses import fields
from pathlib import Path

from apploom.engine.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy"
SETTINGS = {f"APPLOOM_{f.name.upper()}" for f in fields(Settings)}
KEY = "0d4e6b1f9a2c7e5d3b8f1a6c4e9d2b7f5a3c8e1d6b4f9a2c"


def environment() -> dict[str, str]:
    """The env file as systemd reads it: KEY=VALUE lines, comments left out."""
    lines = (DEPLOY / "apploom.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_every_setting_the_examples_name_exists():
    for path in DEPLOY.iterdir():
        for name in re.findall(r"APPLOOM_[A-Z_]+", path.read_text()):
            assert name in SETTINGS, f"{path.name} names {name}, no setting"


def test_the_env_file_starts_an_instance_once_its_keys_are_filled_in():
    env = environment()
    assert env["APPLOOM_SECRET_KEY"] == env["APPLOOM_METRICS_TOKEN"] == ""  # none published
    settings = Settings.load(environ={**env, "APPLOOM_SECRET_KEY": KEY})
    assert settings.log_format == "json" and settings.base_url.startswith("https://")


def test_the_pool_holds_a_connection_for_each_gunicorn_thread():
    threads = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))["threads"]
    assert Settings.load(environ=environment()).db_pool_size >= threads


def test_the_proxy_sets_the_headers_the_trusted_proxies_setting_believes():
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert environment()["APPLOOM_TRUSTED_PROXIES"] == "1"  # nginx alone in front
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id"):
        assert re.search(rf"^\s*proxy_set_header {header} \$", nginx, re.MULTILINE), header
    bind = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))["bind"]
    assert f"server {bind};" in nginx
    web = (DEPLOY / "apploom-web.service").read_text()
    assert "Environment=PROMETHEUS_MULTIPROC_DIR=/run/apploom-web" in web
    assert "RuntimeDirectory=apploom-web" in web  # emptied at every start
