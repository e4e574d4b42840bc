"""Making a backup while the instance runs: the database read in one snapshot, then the
instance's files, then the manifest."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, select

from apploom.engine import clock
from apploom.engine.backups import values
from apploom.engine.backups.archive import ArchiveWriter
from apploom.engine.backups.tables import database_tables, last_ids
from apploom.engine.errors import BackupError
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.engine.storage.entity_tables import build_metadata
from apploom.engine.storage.system_tables import sys_attachment
from apploom.engine.versions.applied import definitions_mark, history

BATCH = 2000
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
FOLDERS = ("attachments", "imports")  # of the instance folder
KEPT_FILES = ("secret_key",)  # it signs the tracking links customers were sent


def back_up(runtime: Runtime, target: Path) -> dict[str, Any]:
    """Write a backup of ``runtime``'s instance to ``target`` (which must not exist);
    returns its manifest. Written beside it first, so a failed backup leaves nothing
    that looks whole."""
    if target.exists():
        raise BackupError(f"{target} already exists: choose a new file name")
    partial = target.with_name(target.name + ".part")
    writer = ArchiveWriter(partial)
    try:
        database = _dump_database(runtime, writer)
        for app in runtime.apps.ordered():
            writer.add_bytes(f"apps/{Path(app.file).name}", app.source.encode("utf-8"))
        files = instance_files(runtime.settings)
        for name, path in files.items():
            writer.add_file(f"files/{name}", path)
        missing = sorted(set(database.pop("attachments")) - _attachment_ids(files))
        manifest = writer.finish(
            {
                "apploom_version": version("apploom"),
                "created_at": clock.now().isoformat(),
                "database": database,
                "missing_files": missing,
            }
        )
        partial.rename(target)
    except BaseException:
        writer.abandon()
        partial.unlink(missing_ok=True)
        raise
    return manifest


def _dump_database(runtime: Runtime, writer: ArchiveWriter) -> dict[str, Any]:
    metadata = build_metadata(runtime.apps, runtime.types)
    with runtime.db.snapshot() as conn:
        if definitions_mark(conn) != runtime.definitions_mark:
            raise BackupError("The definitions changed while the backup began: run it again")
        tables, undescribed = database_tables(conn, metadata)
        entries = {}
        for table in tables:
            entries[table.name] = {
                "columns": [c.name for c in table.columns],
                "rows": _dump_table(conn, table, writer),
            }
            if table.name in undescribed:
                entries[table.name]["undescribed"] = undescribed[table.name]
        for name, last in last_ids(conn, tables).items():
            entries[name]["last_id"] = last
        apps = {row["app"]: row["version"] for row in history(conn) if row["active"]}
        attachments = list(conn.execute(select(sys_attachment.c.id)).scalars())
    return {
        "kind": runtime.db.dialect,
        "apps": apps,
        "tables": entries,
        "attachments": attachments,
    }


def _dump_table(conn: Connection, table: Table, writer: ArchiveWriter) -> int:
    """One JSON array per row, in primary key order; returns how many."""
    convert = values.row_encoder([c.type for c in table.columns])
    query = select(*(values.read_expression(c) for c in table.columns))
    if table.primary_key.columns:
        query = query.order_by(*table.primary_key.columns)
    count = 0
    with writer.member(f"database/{table.name}.jsonl") as write:
        result = conn.execution_options(yield_per=BATCH).execute(query)
        for rows in result.partitions():
            write("".join([_JSON(convert(row)) + "\n" for row in rows]).encode("utf-8"))
            count += len(rows)
    return count


def instance_files(settings: Settings) -> dict[str, Path]:
    """The instance's own files, by their path inside the instance folder; uploads still
    streaming in (``.part``) are not yet files."""
    root = settings.instance_path
    found = {
        path.relative_to(root).as_posix(): path
        for folder in FOLDERS
        for path in sorted((root / folder).rglob("*"))
        if path.is_file() and path.suffix != ".part"
    }
    for name in KEPT_FILES:
        if (root / name).is_file():
            found[name] = root / name
    return found


def _attachment_ids(files: dict[str, Path]) -> set[str]:
    return {Path(name).name for name in files if name.startswith("attachments/")}
