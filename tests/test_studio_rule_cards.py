"""The studio's rules as cards and each rule's editor: what the editor posts becomes the
rule's ``on:``, ``if:`` and ``do:`` in the previewed definition, and once applied the rule
runs (an order over 1,000 shipped tells the managers); the condition's rows are redrawn
as the admin builds them, and what the rows cannot say stays text."""

from __future__ import annotations

import html
import re

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.versions import applied, text_edits
from apploom.web import create_app
from tests.helpers import Shop, browser

BIG_ORDER_SHIPPED = {
    "rule_label_zh": "大额订单发货提醒",
    "rule_label_en": "Big order shipped",
    "rule_enabled": "1",
    "rule_on": "transition:ship",
    "if_mode": "rows",
    "c0_field": "total",
    "c0_op": "gt",
    "c0_value": "1000",
    "a0:kind": "notify",
    "a0.roles": "manager",
    "a0.message_zh": "大额订单 {number} 已发货",
    "a0.message_en": "Big order {number} has shipped",
}


@pytest.fixture
def studio(runtime):
    runtime.users.create("boss", ["admin"], "password1234")
    app = create_app(runtime=runtime)
    boss = browser(app, "boss")
    boss.get("/lang/zh?next=/")
    return app, boss


def definition_in(page: str) -> str:
    found = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', page, re.S)
    assert found, "the page has no definition to apply"
    return html.unescape(found.group(1))


def test_a_rule_built_in_the_editor_is_previewed_applied_and_runs(runtime, studio):
    app, boss = studio
    editor = boss.get("/studio/oms/order/rules/new").get_data(as_text=True)
    assert '<option value="transition:ship" >“发货”时</option>' in editor
    assert 'name="a0:kind"' not in editor  # a new rule starts with no action
    preview = boss.post("/studio/oms/order/rules/new", data=BIG_ORDER_SHIPPED)
    shown = html.unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200, shown
    assert "<li>新规则：大额订单发货提醒</li>" in shown
    block = (
        "+      - name: big_order_shipped\n"
        "+        label: {en: Big order shipped, zh: 大额订单发货提醒}\n"
        "+        on: {transition: ship}\n"
        "+        if: total > 1000\n"
        "+        do:\n"
        "+          - notify:\n"
        "+              roles: [manager]\n"
        '+              message: {zh: "大额订单 {number} 已发货", '
        'en: "Big order {number} has shipped"}\n'
    )
    assert block in shown
    text = definition_in(preview.get_data(as_text=True))
    added = text_edits.rules_of(text, "order")[-1]
    assert added["on"] == {"transition": "ship"} and added["if"] == "total > 1000"
    assert added["do"] == [
        {
            "notify": {
                "roles": ["manager"],
                "message": {
                    "zh": "大额订单 {number} 已发货",
                    "en": "Big order {number} has shipped",
                },
            }
        }
    ]
    done = boss.post("/studio/oms/apply", data={"text": text, "comment": "大额订单提醒"})
    assert done.status_code == 303
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "oms")) == 2
    cards = boss.get("/studio/oms/order/rules").get_data(as_text=True)
    card = cards[cards.index('data-rule="big_order_shipped"') :]
    card = html.unescape(re.sub(r"<[^>]+>", "", card[: card.index("</article>")]))
    assert "大额订单发货提醒" in card and "“发货”时" in card
    assert "应付金额 > 1000" in card and "经理" in card and "大额订单 {number} 已发货" in card

    rt = app.extensions["apploom"]
    manager = rt.users.create("max", ["manager"], "password1234")
    shop = Shop(rt)
    big = rt.records.create(
        SYSTEM_USER,
        "oms.order",
        shop.order(
            lines=[
                {"item": shop.pot["id"], "qty": 4, "price": "268.00"},
            ]
        ),
    )
    small = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    for order in (big, small):
        for step in ("confirm", "pick"):
            rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], step)
        rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "ship", {"carrier": "sf"})
    told = [n["message"] for n in rt.notifications.latest(manager, "zh")]
    assert told == [f"大额订单 {big['number']} 已发货"]
    told = [n["message"] for n in rt.notifications.latest(manager, "en")]
    assert told == [f"Big order {big['number']} has shipped"]


