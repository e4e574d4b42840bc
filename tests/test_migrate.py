"""Definition changes become schema changes: planned, applied atomically, data kept."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.errors import DefinitionError, MigrationRefused
from apploom.engine.storage.system_tables import sys_app_version
from tests.helpers import app_text, bundled_with, install, reopen


def columns(runtime, table: str) -> set[str]:
    with runtime.db.read() as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


def test_first_apply_creates_tables_indexes_and_versions(runtime):
    with runtime.db.read() as conn:
        inspector = inspect(conn)
        assert {"oms_order", "oms_order_line", "crm_customer", "wms_item"} <= set(
            inspector.get_table_names()
        )
        indexes = {ix["name"] for ix in inspector.get_indexes("oms_order")}
        fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("oms_order")}
        versions = conn.execute(select(sys_app_version.c.app, sys_app_version.c.version)).all()
    assert {
        "ix_oms_order_customer",
        "ix_oms_order_channel",
        "uq_oms_order_number",
        "uq_oms_order_channel_external_id",
    } <= indexes
    assert {"crm_customer", "sys_user"} <= fks
    assert sorted(versions) == [("crm", 1), ("oms", 1), ("wms", 1)]


def test_a_database_made_by_an_older_release_gains_the_new_system_columns(runtime):
    """A system table's new column was missing in databases made before it existed (the
    next write to it failed); one that lacks a system table gets it too."""
    with runtime.db.write() as conn:
        conn.exec_driver_sql("ALTER TABLE sys_idempotency DROP COLUMN request_hash")
        conn.exec_driver_sql("DROP TABLE sys_webhook_delivery")
    install(runtime.db, bundled_sources())
    with runtime.db.read() as conn:
        inspector = inspect(conn)
        columns = {c["name"] for c in inspector.get_columns("sys_idempotency")}
        assert "request_hash" in columns and inspector.has_table("sys_webhook_delivery")


def test_reapplying_the_same_definitions_changes_nothing(runtime):
    result = install(runtime.db, bundled_sources())
    assert result.plan.empty and result.versions == {}


NOTES = app_text("notes")


def with_notes(text: str = NOTES) -> list[Source]:
    return bundled_sources() + [Source("notes.yaml", text)]


@pytest.fixture
def notes(runtime):
    rt = reopen(runtime, with_notes())
    rt.records.create(
        SYSTEM_USER, "notes.note", {"title": "first", "stars": 3, "price": "9.99", "tag": "a"}
    )
    yield rt
    rt.close()


def read_note(rt) -> dict:
    return rt.records.list(SYSTEM_USER, "notes.note").data[0]


def test_adding_a_field_an_entity_and_an_index_keeps_data(notes):
    text = (
        NOTES
        + """      due: {type: date, index: true}
  folder:
    fields:
      name: {type: text}
      note: {type: ref, to: note}
"""
    )
    result = install(notes.db, with_notes(text))
    assert [str(s) for s in result.plan.steps] == [
        "add column notes_note.due",
        "add index notes_note.ix_notes_note_due",
        "create table notes_folder",
    ]
    assert result.versions == {"notes": 2}
    rt = reopen(notes, with_notes(text))
    assert read_note(rt)["title"] == "first" and read_note(rt)["due"] is None
    rt.records.create(SYSTEM_USER, "notes.folder", {"name": "f", "note": read_note(rt)["id"]})
    rt.close()


def test_a_removed_field_is_archived_with_its_data_and_comes_back(notes):
    without = reopen(notes, with_notes(NOTES.replace("      tag:   {type: text}\n", "")))
    assert "tag" not in read_note(without)
    assert "tag" in columns(without, "notes_note")
    back = reopen(without, with_notes())
    assert read_note(back)["tag"] == "a"
    back.close()


def test_widening_text_integer_and_decimals_keeps_values(notes):
    wider = (
        NOTES.replace("length: 40", "length: 400")
        .replace("stars: {type: integer}", "stars: {type: decimal, scale: 2}")
        .replace("precision: 12, scale: 2", "precision: 16, scale: 4")
    )
    result = install(notes.db, with_notes(wider))
    assert [s.kind for s in result.plan.steps] == ["widen", "widen", "widen"]
    rt = reopen(notes, with_notes(wider))
    note = read_note(rt)
    assert (note["stars"], note["price"]) == ("3.00", "9.9900")
    table = rt.records.tables["notes_note"]
    with rt.db.read() as conn:
        assert conn.execute(select(table.c.price)).scalar() == Decimal("9.99")
    rt.records.create(SYSTEM_USER, "notes.note", {"title": "x" * 400})
    rt.close()


@pytest.mark.parametrize(
    "change",
    [
        ("stars: {type: integer}", "stars: {type: text}", "integer to text"),
        ("length: 40", "length: 10", "text(40) to text(10)"),
        ("precision: 12, scale: 2", "precision: 12, scale: 1", "decimal(12, 2) to decimal(12, 1)"),
    ],
)
def test_narrowing_is_refused_and_nothing_changes(notes, change):
    old, new, words = change
    with pytest.raises(MigrationRefused, match=re.escape(words)):
        install(notes.db, with_notes(NOTES.replace(old, new)))
    with notes.db.read() as conn:
        assert conn.execute(
            select(sys_app_version.c.version).where(sys_app_version.c.app == "notes")
        ).scalars().all() == [1]


def test_a_failed_apply_rolls_back_every_step(notes):
    """The new table is created, then the unique index fails on duplicated data."""
    notes.records.create(SYSTEM_USER, "notes.note", {"title": "second", "tag": "a"})
    text = (
        NOTES.replace("tag:   {type: text}", "tag:   {type: text, unique: true}")
        + """
  folder:
    fields: {name: {type: text}}
"""
    )
    with pytest.raises(MigrationRefused, match="unique"):
        install(notes.db, with_notes(text))
    with notes.db.read() as conn:
        tables = set(inspect(conn).get_table_names())
        versions = (
            conn.execute(select(sys_app_version.c.version).where(sys_app_version.c.app == "notes"))
            .scalars()
            .all()
        )
    assert "notes_folder" not in tables
    assert versions == [1]


def test_dry_run_plans_without_changing_anything(runtime):
    sources = bundled_with(
        "crm.yaml",
        "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n",
        "      city:     {type: text, label: {en: City, zh: "
        "城市}, length: 60}\n      region: {type: text}\n",
    )
    result = install(runtime.db, sources, dry_run=True)
    assert [str(s) for s in result.plan.steps] == ["add column crm_customer.region"]
    assert "region" not in columns(runtime, "crm_customer")


def test_a_broken_definition_is_not_applied(runtime):
    sources = bundled_with("oms.yaml", "to: crm.customer", "to: crm.client")
    with pytest.raises(DefinitionError, match="'crm.client' is not an entity"):
        install(runtime.db, sources)


def test_an_archived_field_cannot_come_back_as_an_incompatible_type(notes):
    without = reopen(notes, with_notes(NOTES.replace("      stars: {type: integer}\n", "")))
    as_date = NOTES.replace("stars: {type: integer}", "stars: {type: date}")
    with pytest.raises(
        MigrationRefused, match="notes_note.stars: changing it from integer to date"
    ):
        install(without.db, with_notes(as_date))
    as_decimal = reopen(
        without, with_notes(NOTES.replace("stars: {type: integer}", "stars: {type: decimal}"))
    )
    assert read_note(as_decimal)["stars"] == "3.0000"
    as_decimal.close()
