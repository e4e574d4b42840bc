"""How long a backup and a restore take, and how big the backup is, against the
database's own tools in the same run.

Fills the bundled apps' tables in bulk with N orders (3 lines and 2 history entries
each, 1,000 customers, 100 items), then times 'apploom backup' (a logical dump typed by
the definitions, zipped) and 'apploom restore' into an empty database. The baselines:
on SQLite, the online backup API into a file, zipped (and unzipped back); on
PostgreSQL, pg_dump -Fc and pg_restore into an empty database, when pg_dump is on PATH.
Prints JSON with seconds, bytes and the ratios.

    python bench/backup.py [--orders N] [--pg URL]      (default N: 100,000)
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from records import fresh_runtime, run_on_both, sqlite_urls
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.backups.backup import back_up
from apploom.engine.backups.restore import restore
from apploom.engine.settings import Settings
from apploom.engine.storage.database import Database
from apploom.plugins import gather, plugin_folders, plugin_manager

BATCH = 10_000


def fill(runtime, orders: int) -> None:
    tables, now = runtime.records.tables, datetime.now(timezone.utc)
    stamp = {"version": 1, "created_at": now, "updated_at": now}
    with runtime.db.engine.begin() as conn:
        conn.execute(
            insert(tables["crm_customer"]),
            [{**stamp, "number": f"C-{n:06d}", "name": f"客户 {n}"} for n in range(1000)],
        )
        conn.execute(
            insert(tables["wms_item"]),
            [
                {**stamp, "sku": f"SKU-{n}", "name": f"Item {n}", "price": Decimal("9.90")}
                for n in range(100)
            ],
        )
    for start in range(0, orders, BATCH):
        ids = range(start + 1, min(start + BATCH, orders) + 1)
        with runtime.db.engine.begin() as conn:
            conn.execute(
                insert(tables["oms_order"]),
                [
                    {
                        **stamp,
                        "id": n,
                        "number": f"SO-{n:08d}",
                        "customer": n % 1000 + 1,
                        "channel": "web",
                        "status": "confirmed",
                        "total": Decimal("29.70"),
                    }
                    for n in ids
                ],
            )
            conn.execute(
                insert(tables["oms_order_line"]),
                [
                    {
                        "parent_id": n,
                        "position": k,
                        "item": (n + k) % 100 + 1,
                        "qty": 1,
                        "price": Decimal("9.90"),
                        "amount": Decimal("9.90"),
                    }
                    for n in ids
                    for k in range(3)
                ],
            )
            conn.execute(
                insert(tables["sys_history"]),
                [
                    {
                        "entity": "oms.order",
                        "record_id": n,
                        "version": v,
                        "action": "create" if v == 1 else "transition",
                        "at": now,
                        "changes": {"status": [None, "confirmed"], "note": None},
                    }
                    for n in ids
                    for v in (1, 2)
                ],
            )


def measure(make_url_for, orders: int) -> dict:
    url, cleanup = make_url_for()
    work = Path(tempfile.mkdtemp())
    try:
        runtime, _ = fresh_runtime(url, work / "instance")
        fill(runtime, orders)
        start = time.perf_counter()
        back_up(runtime, work / "backup.zip")
        backed_up = time.perf_counter() - start
        target_url, drop_target = _empty_like(url)
        settings = Settings.load(
            {"instance_path": str(work / "restored"), "database_url": target_url}, environ={}
        )
        found = gather(plugin_manager(plugin_folders(settings)), settings)
        found.types.functions.update(found.functions)
        db = Database(target_url)
        start = time.perf_counter()
        restore(
            db, settings, found.types, {**BUILTIN_ACTIONS, **found.actions}, work / "backup.zip"
        )
        restored = time.perf_counter() - start
        db.dispose()
        drop_target()
        baseline = (_sqlite_baseline if runtime.db.is_sqlite else _pg_baseline)(url, work)
        runtime.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cleanup()
    result = {
        "orders": orders,
        "backup_s": round(backed_up, 2),
        "restore_s": round(restored, 2),
        "backup_bytes": baseline.pop("backup_bytes"),
        **baseline,
    }
    if "baseline_backup_s" in baseline:
        result["backup_ratio"] = round(backed_up / baseline["baseline_backup_s"], 2)
        result["restore_ratio"] = round(restored / baseline["baseline_restore_s"], 2)
    return result


def _empty_like(url: str) -> tuple[str, object]:
    if make_url(url).get_backend_name() == "sqlite":
        return sqlite_urls()()
    return _new_database(url)


def _new_database(url: str) -> tuple[str, object]:
    """A new, empty PostgreSQL database beside the one ``url`` names, and its dropper."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(url).set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(url).set(database=name, query={}).render_as_string(hide_password=False), drop


def _sqlite_baseline(url: str, work: Path) -> dict:
    """The online backup API into a file, zipped; restoring is unzipping it."""
    start = time.perf_counter()
    source, copy = sqlite3.connect(make_url(url).database), sqlite3.connect(work / "copy.db")
    source.backup(copy)
    copy.close()
    source.close()
    with zipfile.ZipFile(work / "copy.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(work / "copy.db", "apploom.db")
    backed_up = time.perf_counter() - start
    start = time.perf_counter()
    with zipfile.ZipFile(work / "copy.zip") as archive:
        archive.extract("apploom.db", work / "unzipped")
    restored = time.perf_counter() - start
    return {
        "backup_bytes": (work / "backup.zip").stat().st_size,
        "baseline": "sqlite3 backup API + zip",
        "baseline_backup_s": round(backed_up, 2),
        "baseline_restore_s": round(restored, 2),
        "baseline_bytes": (work / "copy.zip").stat().st_size,
    }


def _pg_baseline(url: str, work: Path) -> dict:
    """pg_dump -Fc of the bench's schema, and pg_restore of it into an empty database."""
    found = {"backup_bytes": (work / "backup.zip").stat().st_size}
    if shutil.which("pg_dump") is None:
        return {**found, "baseline": "none: pg_dump is not on PATH"}
    parsed = make_url(url)
    schema = parsed.query["options"].split("search_path=")[1]
    plain = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    start = time.perf_counter()
    dump = ["pg_dump", "-Fc", "-n", schema, "-f", str(work / "dump.pgc"), plain]
    subprocess.run(dump, check=True)
    backed_up = time.perf_counter() - start
    target, drop = _new_database(url)
    plain_target = make_url(target).set(drivername="postgresql")
    start = time.perf_counter()
    subprocess.run(
        [
            "pg_restore",
            "-d",
            plain_target.render_as_string(hide_password=False),
            str(work / "dump.pgc"),
        ],
        check=True,
    )
    restored = time.perf_counter() - start
    drop()
    return {
        **found,
        "baseline": "pg_dump -Fc / pg_restore",
        "baseline_backup_s": round(backed_up, 2),
        "baseline_restore_s": round(restored, 2),
        "baseline_bytes": (work / "dump.pgc").stat().st_size,
    }


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 100_000)
