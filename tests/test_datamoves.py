"""A new version that leaves existing data behind asks what to do with it; the answers,
the schema change and the version land together or not at all, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source
from apploom.engine.errors import MigrationRefused
from apploom.engine.storage.system_tables import sys_transition
from apploom.engine.versions import applied, install
from apploom.web import create_app
from tests.helpers import app_text, browser, reopen
from tests.helpers import install as apply

DESK = app_text("helpdesk")
WITHOUT_WAITING = (
    DESK.replace("        waiting: {}\n", "")
    .replace(
        "        wait: {from: open, to: waiting, roles: [agent]}\n"
        "        resume: {from: waiting, to: open, roles: [agent]}\n",
        "",
    )
    .replace("from: [open, waiting]", "from: open")
)
WITH_REGION = DESK.replace(
    "      subject: {type: text, required: true}\n",
    "      subject: {type: text, required: true}\n      region: {type: text, required: true}\n",
)


@pytest.fixture
def desk(runtime):
    rt = reopen(runtime, [Source("desk.yaml", DESK)])
    for subject, steps in (("a", ["wait"]), ("b", ["wait"]), ("c", [])):
        made = rt.records.create(SYSTEM_USER, "desk.ticket", {"subject": subject})
        for step in steps:
            rt.transitions.take(SYSTEM_USER, "desk.ticket", made["id"], step)
    yield rt
    rt.close()


def states(rt):
    return sorted(r["status"] for r in rt.records.list(SYSTEM_USER, "desk.ticket").data)


def live_versions(rt):
    with rt.db.read() as conn:
        return [r["version"] for r in applied.history(conn, "desk")]


def test_removing_a_state_with_records_asks_where_they_go(desk):
    preview = apply(desk.db, [Source("desk.yaml", WITHOUT_WAITING)], dry_run=True)
    assert [str(q) for q in preview.questions] == [
        "2 desk.ticket record(s) are in state 'waiting', which this version removes: "
        "choose a state to move them to (open, closed)"
    ]
    with pytest.raises(MigrationRefused, match="2 desk.ticket record"):
        apply(desk.db, [Source("desk.yaml", WITHOUT_WAITING)])
    assert states(desk) == ["open", "waiting", "waiting"] and live_versions(desk) == [1]
    with pytest.raises(MigrationRefused, match="'nowhere' is not a state"):
        apply(
            desk.db,
            [Source("desk.yaml", WITHOUT_WAITING)],
            moves={"desk.ticket:waiting": "nowhere"},
        )
    apply(desk.db, [Source("desk.yaml", WITHOUT_WAITING)], moves={"desk.ticket:waiting": "open"})
    assert states(desk) == ["open", "open", "open"] and live_versions(desk) == [1, 2]


def test_a_newly_required_field_is_filled_in_the_empty_rows(desk):
    preview = apply(desk.db, [Source("desk.yaml", WITH_REGION)], dry_run=True)
    assert [(q.kind, q.name, q.count) for q in preview.questions] == [("fill", "region", 3)]
    with pytest.raises(MigrationRefused, match="no value for 'region'"):
        apply(desk.db, [Source("desk.yaml", WITH_REGION)])
    apply(desk.db, [Source("desk.yaml", WITH_REGION)], fills={"desk.ticket:region": "华东"})
    rt = reopen(desk, [Source("desk.yaml", WITH_REGION)])
    tickets = rt.records.list(SYSTEM_USER, "desk.ticket").data
    assert {r["region"] for r in tickets} == {"华东"}
    last = rt.records.timeline(SYSTEM_USER, "desk.ticket", tickets[0]["id"])[0]
    assert last["changes"] == {"region": [None, "华东"]} and last["user"] == "system"
    rt.close()


def test_a_failure_midway_leaves_schema_data_and_versions_as_they_were(desk, monkeypatch):
    both = (
        WITH_REGION.replace("        waiting: {}\n", "")
        .replace(
            "        wait: {from: open, to: waiting, roles: [agent]}\n"
            "        resume: {from: waiting, to: open, roles: [agent]}\n",
            "",
        )
        .replace("from: [open, waiting]", "from: open")
    )

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(install, "record_version", broken)  # after schema and data moves
    with pytest.raises(RuntimeError, match="disk is full"):
        apply(
            desk.db,
            [Source("desk.yaml", both)],
            moves={"desk.ticket:waiting": "closed"},
            fills={"desk.ticket:region": "华东"},
        )
    with desk.db.read() as conn:
        assert "region" not in {c["name"] for c in inspect(conn).get_columns("desk_ticket")}
    assert states(desk) == ["open", "waiting", "waiting"] and live_versions(desk) == [1]


def test_the_studio_asks_and_applies_the_answers(desk):
    desk.users.create("boss", ["admin"], "password1234")
    boss = browser(create_app(runtime=desk), "boss")
    page = boss.post("/studio/desk/preview", data={"text": WITHOUT_WAITING}).get_data(as_text=True)
    assert "which this version removes" in page and 'name="move:desk.ticket:waiting"' in page
    refused = boss.post("/studio/desk/apply", data={"text": WITHOUT_WAITING, "comment": "x"})
    assert refused.status_code == 422 and "needs answers" in refused.get_data(as_text=True)
    done = boss.post(
        "/studio/desk/apply",
        data={
            "text": WITHOUT_WAITING,
            "comment": "no more waiting",
            "move:desk.ticket:waiting": "closed",
        },
    )
    assert done.status_code == 303
    assert states(desk) == ["closed", "closed", "open"]
    [moved] = [r for r in desk.records.list(SYSTEM_USER, "desk.ticket").data if r["subject"] == "a"]
    last = desk.records.timeline(SYSTEM_USER, "desk.ticket", moved["id"])[0]
    assert (last["user"], last["changes"], last["note"]) == (
        "boss",
        {"status": ["waiting", "closed"]},
        "no more waiting",
    )
    assert moved["version"] == last["version"] == 3
    with desk.db.read() as conn:
        log = conn.execute(
            select(sys_transition.c.from_state, sys_transition.c.to_state)
            .where(sys_transition.c.record_id == moved["id"])
            .order_by(sys_transition.c.id)
        ).all()
    assert [tuple(row) for row in log] == [
        (None, "open"),
        ("open", "waiting"),
        ("waiting", "closed"),
    ]


def test_renaming_a_state_moves_its_records_to_the_new_name(desk):
    renamed = (
        DESK.replace("waiting: {}", "paused: {}")
        .replace("to: waiting", "to: paused")
        .replace("from: waiting", "from: paused")
        .replace("[open, waiting]", "[open, paused]")
    )
    preview = apply(desk.db, [Source("desk.yaml", renamed)], dry_run=True)
    assert [(q.kind, q.name, q.count) for q in preview.questions] == [("move", "waiting", 2)]
    apply(desk.db, [Source("desk.yaml", renamed)], moves={"desk.ticket:waiting": "paused"})
    assert states(desk) == ["open", "paused", "paused"]
