"""Shared fixtures: runtimes on SQLite and (when APPLOOM_TEST_DATABASE_URL is set) PostgreSQL."""
from __future__ import annotations

import pytest

from apploom.engine.permissions import SYSTEM_USER
from tests.helpers import BACKENDS, PG_URL, Shop, make_runtime, pg_schema


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards."""
    with pg_schema(PG_URL) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_schema_url")
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