def test_an_existing_rule_opens_as_its_parts_and_keeps_what_it_said(studio):
    _, boss = studio
    rules = [r["name"] for r in text_edits.rules_of(live(studio), "order")]
    guard = boss.get(f"/studio/oms/order/rules/{rules.index('guard_prices')}")
    page = html.unescape(guard.get_data(as_text=True))
    assert '<option value="transition:confirm" selected>“确认订单”时</option>' in page
    assert '<option value="channel" selected>渠道</option>' in page
    assert '<option value="one_of" selected>属于</option>' in page
    for ticked in ("store", "phone", "email"):
        assert f'name="c0_value" value="{ticked}" checked' in page
    assert 'name="c0_value" value="web" >' in page
    assert 'name="a0:kind" value="check_prices"' in page
    # the same rows, posted back: the condition keeps its text as it was written
    same = {
        "rule_on": "transition:confirm",
        "rule_label_zh": "价格保护",
        "rule_label_en": "Guard prices",
        "rule_enabled": "1",
        "if_mode": "rows",
        "c0_field": "channel",
        "c0_op": "one_of",
        "c0_value": ["store", "phone", "email"],
        "a0:kind": "check_prices",
        "a0.below_list": "20",
        "a0.approvers": "manager",
    }
    index = rules.index("guard_prices")
    kept = boss.post(f"/studio/oms/order/rules/{index}", data=same)
    assert "--- oms (live)" not in kept.get_data(as_text=True)  # nothing changed
    fewer = boss.post(f"/studio/oms/order/rules/{index}", data={**same, "c0_value": ["store"]})
    shown = html.unescape(fewer.get_data(as_text=True))
    assert "+        if: channel in ['store']\n" in shown
    assert "\n       - name: guard_prices           # prices staff type: below cost" in shown
    assert "\n           - check_prices: {below_list: 20, approvers: [manager]}\n" in shown
    assert "<li>规则“价格保护”已修改</li>" in shown

    later = boss.get(f"/studio/oms/order/rules/{rules.index('tell_customer_later_date')}")
    page = html.unescape(later.get_data(as_text=True))
    assert 'name="if_mode" value="text"' in page  # old.expected_date: not a row
    assert "status == 'backordered' and old.expected_date" in page
    assert 'name="rule_on_fields" value="expected_date" checked' in page


def test_an_assignments_rules_are_rows_of_condition_and_whom(runtime, studio):
    _, boss = studio
    runtime.users.create("li.na", ["sales"], "password1234", display_name="李娜")
    index = [r["name"] for r in text_edits.rules_of(live(studio), "order")].index("assign_owner")
    page = html.unescape(boss.get(f"/studio/oms/order/rules/{index}").get_data(as_text=True))
    assert "name=\"a0.if0\" value=\"channel in ['store', 'phone', 'email'] and" in page
    assert '<option value="me" selected>' in page and '<option value="role:sales" selected>' in page
    assert '<option value="user:li.na" >李娜</option>' in page
    same = {
        "rule_on": "created",
        "rule_label_zh": "分配负责人",
        "rule_label_en": "Assign an owner",
        "rule_enabled": "1",
        "if_mode": "text",
        "rule_if": "not owner",
        "a0:kind": "assign",
        "a0.field": "owner",
        "a0.if0": "channel in ['store', 'phone', 'email'] and 'sales' in user.roles",
        "a0.to0": "me",
        "a0.if1": "",
        "a0.to1": "role:sales",
        "a0.if2": "",
        "a0.to2": "",
    }
    kept = boss.post(f"/studio/oms/order/rules/{index}", data=same)
    assert "--- oms (live)" not in kept.get_data(as_text=True)  # the rows say what it said
    routed = {**same, "a0.if1": "channel == 'marketplace'", "a0.to1": "user:li.na"}
    routed |= {"a0.to2": "role:sales"}
    shown = html.unescape(
        boss.post(f"/studio/oms/order/rules/{index}", data=routed).get_data(as_text=True)
    )
    assert "+                - {if: channel == 'marketplace', to: li.na}\n" in shown
    assert "\n                 - {role: sales}\n" in shown  # after it, as it was
    text = definition_in(
        boss.post(f"/studio/oms/order/rules/{index}", data=routed).get_data(as_text=True)
    )
    assert (
        boss.post("/studio/oms/apply", data={"text": text, "comment": "天猫订单给李娜"}).status_code
        == 303
    )
    boss.get("/studio/oms")
    shop = Shop(runtime)
    order = runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(channel="marketplace", external_id="TB-1001")
    )
    assert runtime.users.names({order["owner"]}) == {order["owner"]: "李娜"}
    unfinished = {**same, "a0.if2": "total > 1000", "a0.to2": ""}
    refused = boss.post(f"/studio/oms/order/rules/{index}", data=unfinished)
    assert refused.status_code == 422
    assert "分配：请选择交给谁（条件：total > 1000）" in html.unescape(
        refused.get_data(as_text=True)
    )


