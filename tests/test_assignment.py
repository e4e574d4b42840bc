"""Who handles it: owners given by assignment rules (a user, a role's turns, by a field of
the record or of a record it refers to), reassigned by managers, shown in lists as
"mine", and told when a record becomes theirs."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from apploom.demo import DEMO_USERS, load_demo
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import BadQuery, DefinitionError, RuleError, ValidationFailed
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.query.filters import Query, parse_params
from apploom.engine.storage.system_tables import sys_notification, sys_rule_run
from apploom.web import create_app
from tests.helpers import Api, Shop, app_text, browser, reopen
from tests.test_definitions import SHIPPED_SCHEMA

CLAIMS = app_text("claims")
PASSWORD = "password1234"


@pytest.fixture
def claims(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("claims.yaml", CLAIMS)])
    yield rt
    rt.close()


def team(rt, **people: str) -> dict:
    """Users by name, each with the one role given."""
    return {
        name: rt.users.create(name, [role], PASSWORD, display_name=name.title())
        for name, role in people.items()
    }


def claim(rt, user=SYSTEM_USER, **values) -> dict:
    return rt.records.create(user, "claims.claim", {"subject": "broken", **values})


def owner_names(rt, records) -> list[str]:
    names = rt.users.names({r["owner"] for r in records if r["owner"]})
    return [names.get(r["owner"], "-") for r in records]


def assign_runs(rt) -> list[list[str]]:
    query = select(sys_rule_run.c.actions).where(sys_rule_run.c.rule == "assign_owner")
    with rt.db.read() as conn:
        return [actions for (actions,) in conn.execute(query.order_by(sys_rule_run.c.id))]


def told(rt, user) -> list[str]:
    return [n["message"] for n in rt.notifications.latest(user, "en")]


# ---- the rule's kinds -------------------------------------------------------------------


def test_by_channel_by_the_customers_city_and_by_turns(claims):
    team(claims, alice="sales", bob="sales", sam="service", sid="service")
    hangzhou = claims.records.create(SYSTEM_USER, "crm.customer", {"name": "楼", "city": "杭州"})
    shanghai = claims.records.create(SYSTEM_USER, "crm.customer", {"name": "沈", "city": "上海"})
    made = [
        claim(claims, channel="marketplace"),
        claim(claims, customer=hangzhou["id"]),
        claim(claims, customer=hangzhou["id"]),
        claim(claims, customer=hangzhou["id"]),
        claim(claims, customer=shanghai["id"]),
        claim(claims),
        claim(claims),
    ]
    assert owner_names(claims, made) == ["Alice", "Sam", "Sid", "Sam", "Alice", "Bob", "Alice"]
    assert assign_runs(claims)[:2] == [["assigned Owner to alice"], ["assigned Owner to sam"]]
    given = claim(claims, owner=team(claims, max="manager")["max"].id)
    assert owner_names(claims, [given]) == ["Max"]  # "not owner": one given is kept


def test_turns_are_fair_over_many_records(claims):
    team(claims, ann="sales", bea="sales", cy="sales")
    made = [claim(claims) for _ in range(30)]
    assert Counter(owner_names(claims, made)) == {"Ann": 10, "Bea": 10, "Cy": 10}
    assert owner_names(claims, made)[:6] == ["Ann", "Bea", "Cy"] * 2


def test_disabled_users_are_passed_over(claims):
    team(claims, alice="sales", bob="sales", cy="sales")
    claims.users.disable("alice")
    first, second, third = (claim(claims, channel="marketplace") for _ in range(3))
    assert owner_names(claims, [first, second, third]) == ["Bob", "Cy", "Bob"]
    assert assign_runs(claims)[0] == ["alice is disabled; assigned Owner to bob"]
    for name in ("bob", "cy"):
        claims.users.disable(name)
    nobody = claim(claims)
    assert nobody["owner"] is None and nobody["version"] == 1
    assert assign_runs(claims)[-1] == [
        "no other active user holds the role sales; nobody to assign Owner to: left as it was"
    ]


def test_whoever_sets_the_rule_off_is_not_handed_it_by_turn(claims):
    people = team(claims, ann="sales", bea="sales")
    made = [claim(claims, people["ann"]) for _ in range(3)]
    assert owner_names(claims, made) == ["Bea"] * 3


@pytest.mark.parametrize(
    "old, new, refusal",
    [
        ("to: alice}", "to: nobody}", "there is no user 'nobody' to assign to"),
        ("to: alice}", "to: carla}", "carla may not read Claim records"),
        ("role: sales}", "role: clerk}", "the role clerk may not read Claim records"),
    ],
)
def test_a_user_or_role_the_rule_cannot_use_is_refused_by_name(runtime, old, new, refusal):
    rt = reopen(runtime, bundled_sources() + [Source("claims.yaml", CLAIMS.replace(old, new))])
    team(rt, carla="clerk", bob="sales")
    with pytest.raises(RuleError, match=refusal) as caught:
        claim(rt, channel="marketplace" if "to:" in old else "web")
    assert str(caught.value).startswith("Rule 'Assign owner' failed at action 1 (assign)")
    assert rt.records.list(SYSTEM_USER, "claims.claim").total == 0
    rt.close()


# ---- the bundled apps -------------------------------------------------------------------


def test_orders_and_returns_get_owners_by_the_shipped_rules(runtime):
    people = team(runtime, sue="sales", sam="sales", shopbot="sales", sid="service", ivy="service")
    shop = Shop(runtime)
    phoned = runtime.records.create(people["sue"], "oms.order", shop.order(channel="phone"))
    webbed = [
        runtime.records.create(people["shopbot"], "oms.order", shop.order()) for _ in range(4)
    ]
    assert owner_names(runtime, [phoned]) == ["Sue"]  # keyed in by her: hers
    assert owner_names(runtime, webbed) == ["Sue", "Sam"] * 2  # the shop's bot takes no turn
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    for step in ("confirm", "pick"):
        runtime.transitions.take(SYSTEM_USER, "oms.order", order["id"], step)
    runtime.transitions.take(SYSTEM_USER, "oms.order", order["id"], "ship", {"carrier": "sf"})

    def send_back(user, item: int) -> dict:
        back = {
            "order": order["id"],
            "reason": "damaged",
            "warehouse": shop.warehouse["id"],
            "lines": [{"item": item, "qty": 1}],
        }
        return runtime.records.create(user, "oms.return", back)

    cup, pot = (line["item"] for line in order["lines"])  # two cups and a pot were shipped
    returns = [send_back(people["sue"], cup), send_back(people["ivy"], cup)]
    returns.append(send_back(people["sue"], pot))
    assert owner_names(runtime, returns) == ["Sid", "Ivy", "Ivy"]


def test_the_demo_gives_its_orders_owners_through_the_rule(sqlite_runtime):
    load_demo(sqlite_runtime, orders=30, days=20)
    orders = sqlite_runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=500)).data
    sales = {n for n, roles in DEMO_USERS.items() if "sales" in roles}
    names = {sqlite_runtime.users.get(n).id: n for n in sales}
    counts = Counter(names.get(o["owner"]) for o in orders)
    assert set(counts) == sales and max(counts.values()) - min(counts.values()) <= 1
    assert len(orders) == 30 and all(o["version"] > 1 for o in orders)  # set by the rule
    with sqlite_runtime.db.read() as conn:
        unread = conn.execute(
            select(sys_notification.c.created_at).where(sys_notification.c.read_at.is_(None))
        ).all()
    assert len(unread) < len(orders)  # the past's notifications were read


# ---- at the same time -------------------------------------------------------------------


def test_records_created_at_once_take_different_turns(claims):
    """Workers creating claims together: each pair started at the same moment gets two
    owners, and over every round the turns stay even. A claim has no number, whose
    series would queue its creates anyway: only the rotation's lock keeps them apart."""
    team(claims, ann="sales", bea="sales", cy="sales", dee="sales")
    workers, rounds = 4, 6
    start = threading.Barrier(workers)

    def make(_: int) -> list[dict]:
        made = []
        for _ in range(rounds):
            start.wait()
            made.append(claim(claims))
        return made

    with ThreadPoolExecutor(max_workers=workers) as pool:
        batches = list(pool.map(make, range(workers)))
    for together in zip(*batches, strict=True):
        assert len({c["owner"] for c in together}) == workers, owner_names(claims, together)
    counts = Counter(c["owner"] for batch in batches for c in batch)
    assert sorted(counts.values()) == [rounds] * workers


