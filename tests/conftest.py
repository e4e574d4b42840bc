"""Shared fixtures: runtimes on SQLite and (when APPLOOM_TEST_DATABASE_URL is set) PostgreSQL."""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from apploom.engine.permissions import SYSTEM_USER
from tests.helpers import Shop, make_runtime

PG_URL = os.environ.get("APPLOOM_TEST_DATABASE_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="APPLOOM_TEST_DATABASE_URL is not set "
                                                 "(PostgreSQL tests run in CI)")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=needs_pg)]


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


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
