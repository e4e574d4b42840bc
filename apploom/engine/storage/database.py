"""One database for all apps: SQLite (WAL) by default, PostgreSQL in production.

Writes go through :meth:`Database.write`, one transaction per user action. On
SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue
on the lock instead of failing halfway with "database is locked".

A process forked from one that holds a database (gunicorn's workers under ``--preload``)
starts with empty pools of its own: two processes talking over one inherited connection
mix up each other's answers.
"""

from __future__ import annotations

import os
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import Connection, Insert, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from apploom.engine import clock

_WRITE = "apploom_write"
_opened: weakref.WeakSet[Database] = weakref.WeakSet()  # this process's, for after a fork


class Database:
    def __init__(self, url: str, pool_size: int = 10):
        """``pool_size``: PostgreSQL connections kept open (as many again may be opened
        for a burst): at least the threads one process serves at once."""
        self.url = make_url(url)
        if self.is_sqlite:
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            try:
                self.engine = create_engine(
                    url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
                )
            except ModuleNotFoundError as exc:  # drivers are extras: say which to install
                raise ModuleNotFoundError(
                    f"{self.url.drivername} needs the {exc.name} package, which is not "
                    "installed; for PostgreSQL: pip install 'apploom[postgres]'",
                    name=exc.name,
                ) from exc
        _opened.add(self)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed when the block ends cleanly."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only connection whose every query sees the database as it was at its
        first one, while others go on writing: a backup or an export is one moment.
        (SQLite's WAL gives a reader that view; PostgreSQL's REPEATABLE READ does.)"""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if not self.is_sqlite:
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _forget_inherited_pools() -> None:
    """In a forked child: new, empty pools, leaving the parent's connections untouched
    (closing them would end the parent's sessions too), as SQLAlchemy advises."""
    for db in list(_opened):
        db.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_pools)


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_begin
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
    dbapi_connection.create_function("local_time", 1, _local_time)


def _local_time(stored: str | None) -> str | None:
    """A stored UTC time as the business's clock read it then, in the shape SQLite's date
    functions take: what day it was where the business is (SQLite knows no zones)."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=timezone.utc)
    return moment.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M:%S")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def insert_ignore(conn: Connection, table: Table, values: dict) -> None:
    """INSERT that does nothing when the key already exists."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())


def inserted_id(conn: Connection, statement: Insert, values: dict | None = None) -> int:
    """Run a one-row INSERT; the id the database gave the new row."""
    key = conn.execute(statement, values).inserted_primary_key
    if key is None:  # SQLAlchemy's word for "no key came back"
        raise ValueError("the INSERT returned no primary key")
    return key[0]
