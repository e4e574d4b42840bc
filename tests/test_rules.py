"""Automation rules: triggers, conditions, actions, rollback, chains and the run log."""

from __future__ import annotations

import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import outbox
from apploom.engine.automation.actions import BUILTIN_ACTIONS, RuleAction
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import DefinitionError, RuleError
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.runtime import Runtime
from apploom.engine.storage.system_tables import sys_outbox, sys_rule_run
from apploom.web import create_app
from tests.helpers import Shop, app_text, bundled_plugins, install, reopen

DESK = app_text("desk")


@pytest.fixture
def desk(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("desk.yaml", DESK)])
    rt.agent = rt.users.create("ann", ["agent"], "password1234")
    rt.lead = rt.users.create("leo", ["lead"], "password1234")
    rt.shop = Shop(rt)
    yield rt
    rt.close()


def runs(rt, rule=None):
    query = select(sys_rule_run).order_by(sys_rule_run.c.id)
    if rule:
        query = query.where(sys_rule_run.c.rule == rule)
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def queued(rt):
    with rt.db.read() as conn:
        return [
            dict(r) for r in conn.execute(select(sys_outbox).order_by(sys_outbox.c.id)).mappings()
        ]


def test_created_rules_set_fields_notify_and_queue_email(desk):
    ticket = desk.records.create(
        desk.agent,
        "desk.ticket",
        {
            "subject": "Printer on fire",
            "priority": 5,
            "email": "li@example.cn",
            "customer": desk.shop.customer["id"],
        },
    )
    stored = desk.records.get(desk.agent, "desk.ticket", ticket["id"])
    assert stored["escalated"] is True and stored["version"] == 2
    assert [n["message"] for n in desk.notifications.latest(desk.lead, "en")] == [
        "Urgent: Printer on fire from 张三"
    ]
    assert desk.notifications.unread(desk.agent) == 0
    [email] = queued(desk)
    assert email["kind"] == "email" and email["status"] == "pending"
    assert len(email["payload"].pop("message_id")) == 32
    assert email["payload"] == {
        "to": "li@example.cn",
        "subject": "We got 'Printer on fire'",
        "body": f"Ticket #{ticket['id']} for 上海",
    }
    urgent = runs(desk, "urgent")[0]
    assert (urgent["trigger"], urgent["condition"], urgent["outcome"]) == ("created", True, "done")
    assert urgent["actions"] == ["set Escalated", "notified 1 user(s)"]


def test_a_false_condition_skips_the_actions_and_says_so(desk):
    desk.records.create(desk.agent, "desk.ticket", {"subject": "Mouse", "priority": 1})
    urgent = runs(desk, "urgent")[0]
    assert (urgent["condition"], urgent["outcome"], urgent["actions"]) == (False, "skipped", [])
    assert desk.notifications.unread(desk.lead) == 0
    assert runs(desk, "welcome")[0]["actions"] == ["no email address: nothing sent"]


def test_transition_and_updated_triggers(desk):
    ticket = desk.records.create(desk.agent, "desk.ticket", {"subject": "Screen"})
    desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "answer")
    tasks = desk.records.list(desk.agent, "desk.task").data
    assert [(t["title"], t["ticket"]) for t in tasks] == [("Follow up: Screen", ticket["id"])]
    desk.records.update(desk.agent, "desk.ticket", ticket["id"], {"priority": 2}, version=2)
    desk.records.update(desk.agent, "desk.ticket", ticket["id"], {"priority": 1}, version=3)
    hooks = [m for m in queued(desk) if m["kind"] == "webhook"]
    assert [h["payload"]["body"] for h in hooks] == [{"id": ticket["id"], "priority": 2}]
    closed = desk.records.update(
        desk.agent, "desk.ticket", ticket["id"], {"note": "done"}, version=4
    )
    assert desk.records.get(desk.agent, "desk.ticket", ticket["id"])["status"] == "closed"
    assert closed["note"] == "done"


