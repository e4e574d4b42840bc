"""Shared fixtures: runtimes on SQLite and (when APPLOOM_TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.databases import pg_database
from tests.helpers import BACKENDS, PG_URL, Shop, make_runtime


@pytest.fixture
def pg_database_url():
    """A PostgreSQL database of the test's own, dropped afterwards."""
    with pg_database(PG_URL) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_database_url")
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def runtime(database_url, tmp_path):
    rt = make_runtime(database_url, tmp_path / "instance")
    yield rt
    rt.close()


@pytest.fixture
def sqlite_runtime(sqlite_url, tmp_path):
    rt = make_runtime(sqlite_url, tmp_path / "instance")
    yield rt
    rt.close()


@pytest.fixture
def admin():
    return SYSTEM_USER


@pytest.fixture
def shop(runtime):
    return Shop(runtime)
