"""The built wheel, installed alone in a new virtual environment outside the repository,
creates its demo and serves it: nothing it needs may live only in the checkout.

The wheel is built offline with the project's hatchling (no build isolation); its
dependencies come from the package index pip is configured with, as a user's would, into
a venv that sees no other site-packages. pip's cache keeps that to about 15 seconds after
the first run.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, **options) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, **options
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv holding the wheel and its dependencies only."""
    where = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", where / "dist", ROOT)  # fmt: skip
    (wheel,) = (where / "dist").glob("apploom-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", where / "venv")
    python = where / "venv" / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel)
    return python.parent


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (it would import the checkout) and no settings from the test run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONPATH" and k != "DATABASE_URL" and not k.startswith("APPLOOM_")
    }
    return {**env, **extra}


def test_the_installed_wheel_creates_and_serves_its_demo(installed, tmp_path):
    env = clean_env(APPLOOM_INSTANCE_PATH=str(tmp_path / "instance"))
    outside = {"env": env, "cwd": tmp_path}  # the checkout is not on sys.path
    where = run(installed / "python", "-c", "import apploom; print(apploom.__file__)", **outside)
    assert where.startswith(str(installed.parent)), where
    probe = "import importlib.util as u; print(u.find_spec('psycopg'))"
    assert run(installed / "python", "-c", probe, **outside).strip() == "None"  # SQLite only
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run(installed / "apploom", "--version", **outside) == f"apploom, version {release}\n"

    out = run(installed / "apploom", "init", "--demo", "--demo-orders", "20", **outside)
    assert "Loaded demo data." in out
    token = run(installed / "apploom", "token", "create", "admin", **outside).strip()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [installed / "apploom", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        login = wait_for(browser, f"{base}/login", server)
        assert 'name="password"' in login
        chinese = urllib.request.Request(f"{base}/login", headers={"Accept-Language": "zh-CN"})
        with urllib.request.urlopen(chinese, timeout=10) as response:
            assert "<h1>登录</h1>" in response.read().decode()  # the catalogs are in the wheel

        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:
            assert json.load(response) == {"status": "ready"}
            ready_id = response.headers["X-Request-Id"]
        with urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=10) as response:
            assert json.load(response)["openapi"].startswith("3.1")

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)
        assert csrf is not None
        form = {"username": "admin", "password": "apploom-demo", "csrf_token": csrf.group(1)}
        with browser.open(f"{base}/login", urllib.parse.urlencode(form).encode()) as response:
            assert response.status == 200 and not response.url.endswith("/login")
            assert 'action="/logout"' in response.read().decode()

        orders = urllib.request.Request(
            f"{base}/api/v1/oms/order?limit=5", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(orders, timeout=10) as response:
            page = json.load(response)
        assert page["total"] == 20 and len(page["data"]) == 5
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert "Traceback" not in errors, errors
    assert "GET /readyz 200 " in errors and f"request_id={ready_id}" in errors  # access log


def wait_for(opener, url: str, server: subprocess.Popen, seconds: float = 60) -> str:
    """The page's text once the server answers; fails at once if the server died."""
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, server.communicate()[1]
        try:
            with opener.open(url, timeout=5) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