def test_a_failing_action_rolls_back_the_change_and_names_rule_and_action(desk):
    ticket = desk.records.create(desk.agent, "desk.ticket", {"subject": "x" * 60})
    with pytest.raises(
        RuleError,
        match=r"Rule 'Follow up' failed at action 1 \(create\): "
        r"title is 71 characters long; at most 40 are allowed",
    ):
        desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "answer")
    assert desk.records.get(desk.agent, "desk.ticket", ticket["id"])["status"] == "open"
    assert desk.records.list(desk.agent, "desk.task").total == 0
    failed = runs(desk, "follow_up")[-1]
    assert failed["outcome"] == "failed" and "title" in failed["error"]


def test_rule_runs_show_on_the_timeline(desk):
    ticket = desk.records.create(desk.agent, "desk.ticket", {"subject": "Keyboard", "priority": 4})
    entries = desk.records.timeline(desk.agent, "desk.ticket", ticket["id"])
    assert {e["rule"] for e in entries if e["action"] == "rule"} == {"urgent", "welcome"}


def test_a_rule_turned_off_is_still_checked_but_never_runs(desk):
    off = DESK.replace("      - name: urgent\n", "      - name: urgent\n        enabled: false\n")
    rt = reopen(desk, bundled_sources() + [Source("desk.yaml", off)])
    ticket = rt.records.create(desk.agent, "desk.ticket", {"subject": "Fire", "priority": 5})
    assert ticket["escalated"] is False and rt.notifications.unread(desk.lead) == 0
    assert runs(rt, "urgent") == [] and len(runs(rt, "welcome")) == 1
    broken = off.replace('escalated: "True"', 'escalatd: "True"')
    with pytest.raises(DefinitionError, match="escalatd"):
        load_apps(bundled_sources() + [Source("desk.yaml", broken)], FieldTypes())
    rt.close()


LOOP = app_text("loops")


def test_a_loop_is_stopped_with_the_rules_named(desk):
    rt = reopen(desk, bundled_sources() + [Source("loops.yaml", LOOP)])
    counter = rt.records.create(SYSTEM_USER, "loops.counter", {})
    with pytest.raises(
        RuleError,
        match="Rules trigger each other in a loop: "
        "loops.counter.ping -> loops.counter.pong -> "
        "loops.counter.ping",
    ):
        rt.records.update(SYSTEM_USER, "loops.counter", counter["id"], {"a": 1}, version=1)
    assert rt.records.get(SYSTEM_USER, "loops.counter", counter["id"])["a"] == 0
    rt.close()


RULE_LINT = [
    (
        "unknown action",
        "- {on: created, do: [{fly: {}}]}",
        "rules.0.do.0",
        "'fly' is not an action",
    ),
    (
        "unknown field in condition",
        "- {on: created, if: 'size > 1', do: [{set: {a: '1'}}]}",
        "rules.0.if",
        "uses 'size', which is not a field",
    ),
    (
        "unknown trigger",
        "- {on: renamed, do: [{set: {a: '1'}}]}",
        "rules.0.on",
        "must be created, updated or deleted",
    ),
    (
        "unknown transition",
        "- {on: {transition: fly}, do: [{set: {a: '1'}}]}",
        "rules.0.on",
        "has no transition 'fly'",
    ),
    (
        "set unknown field",
        "- {on: created, do: [{set: {zz: '1'}}]}",
        "rules.0.do.0",
        "'zz' is not a field it can set",
    ),
    (
        "create unknown entity",
        "- {on: created, do: [{create: {entity: x.y}}]}",
        "rules.0.do.0",
        "must name an entity",
    ),
    (
        "notify nobody",
        "- {on: created, do: [{notify: {message: hi}}]}",
        "rules.0.do.0",
        "name the roles, users, user fields (to) or robots",
    ),
    (
        "bad webhook url",
        "- {on: created, do: [{webhook: {url: 'ftp://x'}}]}",
        "rules.0.do.0",
        "must start with http",
    ),
    (
        "updated unknown field",
        "- {on: {updated: [zz]}, do: [{set: {a: '1'}}]}",
        "rules.0.on",
        "'zz' is not a field",
    ),
    (
        "unsafe expression",
        "- {on: created, do: [{set: {a: '().__class__'}}]}",
        "rules.0.do.0",
        "names starting with _",
    ),
    (
        "unsafe script",
        "- {on: created, do: [{script: 'import os'}]}",
        "rules.0.do.0",
        "script: uses Import",
    ),
]


