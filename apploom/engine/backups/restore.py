"""Putting a backup back, into an empty database and an empty instance folder.

The schema comes from the backed-up definitions (as ``apploom init`` would build it),
then every table's rows, handed straight to the driver (SQLite's executemany,
PostgreSQL's COPY), in one transaction; indexes and foreign keys follow once all rows
are in, so the order rows come in does not matter. The files go in first and are
taken out again if the database part fails, so a failed restore leaves the target as
empty as it was."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Collection, Iterator

from sqlalchemy import Column, Connection, MetaData, Table, insert, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from apploom.engine.backups import values
from apploom.engine.backups.archive import ArchiveReader
from apploom.engine.backups.backup import FOLDERS, KEPT_FILES
from apploom.engine.backups.tables import continue_ids, describe
from apploom.engine.definitions.loading import Source, load_apps
from apploom.engine.errors import BackupError
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.settings import Settings
from apploom.engine.storage.database import Database
from apploom.engine.storage.entity_tables import build_metadata
from apploom.engine.storage.search_indexes import trigram_ops
from apploom.engine.storage.system_tables import sys_app_version

BATCH = 1000


def restore(
    db: Database, settings: Settings, types: FieldTypes, actions: Collection[str], source: Path
) -> dict[str, Any]:
    """Restore the backup at ``source`` into ``db`` and ``settings``' instance folder,
    both empty; ``types`` and ``actions`` are those the plugins add. Returns the manifest."""
    reader = ArchiveReader(source)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    try:
        manifest = reader.manifest
        tables = manifest["database"]["tables"]
        _refuse_unless_empty(db, settings, tables)
        _refuse_other_kind(db, manifest)
        with db.write() as conn:
            search_ops = trigram_ops(conn)
        apps = load_apps(_definitions(reader, tables), types, actions)
        metadata = build_metadata(apps, types, search_ops)
        for name, entry in tables.items():
            if "undescribed" in entry:
                describe(metadata, name, entry["undescribed"])
            elif name not in metadata.tables:
                raise BackupError(
                    f"{source}: its definitions describe no table {name}; the backup is damaged"
                )
        written = _restore_files(reader, settings)
        try:
            with db.write() as conn:
                _load(conn, reader, metadata, tables)
        except (DBAPIError, db.engine.dialect.loaded_dbapi.Error) as exc:  # COPY's are raw
            _remove(written)
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            raise BackupError(f"The database refused the backup's rows: {reason}") from exc
        except BaseException:
            _remove(written)
            raise
    finally:
        reader.close()
    return manifest


def _refuse_unless_empty(db: Database, settings: Settings, tables: dict) -> None:
    with db.read() as conn:
        existing = set(inspect(conn).get_table_names())
    clash = sorted(n for n in existing if n.startswith("sys_") or n in tables)
    if clash:
        shown = ", ".join(clash[:3]) + (", ..." if len(clash) > 3 else "")
        raise BackupError(
            f"The database already holds AppLoom tables ({shown}): restore into an empty "
            "database (a new one, or drop these tables first)"
        )
    own = set()
    if db.is_sqlite:  # the (empty) database itself may live in the folder
        own = {Path(f"{db.url.database}{end}").resolve() for end in ("", "-wal", "-shm")}
    root = settings.instance_path
    held = sorted(p for p in root.rglob("*") if p.is_file() and p.resolve() not in own)
    if held:
        raise BackupError(
            f"The instance folder {root} already holds files ({held[0].relative_to(root)}"
            f"{', ...' if len(held) > 1 else ''}): restore into an empty folder"
        )


def _refuse_other_kind(db: Database, manifest: dict) -> None:
    """Columns the definitions no longer describe carry the types of the database they
    came from, so they go back only into the same kind."""
    kind = manifest["database"]["kind"]
    undescribed = [
        f"{table}.{column}"
        for table, entry in manifest["database"]["tables"].items()
        for column in entry.get("undescribed", {})
    ]
    if kind != db.dialect and undescribed:
        raise BackupError(
            f"This backup comes from {kind} and holds data the live definitions no longer "
            f"describe ({', '.join(undescribed[:3])}{', ...' if len(undescribed) > 3 else ''}: "
            f"archived fields or removed entities); restore it into {kind}"
        )


def _definitions(reader: ArchiveReader, tables: dict) -> list[Source]:
    """The live definitions as the backup's version table holds them."""
    entry = tables[sys_app_version.name]
    rows = _rows(reader, sys_app_version, entry)
    versions = [dict(zip(entry["columns"], row, strict=True)) for row in rows]
    return [Source(v["file"], v["source"]) for v in versions if v["active"]]