# ---- reassigning, "mine", notifications ------------------------------------------------


@pytest.fixture
def office(sqlite_runtime):
    rt = sqlite_runtime
    rt.people = team(rt, sue="sales", ann="sales", max="manager")
    rt.shop = Shop(rt)
    rt.app = create_app(runtime=rt)
    return rt


def test_a_manager_reassigns_on_the_form_and_the_timeline_names_both(office):
    order = office.records.create(SYSTEM_USER, "oms.order", office.shop.order())
    sue, ann = office.people["sue"], office.people["ann"]
    assert order["owner"] == sue.id
    with pytest.raises(ValidationFailed) as refused:
        office.records.update(sue, "oms.order", order["id"], {"owner": ann.id}, version=2)
    assert refused.value.fields == {"owner": "only manager may change it"}
    as_sue = browser(office.app, "sue")
    form = as_sue.get(f"/a/oms/order/{order['id']}/edit").get_data(as_text=True)
    assert 'name="owner"' not in form and ">Sue</output>" in form  # shown, not offered
    as_max = browser(office.app, "max")
    form = as_max.get(f"/a/oms/order/{order['id']}/edit").get_data(as_text=True)
    assert f'<option value="{ann.id}" >Ann</option>' in form
    assert f'<option value="{sue.id}" selected>Sue</option>' in form
    form = {
        "customer": str(office.shop.customer["id"]),
        "channel": "web",
        "ordered_at": "2026-11-20T10:00",
        "payment_status": "unpaid",
        "owner": str(ann.id),
        "version": "2",
    }
    for i, line in enumerate(order["lines"]):
        form.update({f"lines-{i}-{k}": str(line[k]) for k in ("id", "item", "qty", "price")})
    posted = as_max.post(f"/a/oms/order/{order['id']}/edit", form)
    assert posted.status_code == 303
    assert office.records.get(SYSTEM_USER, "oms.order", order["id"])["owner"] == ann.id
    page = as_sue.get(f"/a/oms/order/{order['id']}").get_data(as_text=True)
    assert "Owner:\n          <del>Sue</del> → <ins>Ann</ins>" in page
    assert "#" + str(sue.id) not in page.split('id="timeline"')[1]


