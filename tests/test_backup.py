"""Backups, restores and the full export: a round trip keeps every row and every file,
ids carry on where they stopped, and a restore never writes over an instance."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from contextlib import ExitStack

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Text, cast, create_engine, func, inspect, select, table
from sqlalchemy import column as sql_column

from apploom.cli import main
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.engine.storage.entity_tables import build_metadata
from apploom.engine.versions import applied
from apploom.plugins import open_runtime
from apploom.web import create_app
from tests.helpers import PG_URL, Shop, browser, bundled_with, needs_pg, pg_schema, reopen

EVIL = '=HYPERLINK("http://evil.example","x")'


def apploom(runtime_or_settings: Runtime | Settings, *args: str):
    """Run the apploom command on an instance; fails the test if it fails."""
    result = run(runtime_or_settings, *args)
    assert result.exit_code == 0, result.output
    return result


def run(runtime_or_settings: Runtime | Settings, *args: str):
    settings = getattr(runtime_or_settings, "settings", runtime_or_settings)
    return CliRunner().invoke(
        main,
        [
            "--instance",
            str(settings.instance_path),
            "--database-url",
            settings.database_url,
            *args,
        ],
    )


def fill(rt: Runtime) -> dict:
    """A little of everything: records and child rows, a transition with its reservation
    and history, a comment, an attachment, a user with a token, an import waiting for
    its mapping (JSON columns still NULL), a formula-like text, and a deleted newest
    warehouse (so the next id is past the highest one left)."""
    shop = Shop(rt)
    order = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    rt.records.comment(SYSTEM_USER, "oms.order", order["id"], "Gift wrap, please")
    photo = rt.attachments.store(SYSTEM_USER, io.BytesIO(b"\x89PNG cup"), "cup.png", "image/png")
    rt.records.update(SYSTEM_USER, "wms.item", shop.cup["id"], {"photo": photo["id"]}, version=1)
    rt.records.create(SYSTEM_USER, "crm.customer", {"name": EVIL, "tags": ["retail", "online"]})
    gone = rt.records.create(SYSTEM_USER, "wms.warehouse", {"code": "GZ", "name": "Guangzhou"})
    rt.records.delete(SYSTEM_USER, "wms.warehouse", gone["id"])
    rt.users.create("lily", ["sales"], "password1234")
    rt.users.create_token("lily", "shop sync")
    upload = rt.imports.upload(SYSTEM_USER, "crm.customer", "more.csv", io.BytesIO(b"name\nWu\n"))
    return {"shop": shop, "order": order, "gone": gone, "photo": photo["id"], "upload": upload}


@pytest.fixture
def empty(tmp_path):
    """Settings of a new, empty instance on the given kind of database."""
    with ExitStack() as stack:

        def make(kind: str) -> Settings:
            folder = tmp_path / "restored"
            url = (
                stack.enter_context(pg_schema(PG_URL))
                if kind == "postgresql"
                else f"sqlite:///{folder / 'apploom.db'}"
            )
            return Settings.load({"instance_path": str(folder), "database_url": url}, environ={})

        yield make


def raw_rows(url: str) -> dict[str, list[tuple]]:
    """Every table's rows as the database stores them, columns by name, in key order: on
    SQLite the stored values themselves, on PostgreSQL each as its text (so a JSON null
    and an SQL NULL differ)."""
    engine = create_engine(url)
    found = {}
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            for name in inspector.get_table_names():
                names = sorted(c["name"] for c in inspector.get_columns(name))
                keys = inspector.get_pk_constraint(name)["constrained_columns"]
                t = table(name, *(sql_column(n) for n in names))
                picked = [
                    t.c[n] if conn.dialect.name == "sqlite" else cast(t.c[n], Text) for n in names
                ]
                query = select(*picked).order_by(*(t.c[k] for k in keys))
                found[name] = [(names, tuple(row)) for row in conn.execute(query)]
    finally:
        engine.dispose()
    return found


def typed_rows(rt: Runtime) -> dict[str, list[tuple]]:
    """Every table's rows as the engine reads them (Decimals, UTC times), whatever the
    database."""
    metadata = build_metadata(rt.apps, rt.types)
    with rt.db.read() as conn:
        return {
            t.name: list(conn.execute(select(t).order_by(*t.primary_key.columns)))
            for t in metadata.sorted_tables
        }


def files(settings: Settings) -> dict[str, bytes]:
    root = settings.instance_path
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("apploom.db")
    }


def next_ids(rt: Runtime, shop: Shop) -> dict[str, int]:
    """The ids the next warehouse, customer, order and order line get."""
    warehouse = rt.records.create(SYSTEM_USER, "wms.warehouse", {"code": "BJ", "name": "Beijing"})
    customer = rt.records.create(SYSTEM_USER, "crm.customer", {"name": "Next"})
    order = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    return {
        "warehouse": warehouse["id"],
        "customer": customer["id"],
        "order": order["id"],
        "line": order["lines"][0]["id"],
    }


def test_a_round_trip_keeps_every_row_and_file_and_ids_carry_on(runtime, empty, tmp_path):
    made = fill(runtime)
    backup = tmp_path / "shop.zip"
    assert "and 2 file(s)" in apploom(runtime, "backup", str(backup)).output
    assert backup.stat().st_mode & 0o777 == 0o600  # only its owner may read it
    target = empty(runtime.db.dialect)
    assert "Restored 41 tables" in apploom(target, "restore", str(backup)).output

    source = raw_rows(runtime.settings.database_url)
    assert len(source) == 41 and len(source["oms_order_line"]) == 2 and source["sys_token"]
    assert raw_rows(target.database_url) == source
    assert files(target) == files(runtime.settings)
    assert sorted(files(target)) == [
        f"attachments/{made['photo'][:2]}/{made['photo']}",
        f"imports/{made['upload']['stored_as']}",
    ]
    restored = open_runtime(target)
    try:
        ids = next_ids(restored, made["shop"])
        assert ids["warehouse"] == made["gone"]["id"] + 1  # the deleted one's is not reused
        assert ids == next_ids(runtime, made["shop"])  # as the old instance would go on
        app = create_app(runtime=restored)
        page = browser(app, "lily").get(f"/a/oms/order/{made['order']['id']}")
        assert page.status_code == 200 and made["order"]["number"] in page.get_data(as_text=True)
    finally:
        restored.close()


@needs_pg
def test_a_backup_of_sqlite_restores_into_postgresql(sqlite_runtime, empty, tmp_path):
    made = fill(sqlite_runtime)
    backup = tmp_path / "shop.zip"
    apploom(sqlite_runtime, "backup", str(backup))
    target = empty("postgresql")
    apploom(target, "restore", str(backup))
    restored = open_runtime(target)
    try:
        assert typed_rows(restored) == typed_rows(sqlite_runtime)
        assert next_ids(restored, made["shop"]) == next_ids(sqlite_runtime, made["shop"])
    finally:
        restored.close()


def without_preferences() -> list[Source]:
    """The bundled apps with the customer's preferences field (and its form section)
    removed: its column is archived."""
    section = "      - section: {en: Preferences, zh: 偏好}\n        rows: [[preferences]]\n"
    field = "      preferences: {type: long_text, label: {en: Preferences, zh: 偏好}}\n"
    return [
        Source(s.file, s.text.replace(section, "")) if s.file.endswith("crm.yaml") else s
        for s in bundled_with("crm.yaml", field, "")
    ]


def test_an_archived_field_comes_back_with_its_data_after_a_restore(runtime, empty, tmp_path):
    """A removed field's column is kept (archived); a backup carries it, and a rollback
    in the restored instance brings the field back with its values."""
    kept = runtime.records.create(
        SYSTEM_USER, "crm.customer", {"name": "Wu", "preferences": "Green tea only"}
    )
    rt = reopen(runtime, without_preferences())
    try:
        backup = tmp_path / "shop.zip"
        apploom(rt, "backup", str(backup))
        manifest = json.loads(zipfile.ZipFile(backup).read("manifest.json"))
        undescribed = manifest["database"]["tables"]["crm_customer"]["undescribed"]
        assert list(undescribed) == ["preferences"]
        target = empty(rt.db.dialect)
        apploom(target, "restore", str(backup))
        assert raw_rows(target.database_url) == raw_rows(rt.settings.database_url)
        restored = open_runtime(target)
        try:
            with restored.db.read() as conn:
                first = applied.source_of(conn, "crm", 1)
            restored = reopen(restored, [first])  # a rollback to version 1
            back = restored.records.get(SYSTEM_USER, "crm.customer", kept["id"])
            assert back["preferences"] == "Green tea only"
        finally:
            restored.close()
    finally:
        rt.close()


@needs_pg
def test_archived_data_goes_back_only_into_the_kind_of_database_it_came_from(
    sqlite_runtime, empty, tmp_path
):
    rt = reopen(sqlite_runtime, without_preferences())
    try:
        backup = tmp_path / "shop.zip"
        apploom(rt, "backup", str(backup))
    finally:
        rt.close()
    refused = run(empty("postgresql"), "restore", str(backup))
    assert refused.exit_code == 1
    assert "comes from sqlite" in refused.output and "crm_customer.preferences" in refused.output


def test_restore_refuses_a_database_that_holds_an_instance(runtime, empty, tmp_path):
    backup = tmp_path / "shop.zip"
    apploom(runtime, "backup", str(backup))
    before = raw_rows(runtime.settings.database_url)
    refused = run(runtime, "restore", str(backup))
    assert refused.exit_code == 1 and "already holds AppLoom tables" in refused.output
    assert raw_rows(runtime.settings.database_url) == before


def test_restore_refuses_an_instance_folder_that_holds_files(sqlite_runtime, empty, tmp_path):
    backup = tmp_path / "shop.zip"
    apploom(sqlite_runtime, "backup", str(backup))
    target = empty("sqlite")
    (target.instance_path / "imports").mkdir(parents=True)
    (target.instance_path / "imports" / "orders.csv").write_text("sku,qty\n")
    refused = run(target, "restore", str(backup))
    assert refused.exit_code == 1
    assert "already holds files (imports/orders.csv)" in refused.output
    assert raw_rows(target.database_url) == {}


def tampered(backup, copy, member: str, change, *, rows: int = 0, checksum: bool = False):
    """A copy of ``backup`` with ``member`` changed by ``change``; ``rows`` more of them
    and its new checksum in the manifest if asked, as if the backup had been made so."""
    with zipfile.ZipFile(backup) as good:
        manifest = json.loads(good.read("manifest.json"))
        data = change(good.read(member))
        if checksum:
            manifest["members"][member] = {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        manifest["database"]["tables"][member.split("/")[1][: -len(".jsonl")]]["rows"] += rows
        with zipfile.ZipFile(copy, "w") as bad:
            for info in good.infolist():
                if info.filename == "manifest.json":
                    bad.writestr(info, json.dumps(manifest))
                else:
                    bad.writestr(info, data if info.filename == member else good.read(info))
    return copy


@pytest.mark.parametrize("damage", [b'"Shenzhen"', b'"Shang'], ids=["changed", "cut"])
def test_a_damaged_backup_is_refused_and_leaves_the_target_empty(
    sqlite_runtime, empty, tmp_path, damage
):
    fill(sqlite_runtime)
    backup = tmp_path / "shop.zip"
    apploom(sqlite_runtime, "backup", str(backup))
    member = "database/wms_warehouse.jsonl"
    damaged = tampered(
        backup, tmp_path / "damaged.zip", member, lambda d: d.replace(b'"Shanghai"', damage)
    )
    target = empty("sqlite")
    refused = run(target, "restore", str(damaged))
    assert refused.exit_code == 1
    assert "wms_warehouse.jsonl is damaged" in refused.output
    assert raw_rows(target.database_url) == {} and files(target) == {}


def test_rows_the_database_refuses_end_the_restore_with_its_reason(runtime, empty, tmp_path):
    runtime.records.create(SYSTEM_USER, "wms.warehouse", {"code": "SH", "name": "Shanghai"})
    backup = tmp_path / "shop.zip"
    apploom(runtime, "backup", str(backup))
    twice = tampered(  # the same row twice, checksum and count to match: a made-up backup
        backup,
        tmp_path / "twice.zip",
        "database/wms_warehouse.jsonl",
        lambda data: data + data,
        rows=1,
        checksum=True,
    )
    target = empty(runtime.db.dialect)
    refused = run(target, "restore", str(twice))
    assert refused.exit_code == 1, refused.output
    assert "The database refused the backup's rows" in refused.output
    assert raw_rows(target.database_url) == {}


def test_a_backup_sees_one_moment_while_others_write(runtime):
    shop = Shop(runtime)
    customers = runtime.records.table("crm.customer")
    with runtime.db.snapshot() as conn:
        before = conn.execute(select(func.count()).select_from(customers)).scalar()
        runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
        runtime.records.create(SYSTEM_USER, "crm.customer", {"name": "Meanwhile"})
        assert conn.execute(select(func.count()).select_from(customers)).scalar() == before
    with runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar() == before + 1


def test_backup_refuses_to_write_over_a_file(sqlite_runtime, tmp_path):
    (tmp_path / "shop.zip").write_bytes(b"last week's backup")
    refused = run(sqlite_runtime, "backup", str(tmp_path / "shop.zip"))
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert (tmp_path / "shop.zip").read_bytes() == b"last week's backup"


def counts(rt: Runtime) -> dict[str, int]:
    with rt.db.read() as conn:
        return {
            e.qualified: conn.execute(
                select(func.count()).select_from(rt.records.tables[e.table])
            ).scalar()
            for e in rt.apps.entities()
        }


def exported(folder, fmt: str) -> dict[str, list]:
    """Each exported table's rows, the header first (JSON has none: None stands in)."""
    if fmt == "xlsx":
        book = load_workbook(folder / "data.xlsx", read_only=True)
        return {name: list(book[name].values) for name in book.sheetnames}
    if fmt == "json":
        return {
            p.stem: [None, *json.loads(p.read_text("utf-8"))] for p in (folder / "data").iterdir()
        }
    found = {}
    for path in (folder / "data").iterdir():
        with path.open(encoding="utf-8-sig", newline="") as f:
            found[path.stem] = list(csv.reader(f))
    return found


