"""The studio as a business admin uses it, in headless Chromium and in Chinese, never on
the YAML tab: a choice field with coloured options and a field shown and required only
for store orders, placed on the order form; a status between two, and a transition drawn
from it; the rule "when an order is shipped and its total is over 1,000, tell the
manager"; a bar-chart report on the dashboard. Each is previewed and applied. Then a
sales user sees and uses all of it, the API refuses a store order without the field, and
the manager is told of a big shipped order. Screenshots go to /tmp/journey-*.png."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.web import create_app
from tests.helpers import Api, Shop, serving
from tests.test_browser import CHROMIUM, checked_page, pick, playwright, settled
from tests.test_browser_form_designer import drag

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
expect = playwright.expect


@pytest.fixture
def shop(sqlite_runtime):
    for name, roles in {"boss": ["admin"], "sue": ["sales"], "max": ["manager"]}.items():
        sqlite_runtime.users.create(name, roles, "password1234", display_name=name.title())
    made = Shop(sqlite_runtime)
    with serving(sqlite_runtime) as url:
        yield sqlite_runtime, made, url


def signed_in(page, url: str, username: str) -> None:
    page.goto(url + "/lang/zh?next=/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("main h1")).to_have_text("应用")  # the launcher: signed in


def applied(page, comment: str) -> None:
    """Apply the previewed change with its comment, and see its version listed."""
    page.fill("input[name=comment]", comment)
    page.click("button:text('应用')")
    expect(page.locator(".versions")).to_contain_text(comment)


def add_field(page, kind: str, row: int, zh: str, en: str) -> object:
    """Drag a field type from the palette into a row of the order form's first section;
    the new field's panel, named."""
    designer = page.locator("[data-form-designer]")
    target = designer.locator(".layout-section").first.locator(".layout-row").nth(row)
    drag(page, page.locator(f".fd-type[data-type={kind}]"), target)
    expect(target.locator(".fd-field.fd-new")).to_have_count(1)
    panel = page.locator("#field-panel")
    panel.locator("input[name=label_zh]").fill(zh)
    panel.locator("input[name=label_en]").fill(en)
    return panel