def test_a_record_made_or_changed_by_a_rule_is_a_form_of_its_fields(runtime, studio):
    app, boss = studio
    with app.extensions["apploom"].db.read() as conn:
        crm = applied.source_of(conn, "crm").text
    index = [r["name"] for r in text_edits.rules_of(crm, "customer")].index("welcome_call")
    page = html.unescape(boss.get(f"/studio/crm/customer/rules/{index}").get_data(as_text=True))
    assert '<option value="crm.activity" selected>跟进记录 (crm.activity)</option>' in page
    assert '<option value="subject" selected>主题</option>' in page
    assert 'name="a0.v0" value="\'Welcome call 欢迎回访: \' + name"' in page
    assert '<option value="due" selected>截止日期</option>' in page
    same = {
        "rule_on": "created",
        "rule_label_zh": "欢迎回访",
        "rule_label_en": "Welcome call",
        "rule_enabled": "1",
        "if_mode": "rows",
        "a0:kind": "create",
        "a0.entity": "crm.activity",
        "a0.f0": "subject",
        "a0.v0": "'Welcome call 欢迎回访: ' + name",
        "a0.f1": "customer",
        "a0.v1": "id",
        "a0.f2": "due",
        "a0.v2": "today() + days(2)",
        "a0.f3": "",
        "a0.v3": "",
    }
    kept = boss.post(f"/studio/crm/customer/rules/{index}", data=same)
    assert "--- crm (live)" not in kept.get_data(as_text=True)  # the form says what it said
    drawn = boss.get(
        "/studio/oms/order/rules/action",
        query_string={"kind": "update", "at": "1", "a1.entity": "crm.customer"},
    ).get_data(as_text=True)
    assert 'name="a1:kind" value="update"' in drawn and 'name="a1.wf0"' in drawn
    assert '<option value="tier" >客户等级</option>' in drawn  # the customer's fields
    assert '<option value="number"' not in drawn.split('name="a1.f0"')[1].split("</select>")[0]
    big_spender = {
        "rule_label_zh": "大客户升级",
        "rule_label_en": "Big spender",
        "rule_enabled": "1",
        "rule_on": "transition:ship",
        "if_mode": "rows",
        "c0_field": "total",
        "c0_op": "gt",
        "c0_value": "1000",
        "a0:kind": "update",
        "a0.entity": "crm.customer",
        "a0.wf0": "id",
        "a0.wv0": "customer",
        "a0.f0": "tier",
        "a0.v0": "'vip'",
    }
    preview = boss.post("/studio/oms/order/rules/new", data=big_spender)
    shown = html.unescape(preview.get_data(as_text=True))
    assert (
        "+          - update: {entity: crm.customer, where: {id: customer}, values: {tier: "
        in shown
    )
    text = definition_in(preview.get_data(as_text=True))
    assert (
        boss.post("/studio/oms/apply", data={"text": text, "comment": "大客户"}).status_code == 303
    )
    boss.get("/studio/oms")
    rt = app.extensions["apploom"]
    shop = Shop(rt)
    order = rt.records.create(
        SYSTEM_USER,
        "oms.order",
        shop.order(lines=[{"item": shop.pot["id"], "qty": 5, "price": "268.00"}]),
    )
    for step in ("confirm", "pick"):
        rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], step)
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "ship", {"carrier": "sf"})
    assert rt.records.get(SYSTEM_USER, "crm.customer", shop.customer["id"])["tier"] == "vip"
    unfinished = {**big_spender, "a0.entity": "", "a0.wf0": ""}
    refused = boss.post("/studio/oms/order/rules/new", data=unfinished)
    said = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and "请选择记录所属的实体" in said


def live(studio) -> str:
    app, _ = studio
    with app.extensions["apploom"].db.read() as conn:
        return applied.source_of(conn, "oms").text