def _restore_files(reader: ArchiveReader, settings: Settings) -> list[Path]:
    root = settings.instance_path.resolve()
    written: list[Path] = []
    try:
        for name in reader.names("files/"):
            relative = PurePosixPath(name).relative_to("files")
            if ".." in relative.parts or not (
                relative.parts[0] in FOLDERS or str(relative) in KEPT_FILES
            ):
                raise BackupError(f"{reader.path}: {name} is not a file an instance holds")
            target = root.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(target)
            with target.open("wb") as out:
                for chunk in reader.chunks(name):
                    out.write(chunk)
            if str(relative) in KEPT_FILES:
                target.chmod(0o600)
    except BaseException:
        _remove(written)
        raise
    return written


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _load(conn: Connection, reader: ArchiveReader, metadata: MetaData, tables: dict) -> None:
    """Tables, rows, then indexes, foreign keys and ids to come, in the caller's
    transaction."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # checked at commit; PostgreSQL gets its foreign keys once the rows are in
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    created = metadata.sorted_tables
    for table in created:
        conn.execute(CreateTable(table, include_foreign_key_constraints=None if sqlite else []))
    for name, entry in tables.items():
        table = metadata.tables[name]
        columns = [table.c[n] for n in entry["columns"]]
        bind = values.row_binder(columns, conn.dialect)
        rows = (bind(row) for row in _rows(reader, table, entry))
        count = (_insert if sqlite else _copy)(conn, table, columns, rows)
        if count != entry["rows"]:
            raise BackupError(f"{reader.path}: {name} holds {count} rows, not {entry['rows']}")
    for table in created:
        for index in table.indexes:
            conn.execute(CreateIndex(index))
        if not sqlite:
            for constraint in table.foreign_key_constraints:
                conn.execute(AddConstraint(constraint))
    continue_ids(conn, created, {n: e["last_id"] for n, e in tables.items() if "last_id" in e})


def _insert(conn: Connection, table: Table, columns: list[Column], rows: Iterator[tuple]) -> int:
    """Rows handed to SQLite's executemany, a batch at a time; returns how many."""
    statement = str(
        insert(table).compile(dialect=conn.dialect, column_keys=[c.name for c in columns])
    )
    count = 0
    for batch in _batches(rows):
        conn.exec_driver_sql(statement, batch)
        count += len(batch)
    return count


def _copy(conn: Connection, table: Table, columns: list[Column], rows: Iterator[tuple]) -> int:
    """Rows streamed by PostgreSQL's COPY, as pg_restore loads them; returns how many."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in columns)
    count = 0
    psycopg: Any = conn.connection.driver_connection
    with psycopg.cursor() as cursor:
        with cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _rows(reader: ArchiveReader, table: Table, entry: dict) -> Iterator[tuple]:
    """The decoded values of each row of ``table``'s member, in ``entry``'s column order."""
    names = entry["columns"]
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise BackupError(
            f"{reader.path}: {table.name} holds columns this release does not know "
            f"({', '.join(unknown)}); restore it with the release that made it"
        )
    decode = values.row_decoder([table.c[n].type for n in names])
    member = f"database/{table.name}.jsonl"
    for line in reader.lines(member):
        try:
            yield decode(json.loads(line.decode("utf-8")))
        except (ValueError, TypeError, ArithmeticError) as exc:  # unreadable, so changed
            raise BackupError(f"{reader.path}: {member} is damaged: {exc}") from None


def _batches(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