def test_an_admin_shapes_the_orders_without_yaml_and_sales_uses_it(shop):
    runtime, made, url = shop
    with checked_page(viewport={"width": 1280, "height": 800}) as page:
        signed_in(page, url, "boss")
        page.goto(url + "/studio/oms")
        order_card = page.locator(".entity-card[data-entity=order]")

        # a choice with coloured options
        order_card.locator("a:text('表单')").click()
        panel = add_field(page, "select", 1, "礼品包装", "Gift wrap")
        for n, (zh, en, colour) in enumerate(
            (("普通", "Plain", "grey"), ("礼盒", "Gift box", "red"))
        ):
            if n:
                panel.locator("button:text('+ 选项')").click()
            option = panel.locator("[data-option-rows] tr").nth(n)
            option.locator("input[name=option_zh]").fill(zh)
            option.locator("input[name=option_en]").fill(en)
            option.locator("select[name=option_colour]").select_option(colour)
        panel.locator("button:text('预览')").click()
        expect(page.locator(".fd-rendered .badge.red")).to_have_text("礼盒")
        applied(page, "礼品包装")

        # a field shown and required for store orders only
        page.goto(url + "/studio/oms/order/form")
        panel = add_field(page, "text", 1, "门店编号", "Store code")
        panel.locator("input[name=visible_if]").fill("channel == 'store'")
        panel.locator("input[name=required_if]").fill("channel == 'store'")
        panel.locator("button:text('预览')").click()
        expect(page.locator("pre.diff")).to_contain_text("required_if: channel == 'store'")
        page.screenshot(path="/tmp/journey-1-form.png", full_page=True)
        applied(page, "门店编号")

        # a status between two, and a transition drawn from it
        page.goto(url + "/studio/oms")
        page.click("a:text('添加状态')")
        add = page.locator("#edit-panel")
        add.locator("input[name=label_zh]").fill("待核对")
        add.locator("input[name=label_en]").fill("To check")
        add.locator("select[name=after]").select_option("confirmed")
        add.locator("select[name=then]").select_option("picking")
        add.locator("label:has-text('销售') input").check()
        add.locator("button:text('预览修改')").click()
        expect(page.locator(".designer-said")).to_contain_text("新增状态")
        applied(page, "待核对")
        page.locator(".flow-diagram").scroll_into_view_if_needed()
        start = page.locator(".flow-state[data-state=to_check] rect").first.bounding_box()
        end = page.locator(".flow-state[data-state=cancelled] rect").first.bounding_box()
        page.mouse.move(start["x"] + 20, start["y"] + 20)
        page.mouse.down()
        page.mouse.move(end["x"] + 20, end["y"] + 20, steps=10)
        page.mouse.up()
        drawn = page.locator("#edit-panel")
        expect(drawn.locator("select[name=to]")).to_have_value("cancelled")
        drawn.locator("input[name=label_zh]").fill("核对不过")
        drawn.locator("input[name=label_en]").fill("Fails the check")
        drawn.locator("button:text('预览修改')").click()
        applied(page, "核对不过")
        expect(page.locator(".flow-arrow[data-transition=fails_the_check]")).to_have_count(1)
        page.screenshot(path="/tmp/journey-2-workflow.png", full_page=True)

        # the rule, by picking
        page.locator(".entity-card[data-entity=order] a:text('+ 新建规则')").click()
        settled(page)
        page.fill("input[name=rule_label_zh]", "大额订单发货提醒")
        page.fill("input[name=rule_label_en]", "Big order shipped")
        page.select_option("select[name=rule_on]", label="“发货”时")
        page.click("button:text('+ 条件')")
        row = page.locator(".condition-row").first
        expect(row).to_be_visible()
        settled(page)  # htmx listens to the row it drew
        row.locator("select[name=c0_field]").select_option(label="应付金额")
        expect(row.locator("input[name=c0_value][type=number]")).to_be_visible()  # redrawn
        settled(page)
        row.locator("select[name=c0_op]").select_option(label=">")
        settled(page)  # the operator's redraw would drop a value typed before it lands
        row.locator("input[name=c0_value]").fill("1000")
        settled(page)
        page.select_option(".add-action select", label="通知")
        page.click("button:text('+ 动作')")
        action = page.locator(".rule-action[data-action=notify]")
        expect(action).to_be_visible()
        settled(page)
        action.locator("label:has-text('经理') input").check()
        action.locator("input[name='a0.message_zh']").fill("大额订单 {number} 已发货")
        action.locator("input[name='a0.message_en']").fill("Big order {number} has shipped")
        settled(page)
        page.click("button:text('预览修改')")
        expect(page.locator("pre.diff")).to_contain_text("if: total > 1000")
        applied(page, "大额订单提醒")

        # a bar chart on the dashboard
        page.goto(url + "/studio/oms")
        page.click("a:text('+ 新建报表')")
        page.fill("input[name=label_zh]", "各渠道销售额")
        page.fill("input[name=label_en]", "Sales by channel")
        page.select_option("select[name=of]", "total")
        page.select_option("select[name=group]", "channel")
        page.select_option("select[name=chart]", "bar")
        page.click("button:text('预览')")
        expect(page.locator(".designer-said")).to_contain_text("新报表：各渠道销售额")
        applied(page, "各渠道销售额")

    with checked_page(viewport={"width": 390, "height": 844}, has_touch=True) as page:
        signed_in(page, url, "sue")
        page.goto(url + "/a/oms/order/new")
        store_code = page.locator(".field[data-state=store_code]")
        expect(store_code).to_be_hidden()
        expect(page.locator("select[name=gift_wrap] option")).to_have_text(["—", "普通", "礼盒"])
        page.select_option("select[name=gift_wrap]", "gift_box")
        pick(page, "#customer ~ input[data-ref-text]", "张")
        pick(page, "#rows-lines tbody tr:nth-child(1) [data-ref-text]", "POT")
        expect(page.locator("input[name$='-price']")).to_have_value("268.00")
        page.locator("input[name$='-qty']").fill("4")
        page.select_option("select[name=channel]", "store")
        expect(store_code).to_be_visible()
        page.click("button:text('保存')")
        expect(page.locator(".field.invalid[data-state=store_code]")).to_be_visible()
        page.fill("input[name=store_code]", "HZ-01")
        page.click("button:text('保存')")
        expect(page.locator("h1")).to_contain_text("SO-")
        expect(page.locator(".record-fields .badge.red")).to_have_text("礼盒")
        expect(page.locator(".record-fields")).to_contain_text("HZ-01")
        page.click("button:text('确认订单')")
        expect(page.locator(".record-fields .badge:text-is('已确认')")).to_be_visible()
        page.click("button:text('待核对')")
        expect(page.locator(".record-fields .badge:text-is('待核对')")).to_be_visible()
        page.screenshot(path="/tmp/journey-3-sales.png", full_page=True)
        page.goto(url + "/a/oms")
        expect(page.locator(".dashboard")).to_contain_text("各渠道销售额")
        page.screenshot(path="/tmp/journey-4-dashboard.png", full_page=True)

    web = create_app(runtime=runtime)
    api = Api(web.test_client(), runtime.users.create_token("sue"))
    refused = api.post("/api/v1/oms/order", json=made.order(channel="store"))
    assert refused.status_code == 422 and "store_code" in refused.json["error"]["fields"]
    rt = web.extensions["apploom"]  # the runtime on the applied definitions
    [order] = rt.records.list(rt.users.get("sue"), "oms.order").data
    assert order["status"] == "to_check" and float(order["total"]) > 1000
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "to_check_done")
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "ship", {"carrier": "sf"})
    told = rt.notifications.latest(rt.users.get("max"), "zh")
    assert [n["message"] for n in told] == [f"大额订单 {order['number']} 已发货"]