def test_the_condition_rows_are_redrawn_as_the_admin_builds_them(studio):
    _, boss = studio
    url = "/studio/oms/order/rules/condition"

    def redrawn(**args) -> str:
        answer = boss.get(url, query_string=args)
        assert answer.status_code == 200
        return html.unescape(answer.get_data(as_text=True))

    first = redrawn(if_mode="rows", change="add")
    assert first.count('class="condition-row"') == 1 and 'name="c0_field"' in first
    picked = redrawn(if_mode="rows", c0_field="channel", c0_op="gt", c0_value="5")
    assert '<option value="eq" selected>=</option>' in picked  # > does not fit a choice
    assert '<option value="web" >线上商城</option>' in picked  # its options to choose from
    assert 'type="number"' not in picked
    number = redrawn(if_mode="rows", c0_field="total", c0_op="gt", c0_value="1000")
    assert 'type="number" step="any" inputmode="decimal" name="c0_value" value="1000"' in number
    two = redrawn(if_mode="rows", c0_field="total", c0_op="gt", c0_value="1000", change="add")
    assert 'name="c1_join"' in two and two.count('class="condition-row"') == 2
    as_text = redrawn(
        if_mode="rows",
        c0_field="total",
        c0_op="gt",
        c0_value="1000",
        c1_field="owner",
        c1_op="empty",
        c1_join="or",
        change="to_text",
    )
    assert ">total > 1000 or not owner</textarea>" in as_text
    back = redrawn(if_mode="text", rule_if="total > 1000 or not owner", change="to_rows")
    assert '<option value="or" selected>' in back and 'name="c1_field"' in back
    removed = redrawn(
        if_mode="rows",
        c0_field="total",
        c0_op="gt",
        c0_value="1",
        c1_field="owner",
        c1_op="empty",
        change="remove:0",
    )
    assert removed.count('class="condition-row"') == 1
    assert '<option value="owner" selected>' in removed
    city = redrawn(if_mode="text", rule_if="customer.city == '杭州'", change="to_rows")
    assert '<optgroup label="客户"><option value="customer.number" >编号</option>' in city
    assert '<option value="customer.city" selected>城市</option>' in city
    assert 'name="c0_value" value="杭州"' in city
    stays = redrawn(if_mode="text", rule_if="len(lines) > 3", change="to_rows")
    assert ">len(lines) > 3</textarea>" in stays and "无法用条件行表示" in stays
    unfinished = redrawn(if_mode="rows", c0_field="total", c0_op="gt", change="to_text")
    assert 'name="if_mode" value="rows"' in unfinished and 'class="note"' in unfinished


def test_an_action_added_is_numbered_after_the_others_and_a_bad_post_says_why(runtime, studio):
    _, boss = studio
    added = boss.get(
        "/studio/oms/order/rules/action",
        query_string={"kind": "notify", "a0:kind": "set", "a3:kind": "email"},
    ).get_data(as_text=True)
    assert 'name="a4:kind" value="notify"' in added and 'name="a4.roles" value="manager"' in added
    assert 'name="a4.to" value="{owner}"' in added  # the order's user field
    assert boss.get("/studio/oms/order/rules/action?kind=nope").status_code == 404
    assert boss.get("/studio/oms/order_line/rules").status_code == 404
    nothing = boss.post(
        "/studio/oms/order/rules/new",
        data={**BIG_ORDER_SHIPPED, "a0:kind": "notify", "a0.message_zh": "", "a0.message_en": ""},
    )
    assert nothing.status_code == 422 and "通知：请填写消息" in nothing.get_data(as_text=True)
    bad = boss.post("/studio/oms/order/rules/new", data={**BIG_ORDER_SHIPPED, "c0_value": "lots"})
    again = html.unescape(bad.get_data(as_text=True))
    assert bad.status_code == 422 and "“lots”不是数字" in again
    # the editor again, as it was filled in: nothing picked or typed is lost
    assert '<option value="transition:ship" selected>' in again
    assert 'name="rule_label_zh" value="大额订单发货提醒"' in again
    assert '<option value="total" selected>应付金额</option>' in again
    assert '<option value="gt" selected>' in again and 'name="c0_value" value="lots"' in again
    assert 'name="a0.roles" value="manager" checked' in again
    assert 'name="a0.message_zh" value="大额订单 {number} 已发货"' in again
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "oms")) == 1


def test_a_row_may_name_a_field_of_the_record_a_ref_points_at(studio):
    _, boss = studio
    city = {**BIG_ORDER_SHIPPED, "c0_field": "customer.city", "c0_op": "eq", "c0_value": "杭州"}
    shown = html.unescape(
        boss.post("/studio/oms/order/rules/new", data=city).get_data(as_text=True)
    )
    assert "+        if: customer.city == '杭州'\n" in shown and "没有问题。" in shown