def place(name: str, fmt: str) -> str:
    """Where the export puts a table."""
    return f"data.xlsx, sheet {name}" if fmt == "xlsx" else f"data/{name}.{fmt}"


def test_the_full_export_holds_every_entity_its_definitions_and_an_index(runtime, tmp_path):
    fill(runtime)
    expected = counts(runtime)
    assert {"order_line", "shipment_line", "address"} <= {q.split(".")[1] for q in expected}
    for fmt in ("csv", "json", "xlsx"):
        folder = tmp_path / fmt
        apploom(runtime, "export", str(folder), "--format", fmt)
        found = exported(folder, fmt)
        index = (folder / "README.txt").read_text("utf-8")

        for entity, rows in expected.items():
            assert len(found[entity]) == rows + 1, (fmt, entity)
            assert re.search(rf"^{re.escape(place(entity, fmt))}: .*, {rows} rows$", index, re.M)
        assert re.search(
            rf"^  customer +Customer \(客户\): ref -> id in {place('crm.customer', fmt)}$",
            index,
            re.M,
        )
        assert len(found["users"]) == 1 + 1 and len(found["files"]) == 1 + 1
        header, *rows = found["crm.customer"]
        names = {r["name"] if fmt == "json" else r[header.index("name")] for r in rows}
        assert (EVIL if fmt == "json" else "'" + EVIL) in names  # inert where a sheet runs it
        header, order = found["oms.order"]
        total = order["total"] if fmt == "json" else order[header.index("total")]
        assert total == {"json": "293.00", "csv": "293.00", "xlsx": 293}[fmt]  # xlsx: a number
        assert {p.name for p in (folder / "apps").iterdir()} == {"crm.yaml", "oms.yaml", "wms.yaml"}
        assert len(list((folder / "files").iterdir())) == 1


def test_an_export_never_mixes_with_files_already_there(sqlite_runtime, tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "notes.txt").write_text("mine")
    refused = run(sqlite_runtime, "export", str(tmp_path / "export"))
    assert refused.exit_code == 1 and "is not an empty folder" in refused.output