def test_mine_in_the_list_the_api_and_its_chip(office):
    sue = office.people["sue"]
    orders = [office.records.create(SYSTEM_USER, "oms.order", office.shop.order()) for _ in "abc"]
    sues = sorted(o["id"] for o in orders if o["owner"] == sue.id)
    assert len(sues) == 2
    mine = office.records.list(sue, "oms.order", parse_params({"owner": "me"})).data
    assert sorted(o["id"] for o in mine) == sues
    listed = office.records.list(sue, "oms.order", parse_params({"owner__in": "me"})).data
    assert sorted(o["id"] for o in listed) == sues
    with pytest.raises(BadQuery, match="'me' is the signed-in user, and there is none"):
        office.records.list(SYSTEM_USER, "oms.order", parse_params({"owner": "me"}))
    api = Api(office.app.test_client(), office.users.create_token("sue"))
    answer = api.get("/api/v1/oms/order?owner=me")
    assert answer.status_code == 200 and sorted(o["id"] for o in answer.json["data"]) == sues
    document = api.get("/api/v1/openapi.json").json
    params = document["paths"]["/oms/order"]["get"]["parameters"]
    owner = next(p["schema"] for p in params if p["name"] == "owner")
    assert Draft202012Validator(owner).is_valid("me") and Draft202012Validator(owner).is_valid(3)
    described = document["components"]["schemas"]["oms_order"]["properties"]["owner"]
    assert described["description"] == "Only manager (and admins) may set or change it."
    as_sue = browser(office.app, "sue")
    page = as_sue.get("/a/oms/order").get_data(as_text=True)
    assert '<a class="chip" href="/a/oms/order?owner=me" aria-pressed="false">Mine</a>' in page
    filtered = as_sue.get("/a/oms/order?owner=me").get_data(as_text=True)
    assert 'href="/a/oms/order" aria-pressed="true">Mine</a>' in filtered
    assert '<option value="me" selected>Me</option>' in filtered
    numbers = [o["number"] for o in orders]
    shown = [n for n in numbers if n in filtered.split("</form>", 1)[1]]
    assert shown == [o["number"] for o in orders if o["id"] in sues]


def test_the_owner_is_told_when_an_order_becomes_theirs(office):
    sue, ann, boss = office.people["sue"], office.people["ann"], office.people["max"]
    order = office.records.create(SYSTEM_USER, "oms.order", office.shop.order())
    number = order["number"]
    assert told(office, sue) == [f"Order {number} for 张三 is yours"]
    [note] = office.notifications.latest(sue, "zh")  # the bell in the reader's language
    assert note["message"] == f"订单 {number}（张三）由您负责"
    assert note["link"] == f"/a/oms/order/{order['id']}"
    office.records.update(boss, "oms.order", order["id"], {"owner": ann.id}, version=2)
    assert len(told(office, ann)) == 1 and len(told(office, sue)) == 1
    office.records.update(boss, "oms.order", order["id"], {"owner": boss.id}, version=3)
    assert told(office, boss) == []  # who takes it themselves needs no telling
    office.users.disable("ann")
    office.records.update(boss, "oms.order", order["id"], {"owner": ann.id}, version=4)
    assert len(told(office, ann)) == 1


