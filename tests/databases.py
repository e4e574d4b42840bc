"""Test databases that start with a set of definitions installed.

Installing the bundled apps takes a while (their tables, indexes and versions), and most
tests start from exactly that. So each test process installs each set of definitions
once, into a template database, and every test gets a copy: SQLite's backup API copies
the file; PostgreSQL creates the test's database from the template.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from apploom.engine.definitions.loading import Source
from apploom.engine.storage.database import Database

Installer = Callable[[Database, list[Source]], object]
_templates: dict[tuple, str] = {}
_folder = Path(tempfile.mkdtemp(prefix="apploom-templates-"))


@contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    """The URL of a PostgreSQL database for one test: created by :func:`seed`, dropped
    afterwards."""
    url = make_url(base_url).set(database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        _run(base_url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


def seed(url: str, sources: list[Source], install: Installer) -> None:
    """Give the database at ``url`` the tables and versions of ``sources``: a copy of the
    template when the database is new, else an install over what is there."""
    parsed = make_url(url)
    key = (parsed.get_backend_name(), tuple((s.file, s.hash) for s in sources))
    if parsed.get_backend_name() == "sqlite":
        target = Path(parsed.database or "")
        if target.exists():
            _install(url, sources, install)
        else:
            _copy_sqlite(_template(key, sources, install, parsed), target)
    elif "options" in parsed.query or _pg_exists(parsed):
        _install(url, sources, install)  # a schema of its own, or a database in use
    else:
        _run(
            _maintenance(parsed),
            f'CREATE DATABASE "{parsed.database}" '
            f'TEMPLATE "{_template(key, sources, install, parsed)}"',
        )


def _template(key: tuple, sources: list[Source], install: Installer, url: URL) -> str:
    """The template for ``key`` (a file path or a database name), built on first use."""
    if key not in _templates:
        if url.get_backend_name() == "sqlite":
            name = str(_folder / f"{len(_templates)}.db")
            _install(f"sqlite:///{name}", sources, install)
        else:
            name = f"tpl_{uuid.uuid4().hex[:12]}"
            maintenance = _maintenance(url)
            _run(maintenance, f'CREATE DATABASE "{name}"')
            atexit.register(_run, maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _install(url.set(database=name).render_as_string(hide_password=False), sources, install)
        _templates[key] = name
    return _templates[key]


def _install(url: str, sources: list[Source], install: Installer) -> None:
    db = Database(url)
    try:
        install(db, sources)
    finally:
        db.dispose()


def _copy_sqlite(template: str, target: Path) -> None:
    source, copy = sqlite3.connect(template), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def _maintenance(url: URL) -> str:
    """The database named by APPLOOM_TEST_DATABASE_URL, which test databases are created
    from and dropped from."""
    base = make_url(os.environ["APPLOOM_TEST_DATABASE_URL"])
    return url.set(database=base.database).render_as_string(hide_password=False)


def _pg_exists(url: URL) -> bool:
    engine = create_engine(_maintenance(url))
    try:
        with engine.connect() as conn:
            return (
                conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
                ).first()
                is not None
            )
    finally:
        engine.dispose()


def _run(url: str, statement: str) -> None:
    """A statement that cannot run in a transaction (CREATE and DROP DATABASE)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