@pytest.mark.parametrize("case, rules, path, message", RULE_LINT, ids=[r[0] for r in RULE_LINT])
def test_rule_lint(case, rules, path, message):
    text = (
        "app: shop\nentities:\n  thing:\n    fields: {a: {type: integer}}\n    rules:\n      "
        + rules
        + "\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("shop.yaml", text)], FieldTypes())
    assert any(
        p.path == f"entities.thing.{path}" and message in p.message for p in caught.value.problems
    ), str(caught.value)


def test_a_plugin_action_has_its_settings_checked_like_a_built_in_one():
    def check(context, params):
        if isinstance(params, dict) and params.get("text"):
            return []
        return [f"stamp: say what to stamp on the {context.entity.name}"]

    actions = {**BUILTIN_ACTIONS, "stamp": RuleAction(lambda context, params: "", check)}
    text = (
        "app: shop\nentities:\n  thing:\n    fields: {a: {type: integer}}\n    rules:\n"
        "      - {on: created, do: [{stamp: {}}]}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("shop.yaml", text)], FieldTypes(), actions)
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("entities.thing.rules.0.do.0", "stamp: say what to stamp on the thing")
    ]
    fixed = text.replace("{stamp: {}}", "{stamp: {text: hi}}")
    assert "shop" in load_apps([Source("shop.yaml", fixed)], FieldTypes(), actions).apps


def test_a_plugin_action_runs_in_the_transaction(runtime):
    calls = []

    def stamp(context, params):
        calls.append((context.record_id, params["text"]))
        context.enqueue("stamp", {"record": context.record_id})
        return "stamped"

    text = DESK.replace(
        "      - name: welcome\n",
        "      - name: stamp\n        on: created\n"
        "        do:\n          - stamp: {text: hello}\n      - name: welcome\n",
    )
    sources = bundled_sources() + [Source("desk.yaml", text)]
    with pytest.raises(DefinitionError, match="'stamp' is not an action"):
        install(runtime.db, sources)
    install(runtime.db, sources, extra_actions=frozenset({"stamp"}))
    runtime.close()
    rt = Runtime.open(runtime.settings, actions={**bundled_plugins().actions, "stamp": stamp})
    ticket = rt.records.create(SYSTEM_USER, "desk.ticket", {"subject": "x"})
    assert calls == [(ticket["id"], "hello")]
    assert [m["kind"] for m in queued(rt)] == ["stamp"]
    assert outbox.deliver_due(rt.db, {"stamp": lambda payload: None}) == 1
    rt.close()


def test_a_runaway_script_in_a_rule_is_stopped_and_the_server_keeps_answering(sqlite_runtime):
    text = DESK.replace(
        "      - name: welcome\n",
        "      - name: spin\n        on: created\n"
        '        do:\n          - script: "while True:\\n    pass"\n'
        "      - name: welcome\n",
    )
    rt = reopen(sqlite_runtime, bundled_sources() + [Source("desk.yaml", text)])
    rt.users.create("ann", ["agent"], "password1234")
    client = create_app(runtime=rt).test_client()
    auth = {"Authorization": "Bearer " + rt.users.create_token("ann")}
    started = time.monotonic()
    refused = client.post("/api/v1/desk/ticket", json={"subject": "x"}, headers=auth)
    assert refused.status_code == 422
    assert "Rule 'Spin' failed at action 1 (script): stopped" in refused.json["error"]["message"]
    assert time.monotonic() - started < 5
    assert client.get("/api/v1/desk/ticket", headers=auth).json["total"] == 0
    rt.close()


ONCE = app_text("lab")


def test_rules_that_settle_are_not_loops_and_callers_see_their_changes(desk):
    rt = reopen(desk, bundled_sources() + [Source("lab.yaml", ONCE)])
    admin = rt.users.create("admin", ["admin"], "password1234")
    rt.types.functions["shout"] = str.upper  # a plugin function must not reach scripts
    quiet = rt.records.create(admin, "lab.ticket", {"tags": ["vip", "late"]})
    assert quiet["summary"] is None  # an empty priority makes the condition false, not an error
    ticket = rt.records.create(admin, "lab.ticket", {"priority": 1, "tags": ["vip", "late"]})
    assert (ticket["summary"], ticket["version"]) == ("p1", 2)  # what the rules made of it
    assert (
        rt.notifications.latest(admin, "en")[0]["message"] == f"Tags Vip, Late for #{ticket['id']}"
    )
    updated = rt.records.update(admin, "lab.ticket", ticket["id"], {"priority": 5}, version=2)
    assert (updated["escalated"], updated["version"]) == (True, 4)
    rt.close()


SCHEDULED = app_text("chores")


def test_scheduled_rules_run_when_due_on_the_records_their_filter_finds(desk):
    rt = reopen(desk, bundled_sources() + [Source("chores.yaml", SCHEDULED)])
    open_chore = rt.records.create(SYSTEM_USER, "chores.chore", {"name": "bins"})
    finished = rt.records.create(SYSTEM_USER, "chores.chore", {"name": "dishes", "done": True})
    start = datetime(2026, 11, 27, 8, 30, tzinfo=timezone.utc)
    assert rt.automation.run_schedules(start) == 0  # the clock starts
    assert rt.automation.run_schedules(start + timedelta(minutes=20)) == 0  # not yet 09:00
    assert rt.automation.run_schedules(start + timedelta(minutes=31)) == 1
    assert rt.automation.run_schedules(start + timedelta(minutes=32)) == 0  # claimed
    rt.automation.run_schedules(start + timedelta(hours=2))
    rt.automation.run_schedules(start + timedelta(hours=3))
    nagged = rt.records.get(SYSTEM_USER, "chores.chore", open_chore["id"])["nagged"]
    assert nagged == 2  # the condition stops the third nag
    assert rt.records.get(SYSTEM_USER, "chores.chore", finished["id"])["nagged"] == 0
    assert [r["trigger"] for r in runs(rt, "nag")] == ["schedule"] * 3
    rt.close()


def test_a_bad_cron_expression_is_refused():
    text = SCHEDULED.replace('"0 * * * *"', '"every morning"')
    with pytest.raises(DefinitionError, match="'every morning' is not a cron expression"):
        load_apps([Source("chores.yaml", text)], FieldTypes())


def test_an_inbound_webhook_runs_its_rules_with_the_payload(desk):
    paid = textwrap.dedent("""\
          - name: paid
            on: {webhook: payment}
            if: "payload['amount'] > 0"
            do:
              - set: {note: "'paid ' + str(payload['amount'])"}
          - name: welcome
    """)
    text = DESK.replace("      - name: welcome\n", textwrap.indent(paid, " " * 6))
    rt = reopen(desk, bundled_sources() + [Source("desk.yaml", text)])
    agent = rt.users.get("ann")
    ticket = rt.records.create(agent, "desk.ticket", {"subject": "x"})
    client = create_app(runtime=rt).test_client()
    auth = {"Authorization": "Bearer " + rt.users.create_token("ann")}
    url = f"/api/v1/desk/ticket/{ticket['id']}/webhooks/payment"
    done = client.post(url, json={"amount": 12.5}, headers=auth)
    assert done.status_code == 200 and done.json["note"] == "paid 12.5"
    assert client.post(url.replace("payment", "refund"), json={}, headers=auth).status_code == 404
    assert [r["trigger"] for r in runs(rt, "paid")] == ["webhook"]
    rt.close()


def test_deleted_trigger_and_update_action(desk):
    ticket = desk.records.create(desk.agent, "desk.ticket", {"subject": "Screen"})
    desk.transitions.take(desk.agent, "desk.ticket", ticket["id"], "answer")
    other = desk.records.create(desk.agent, "desk.ticket", {"subject": "Mouse"})
    desk.records.create(desk.agent, "desk.task", {"title": "unrelated", "ticket": other["id"]})
    desk.records.update(desk.agent, "desk.ticket", ticket["id"], {"subject": "Monitor"}, version=2)
    titles = sorted(t["title"] for t in desk.records.list(desk.agent, "desk.task").data)
    assert titles == ["Follow up: Monitor", "unrelated"]
    assert runs(desk, "retitle_tasks")[-1]["actions"] == ["updated 1 Task"]
    lonely = desk.records.create(desk.agent, "desk.ticket", {"subject": "Cable"})
    desk.records.delete(desk.lead, "desk.ticket", lonely["id"])
    assert desk.notifications.latest(desk.lead, "en")[0]["message"] == "Ticket Cable was deleted"
    assert runs(desk, "gone")[0]["trigger"] == "deleted"


def test_an_email_goes_to_exactly_the_addresses_the_rule_names(desk):
    """A value with a comma, semicolon or line break would add recipients of its own
    choosing: it is not sent to; a rule may name a list of addresses."""
    rt = reopen(
        desk,
        bundled_sources()
        + [Source("desk.yaml", DESK.replace('to: "{email}"', 'to: ["{email}", "{note}"]'))],
    )
    for email, note in [
        ("li,spy@evil.example", "desk@example.com"),
        ("li@example.cn", "a@example.com; spy@evil.example"),
        ("li@example.cn", "a@example.com\nBcc: spy@evil.example"),
    ]:
        rt.records.create(
            SYSTEM_USER, "desk.ticket", {"subject": "x", "email": email, "note": note}
        )
    assert [m["payload"]["to"] for m in queued(rt)] == [
        ["desk@example.com"],
        ["li@example.cn"],
        ["li@example.cn"],
    ]
    assert runs(rt, "welcome")[0]["actions"] == [
        "not one email address, left out: 'li,spy@evil.example'; queued an email to "
        "desk@example.com"
    ]
    rt.close()


def test_a_webhook_without_body_sends_the_record_with_iso_dates_to_a_templated_url(desk):
    """It crashed the transition with a 500: the record's dates could not be queued."""
    import json as json_module
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from apploom.engine.automation.webhooks import webhook_sender

    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["X-Desk"], json_module.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rule = textwrap.indent(
        textwrap.dedent(
            f"""\
            - name: tell_on_answer
              on: {{transition: answer}}
              do:
                - webhook:
                    url: "http://127.0.0.1:{server.server_port}/tickets/{{subject}}"
                    method: PUT
                    headers: {{X-Desk: "ticket {{id}}"}}
            """
        ),
        "      ",
    )
    text = DESK.replace("    rules:\n", "    rules:\n" + rule, 1)
    rt = reopen(desk, bundled_sources() + [Source("desk.yaml", text)])
    try:
        agent = rt.users.create("amy", ["agent"], "password1234")
        ticket = rt.records.create(agent, "desk.ticket", {"subject": "Lost parcel"})
        rt.transitions.take(agent, "desk.ticket", ticket["id"], "answer")
        senders = {"webhook": webhook_sender(None, lambda channel, name: None)}
        outbox.deliver_due(rt.db, senders)
    finally:
        server.shutdown()
        server.server_close()
        rt.close()
    [(path, header, body)] = received
    assert path == "/tickets/Lost%20parcel" and header == f"ticket {ticket['id']}"
    assert body["id"] == ticket["id"] and body["status"] == "answered"
    assert datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")).year >= 2026