def test_a_rule_notifies_the_user_a_field_holds(claims):
    people = team(claims, ann="sales", bea="sales")
    made = claim(claims)
    claims.records.update(SYSTEM_USER, "claims.claim", made["id"], {"note": "call"}, version=2)
    assert told(claims, people["ann"]) == ["Note on broken: call", "Claim broken is yours"]
    assert told(claims, people["bea"]) == []


# ---- definitions ------------------------------------------------------------------------

SHOP = """\
app: shop
roles: [sales]
entities:
  client:
    fields: {city: {type: text}, rep: {type: user}}
  thing:
    fields:
      client: {type: ref, to: client}
      channel: {type: text}
      owner: {type: user}
      note: {type: text}
    rules:
      - name: who
        on: created
        do:
          - ACTION
"""
ASSIGN_PROBLEMS = [  # (action, where the problem is found below the action, message)
    ("{assign: {field: note, rules: [{role: sales}]}}", "", "'field' must name a user field"),
    ("{assign: {field: owner, rules: []}}", ".assign.rules", "must not be empty"),
    ("{assign: {field: owner, rules: [{role: buyers}]}}", "", "'buyers' is not a role"),
    ("{assign: {field: owner, rules: [{to: 'Al Bo'}]}}", ".assign.rules.0.to", "a username"),
    ("{assign: {field: owner, rules: [{to: al, role: sales}]}}", "", "give either 'to'"),
    ("{assign: {field: owner, rules: [{if: 'size > 2', role: sales}]}}", "", "uses 'size'"),
    (
        "{assign: {field: owner, rules: [{if: \"client.town == 'x'\", role: sales}]}}",
        "",
        "reads 'client.town', but shop.client has no field 'town'",
    ),
    (
        "{assign: {field: owner, rules: [{if: \"client.city == 'x' or client == 2\", to: al}]}}",
        "",
        "reads client as a record (client.<field>) and as an id",
    ),
    ("{notify: {to: '{note}', message: hi}}", "", "'{note}' must name a user field"),
    ("{notify: {to: '{client.city}', message: hi}}", "", "'{client.city}' must name a user"),
    ("{notify: {to: 'owner', message: hi}}", ".notify.to", "must name a user field"),
    ("{notify: {roles: [buyers], message: hi}}", "", "'buyers' is not a role"),
]


@pytest.mark.parametrize("action, below, message", ASSIGN_PROBLEMS)
def test_assign_and_notify_settings_are_checked(action, below, message):
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("shop.yaml", SHOP.replace("ACTION", action))], FieldTypes())
    [problem] = caught.value.problems
    assert problem.path == "entities.thing.rules.0.do.0" + below
    assert message in problem.message


def test_good_settings_load_and_the_shipped_schema_describes_them():
    good = [
        "{assign: {field: owner, rules: [{if: \"client.city == '杭州'\", to: me}, {role: sales}]}}",
        "{notify: {to: ['{owner}', '{client.rep}'], message: 'Yours: {note}'}}",
    ]
    validator = Draft202012Validator(json.loads(SHIPPED_SCHEMA.read_text()))
    for action in good:
        text = SHOP.replace("ACTION", action)
        assert "shop" in load_apps([Source("shop.yaml", text)], FieldTypes()).apps
    assign = validator.schema["$defs"]["assign"]
    assert validator.evolve(schema=assign).is_valid({"field": "owner", "rules": [{"role": "s"}]})
    assert not validator.evolve(schema=assign).is_valid(
        {"field": "owner", "rules": [{"role": "s", "who": "x"}]}
    )
    notify = validator.schema["$defs"]["notify"]
    assert not validator.evolve(schema=notify).is_valid({"to": "owner", "message": "hi"})


@pytest.mark.parametrize(
    "field, setting, message",
    [
        ("{type: user, editable_by: [buyers]}", "editable_by", "'buyers' is not a role"),
        ("{type: user, notify: 'Yours: {nope}'}", "notify", "'{nope}' is not a field of thing"),
        ("{type: text, notify: 'x'}", "notify", "'notify' does not apply to a text field"),
    ],
)
def test_who_may_set_a_field_and_whom_it_tells_are_checked(field, setting, message):
    text = SHOP.replace("owner: {type: user}", f"owner: {field}").replace(
        "          - ACTION\n", "          - {set: {note: \"'x'\"}}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("shop.yaml", text)], FieldTypes())
    [problem] = caught.value.problems
    assert problem.path == f"entities.thing.fields.owner.{setting}"
    assert message in problem.message
