"""Workflows: transitions defined, enforced, logged and measured; lint of bad ones."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import (
    Conflict,
    DefinitionError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.storage.system_tables import sys_transition
from apploom.engine.workflow.service import time_in_states
from apploom.web import create_app
from tests.helpers import Shop, app_text, browser, bundled_actions, bundled_with, reopen

TICKETS = app_text("tickets")


@pytest.fixture
def desk(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("desk.yaml", TICKETS)])
    rt.agent = rt.users.create("ann", ["agent"], "password1234")
    rt.lead = rt.users.create("leo", ["lead"], "password1234")
    yield rt
    rt.close()


def new_ticket(rt, **values):
    return rt.records.create(rt.agent, "desk.ticket", {"subject": "Printer", **values})


def test_a_record_starts_in_the_initial_state_and_the_log_says_so(desk):
    ticket = new_ticket(desk)
    assert ticket["status"] == "open"
    with desk.db.read() as conn:
        log = conn.execute(select(sys_transition.c.transition, sys_transition.c.to_state)).all()
    assert log == [(None, "open")]


def test_the_status_moves_only_through_transitions(desk):
    ticket = new_ticket(desk)
    with pytest.raises(ValidationFailed) as caught:
        desk.records.update(
            desk.agent, "desk.ticket", ticket["id"], {"status": "closed"}, version=1
        )
    assert caught.value.fields["status"] == (
        "changes only through the workflow's transitions: answer, escalate, close"
    )
    with pytest.raises(ValidationFailed):
        desk.records.create(desk.agent, "desk.ticket", {"subject": "x", "status": "closed"})


def test_a_transition_fills_required_fields_and_is_logged(desk):
    ticket = new_ticket(desk)
    with pytest.raises(ValidationFailed) as caught:
        desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "answer")
    assert caught.value.fields == {"answer": "is needed to take 'Answer'"}
    done = desk.transitions.take(
        desk.agent,
        "desk.ticket",
        ticket["id"],
        "answer",
        {"answer": "Restart it"},
        comment="called the user",
    )
    assert (done["status"], done["answer"], done["version"]) == ("answered", "Restart it", 2)
    entry = desk.records.history(desk.agent, "desk.ticket", ticket["id"])[-1]
    assert entry["action"] == "transition" and entry["transition"] == "answer"
    assert entry["note"] == "called the user"
    assert entry["changes"]["status"] == ["open", "answered"]
    with desk.db.read() as conn:
        row = (
            conn.execute(select(sys_transition).where(sys_transition.c.transition == "answer"))
            .mappings()
            .one()
        )
    assert (row["from_state"], row["to_state"], row["user_id"], row["comment"]) == (
        "open",
        "answered",
        desk.agent.id,
        "called the user",
    )


def test_refusals_name_the_reason(desk):
    ticket = new_ticket(desk)
    with pytest.raises(Forbidden, match="may not take 'Close'; it is for: lead"):
        desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "close")
    desk.transitions.take(desk.lead, "desk.ticket", ticket["id"], "close")
    with pytest.raises(
        Conflict, match="'Answer' cannot be taken while the Ticket is Closed; it leaves from: Open"
    ):
        desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "answer", {"answer": "x"})
    urgent = new_ticket(desk, priority=5)
    with pytest.raises(Conflict, match="already Open"):
        desk.transitions.take(desk.lead, "desk.ticket", urgent["id"], "escalate")
    desk.transitions.take(desk.agent, "desk.ticket", urgent["id"], "answer", {"answer": "x"})
    with pytest.raises(ValidationFailed) as caught:
        desk.transitions.take(desk.lead, "desk.ticket", urgent["id"], "escalate")
    assert caught.value.fields["status"] == "'Escalate' needs priority < 3, which does not hold"
    with pytest.raises(ValidationFailed, match="subject"):
        desk.transitions.take(
            desk.agent, "desk.ticket", urgent["id"], "answer", {"answer": "x", "subject": "changed"}
        )


def test_a_transition_taken_inside_a_transaction_must_exist(desk):
    """Rules and plugins take transitions by name, perhaps on an entity with no workflow."""
    ticket = new_ticket(desk)
    customer = desk.records.create(SYSTEM_USER, "crm.customer", {"name": "Ann"})

    def work(conn):
        with pytest.raises(NotFound, match="Ticket has no transition 'reopen'"):
            desk.transitions.take_in(
                conn, desk.lead, desk.records.entity("desk.ticket"), "reopen", ticket["id"]
            )
        with pytest.raises(NotFound, match="Customer has no transition 'close'"):
            desk.transitions.take_in(
                conn, desk.lead, desk.records.entity("crm.customer"), "close", customer["id"]
            )

    desk.records.transaction(work)


def test_fields_are_read_only_in_the_states_that_say_so(desk):
    ticket = new_ticket(desk)
    desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "answer", {"answer": "x"})
    with pytest.raises(ValidationFailed) as caught:
        desk.records.update(desk.agent, "desk.ticket", ticket["id"], {"subject": "new"}, version=2)
    assert caught.value.fields == {"subject": "cannot change while the Ticket is Answered"}
    assert (
        desk.records.update(desk.agent, "desk.ticket", ticket["id"], {"priority": 2}, version=2)[
            "priority"
        ]
        == 2
    )


def test_allowed_transitions_depend_on_state_role_and_condition(desk):
    ticket = new_ticket(desk, priority=5)
    assert [
        t["name"] for t in desk.transitions.allowed(desk.agent, "desk.ticket", ticket["id"])
    ] == ["answer"]
    assert [
        t["name"] for t in desk.transitions.allowed(desk.lead, "desk.ticket", ticket["id"])
    ] == ["answer", "close"]
    assert desk.transitions.allowed(SYSTEM_USER, "desk.ticket", ticket["id"])[0]["require"] == [
        "answer"
    ]


def test_two_transitions_at_once_cannot_both_win(desk):
    ticket = new_ticket(desk)

    def take(name):
        try:
            return desk.transitions.take(
                desk.lead,
                "desk.ticket",
                ticket["id"],
                name,
                {"answer": "x"} if name == "answer" else None,
            )["status"]
        except Conflict:
            return "conflict"

    for _ in range(3):
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(take, ["answer", "close"]))
        assert outcomes in (
            ["answered", "conflict"],
            ["closed", "conflict"],
            ["answered", "closed"],
        )  # serialised: answer, then close from any
        final = desk.records.get(desk.lead, "desk.ticket", ticket["id"])
        history = desk.records.history(desk.lead, "desk.ticket", ticket["id"])
        assert final["version"] == len(history)
        ticket = new_ticket(desk)


def test_version_check_on_transitions(desk):
    ticket = new_ticket(desk)
    desk.records.update(desk.agent, "desk.ticket", ticket["id"], {"priority": 2}, version=1)
    with pytest.raises(Conflict):
        desk.transitions.take(desk.lead, "desk.ticket", ticket["id"], "close", version=1)


def test_time_in_each_state_per_record_and_on_average(desk):
    one, two = new_ticket(desk), new_ticket(desk)
    desk.transitions.take(desk.agent, "desk.ticket", one["id"], "answer", {"answer": "x"})
    desk.transitions.take(desk.lead, "desk.ticket", one["id"], "close")
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    stats = desk.transitions.stats(desk.lead, "desk.ticket", now=later)
    assert stats["counts"] == {"open": 1, "answered": 0, "closed": 1}
    per_record = stats["per_record"]
    assert set(per_record[one["id"]]) == {"open", "answered", "closed"}
    assert per_record[one["id"]]["closed"] == pytest.approx(7200, abs=60)
    assert per_record[two["id"]] == {"open": pytest.approx(7200, abs=60)}
    opened = stats["time_in_state"]["open"]
    assert opened["records"] == 2
    assert opened["average_seconds"] == pytest.approx(
        (per_record[one["id"]]["open"] + per_record[two["id"]]["open"]) / 2
    )


def test_time_in_states_adds_up_visits():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    log = [
        (1, "open", t0),
        (1, "answered", t0 + hour),
        (1, "open", t0 + 3 * hour),
        (1, "closed", t0 + 4 * hour),
        (2, "open", t0 + 2 * hour),
    ]
    assert time_in_states(log, t0 + 5 * hour) == {
        1: {"open": 7200.0, "answered": 7200.0, "closed": 3600.0},
        2: {"open": 10800.0},
    }


def test_bundled_order_journey(runtime, shop):
    warehouse = runtime.users.create("wes", ["warehouse"], "password1234")
    sales = runtime.users.create("sue", ["sales"], "password1234")
    manager = runtime.users.create("max", ["manager"], "password1234")
    order = runtime.records.create(sales, "oms.order", shop.order())
    assert order["status"] == "draft"
    confirmed = runtime.transitions.take(sales, "oms.order", order["id"], "confirm")
    with pytest.raises(ValidationFailed, match="lines"):
        runtime.records.update(
            sales,
            "oms.order",
            order["id"],
            {"lines": [{"item": shop.cup["id"], "qty": 9, "price": "1"}]},
            version=confirmed["version"],
        )
    picked = runtime.transitions.take(warehouse, "oms.order", order["id"], "pick")
    with pytest.raises(ValidationFailed) as caught:
        runtime.transitions.take(warehouse, "oms.order", order["id"], "ship")
    assert set(caught.value.fields) == {"carrier"}
    runtime.records.update(
        manager,
        "oms.order",
        order["id"],  # a number typed in is kept
        {"tracking_number": "SF1234567890"},
        version=picked["version"],
    )
    shipped = runtime.transitions.take(
        warehouse, "oms.order", order["id"], "ship", {"carrier": "sf"}
    )
    assert shipped["status"] == "shipped" and shipped["tracking_number"] == "SF1234567890"
    with pytest.raises(Forbidden):
        runtime.transitions.take(sales, "oms.order", order["id"], "deliver")


# (what is wrong, the workflow block, path inside the entity, message, is it an error)
LINT = [
    (
        "unknown initial",
        "initial: nowhere\n  states: {a: {final: true}}",
        "workflow.initial",
        "'nowhere' is not one of the states (a)",
        True,
    ),
    (
        "unknown source",
        "initial: a\n  states: {a: {}, b: {final: true}}\n  transitions:\n"
        "    go: {from: x, to: b, roles: [clerk]}",
        "workflow.transitions.go.from",
        "'x' is not one of the states (a, b)",
        True,
    ),
    (
        "unknown target",
        "initial: a\n  states: {a: {final: true}}\n  transitions:\n"
        "    go: {from: a, to: z, roles: [clerk]}",
        "workflow.transitions.go.to",
        "'z' is not one of the states (a)",
        True,
    ),
    (
        "no role may take it",
        "initial: a\n  states: {a: {}, b: {final: true}}\n  transitions:\n"
        "    go: {from: a, to: b, roles: [wizard]}",
        "workflow.transitions.go.roles",
        "no role may take this transition: wizard",
        True,
    ),
    (
        "empty roles",
        "initial: a\n  states: {a: {}, b: {final: true}}\n  transitions:\n"
        "    go: {from: a, to: b, roles: []}",
        "workflow.transitions.go.roles",
        "the list is empty",
        True,
    ),
    (
        "guard names unknown field",
        "initial: a\n  states: {a: {}, b: {final: true}}\n"
        "  transitions:\n    go: {from: a, to: b, roles: [clerk], if: 'amount > 0'}",
        "workflow.transitions.go.if",
        "the condition uses 'amount', which is not a field",
        True,
    ),
    (
        "require unknown field",
        "initial: a\n  states: {a: {}, b: {final: true}}\n"
        "  transitions:\n    go: {from: a, to: b, roles: [clerk], require: [nope]}",
        "workflow.transitions.go.require",
        "'nope' is not a field it can ask for",
        True,
    ),
    (
        "readonly unknown field",
        "initial: a\n  states: {a: {final: true, readonly: [nope]}}",
        "workflow.states.a.readonly",
        "'nope' is not a field of this entity",
        True,
    ),
    (
        "unreachable state",
        "initial: a\n  states: {a: {final: true}, lonely: {final: true}}",
        "workflow.states.lonely",
        "'lonely' cannot be reached from 'a'",
        False,
    ),
    (
        "dead end",
        "initial: a\n  states: {a: {}, b: {}}\n  transitions:\n"
        "    go: {from: a, to: b, roles: [clerk]}",
        "workflow.states.b",
        "'b' has no way out and is not marked final: true",
        False,
    ),
]


@pytest.mark.parametrize("case, block, path, message, is_error", LINT, ids=[c[0] for c in LINT])
def test_lint(case, block, path, message, is_error):
    text = textwrap.dedent("""\
        app: shop
        roles: [clerk]
        entities:
          thing:
            fields: {name: {type: text}}
            workflow:
              WORKFLOW
        """).replace("WORKFLOW", block.replace("\n  ", "\n").replace("\n", "\n      "))
    full = f"entities.thing.{path}"
    if is_error:
        with pytest.raises(DefinitionError) as caught:
            load_apps([Source("shop.yaml", text)], FieldTypes())
        problems = caught.value.problems
    else:
        problems = load_apps([Source("shop.yaml", text)], FieldTypes()).warnings
    assert any(p.path == full and message in p.message and p.line for p in problems), "\n".join(
        map(str, problems)
    )


def test_a_declared_status_field_is_refused():
    text = TICKETS.replace(
        "      answer:   {type: text}\n",
        "      answer:   {type: text}\n      status: {type: text}\n",
    )
    with pytest.raises(DefinitionError, match="is the workflow's status field"):
        load_apps([Source("desk.yaml", text)], FieldTypes())


def test_bundled_workflows_are_clean():
    apps = load_apps(bundled_sources(), FieldTypes(), bundled_actions())
    assert apps.warnings == ()
    for ref in ("oms.order", "crm.opportunity", "wms.purchase_order"):
        workflow = apps.entity(ref).workflow
        assert all(s.label.zh != s.label.en for s in workflow.states.values())
        assert all(t.label.zh != t.label.en for t in workflow.transitions.values())


def test_transitions_over_the_api(sqlite_runtime):
    shop = Shop(sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    sqlite_runtime.users.create("wes", ["warehouse"], "password1234")
    client = create_app(runtime=sqlite_runtime).test_client()
    sue = {"Authorization": "Bearer " + sqlite_runtime.users.create_token("sue")}
    wes = {"Authorization": "Bearer " + sqlite_runtime.users.create_token("wes")}
    order = client.post("/api/v1/oms/order", json=shop.order(), headers=sue).json
    url = f"/api/v1/oms/order/{order['id']}"
    allowed = client.get(url, headers=sue).json["_meta"]["transitions"]
    assert [t["name"] for t in allowed] == ["confirm", "cancel"]
    assert client.get(url, headers=wes).json["_meta"]["transitions"] == []
    assert client.post(url + "/transitions/pick", headers=wes).status_code == 409
    assert client.post(url + "/transitions/confirm", headers=wes).status_code == 403
    confirmed = client.post(url + "/transitions/confirm", json={"comment": "ok"}, headers=sue)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "confirmed"
    picked = client.post(url + "/transitions/pick", headers=wes).json
    missing = client.post(url + "/transitions/ship", json={}, headers=wes)
    assert missing.status_code == 422
    assert missing.json["error"]["fields"] == {"carrier": "is needed to take 'Ship'"}
    unasked = client.post(url + "/transitions/ship", json={"note": "x"}, headers=wes)
    assert unasked.json["error"]["fields"] == {"note": "is not asked for by 'ship'"}
    assert client.post(url + "/transitions/fly", headers=wes).status_code == 404
    shipped = client.post(
        url + "/transitions/ship", headers=wes, json={"carrier": "sf", "version": picked["version"]}
    )
    assert shipped.json["status"] == "shipped"
    assert shipped.json["tracking_number"].startswith("SF")  # booked by the carrier plugin
    stale = client.post(
        url + "/transitions/deliver", headers=wes, json={"version": picked["version"]}
    )
    assert stale.status_code == 409
    plain = client.patch(
        url, json={"version": shipped.json["version"], "status": "completed"}, headers=sue
    )
    assert plain.status_code == 422 and "transitions" in plain.json["error"]["fields"]["status"]


def test_bulk_transition_from_the_list_is_all_or_nothing(sqlite_runtime):
    shop = Shop(sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    app = create_app(runtime=sqlite_runtime)
    ids = [
        sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())["id"]
        for _ in range(3)
    ]
    sqlite_runtime.transitions.take(SYSTEM_USER, "oms.order", ids[2], "cancel")
    b = browser(app, "sue")
    refused = b.post(
        "/a/oms/order/bulk",
        {"action": "transition", "transition": "confirm", "ids": ids},
        follow_redirects=True,
    )
    assert "cannot be taken while the Sales order is Cancelled" in refused.get_data(as_text=True)
    states = [sqlite_runtime.records.get(SYSTEM_USER, "oms.order", i)["status"] for i in ids]
    assert states == ["draft", "draft", "cancelled"]
    b.post("/a/oms/order/bulk", {"action": "transition", "transition": "confirm", "ids": ids[:2]})
    states = [sqlite_runtime.records.get(SYSTEM_USER, "oms.order", i)["status"] for i in ids]
    assert states == ["confirmed", "confirmed", "cancelled"]


def test_update_own_limits_transitions_to_records_the_user_created(sqlite_runtime):
    """A role that may update only its own records takes transitions only on those, by the
    engine, the API and the list's bulk action; the buttons shown say the same."""
    rt = reopen(
        sqlite_runtime,
        bundled_with(
            "oms.yaml",
            "  sales: [read, create, update]",
            '  sales: [read, create, "update:own"]',
        ),
    )
    shop = Shop(rt)
    alice = rt.users.create("alice", ["sales"], "password1234")
    bob = rt.users.create("bob", ["sales"], "password1234")
    mine = rt.records.create(alice, "oms.order", shop.order())
    theirs = rt.records.create(bob, "oms.order", shop.order())
    assert rt.transitions.allowed(alice, "oms.order", theirs["id"]) == []
    with pytest.raises(Forbidden, match="only take 'Confirm' on Sales order records you created"):
        rt.transitions.take(alice, "oms.order", theirs["id"], "confirm")
    app = create_app(runtime=rt)
    client = app.test_client()
    token = {"Authorization": "Bearer " + rt.users.create_token("alice")}
    url = f"/api/v1/oms/order/{theirs['id']}"
    assert client.get(url, headers=token).json["_meta"]["transitions"] == []
    assert client.post(url + "/transitions/cancel", headers=token).status_code == 403
    b = browser(app, "alice")
    page = b.get(f"/a/oms/order/{theirs['id']}").get_data(as_text=True)
    assert "/transitions/confirm" not in page
    refused = b.post(
        "/a/oms/order/bulk",
        {"action": "transition", "transition": "confirm", "ids": [mine["id"], theirs["id"]]},
        follow_redirects=True,
    )
    assert "records you created" in refused.get_data(as_text=True)
    states = [rt.records.get(SYSTEM_USER, "oms.order", o["id"])["status"] for o in (mine, theirs)]
    assert states == ["draft", "draft"]
    assert [t["name"] for t in rt.transitions.allowed(alice, "oms.order", mine["id"])] == [
        "confirm",
        "cancel",
    ]
    assert rt.transitions.take(alice, "oms.order", mine["id"], "confirm")["status"] == "confirmed"
    rt.close()


def test_transitions_open_to_whoever_may_update_follow_update_own(runtime):
    rt = reopen(
        runtime,
        bundled_sources()
        + [
            Source(
                "desk.yaml",
                app_text("desk").replace(
                    "agent: [read, create, update]", 'agent: [read, create, "update:own"]'
                ),
            )
        ],
    )
    ann = rt.users.create("ann", ["agent"], "password1234")
    ben = rt.users.create("ben", ["agent"], "password1234")
    theirs = rt.records.create(ben, "desk.ticket", {"subject": "Printer"})
    assert rt.transitions.allowed(ann, "desk.ticket", theirs["id"]) == []
    with pytest.raises(Forbidden, match="only take 'Answer' on Ticket records you created"):
        rt.transitions.take(ann, "desk.ticket", theirs["id"], "answer")
    assert rt.transitions.take(ben, "desk.ticket", theirs["id"], "answer")["status"] == "answered"
    rt.close()
