"""The studio's designer pages in headless Chromium, in Chinese: an admin builds "when an
order is shipped and its total is over 1,000, tell the managers" by picking and ticking,
sees its expression, previews and applies it, and finds it as a card; turns a report into
a bar chart while its preview draws the data, puts it on the dashboard and drags its tile
first; on a phone the pages fit the screen. Screenshots go to /tmp/rulecards-*.png.
Skipped where Chromium or Playwright is missing."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.helpers import Shop, serving
from tests.test_browser import CHROMIUM, checked_page, drag, playwright, settled

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture
def server(sqlite_runtime):
    sqlite_runtime.users.create("boss", ["admin"], "password1234", display_name="老板")
    shop = Shop(sqlite_runtime)
    for customer in (shop.customer, shop.other, shop.customer):
        order = sqlite_runtime.records.create(
            SYSTEM_USER, "oms.order", shop.order(customer=customer["id"])
        )
        sqlite_runtime.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    with serving(sqlite_runtime) as url:
        yield url


def snap(page, step: str) -> None:
    page.screenshot(path=f"/tmp/rulecards-{step}.png", full_page=True)


def fits(page) -> None:
    """Nothing on the page is wider than the screen."""
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} scrolls sideways: {width}"


def open_in_chinese(page, server: str) -> None:
    """Sign in as the admin with the screens in Chinese, and wait for the launcher."""
    page.goto(server + "/lang/zh?next=/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    playwright.expect(page.locator("main h1")).to_have_text("应用")


def test_an_admin_builds_a_rule_by_picking_and_applies_it(server):
    expect = playwright.expect
    with checked_page(viewport=DESKTOP) as page:
        open_in_chinese(page, server)
        page.goto(server + "/studio/oms")
        card = page.locator(".entity-card[data-entity=order]")
        card.locator("a:text('+ 新建规则')").click()
        expect(page.locator("h1")).to_contain_text("新规则")
        settled(page)
        page.fill("input[name=rule_label_zh]", "大额订单发货提醒")
        page.fill("input[name=rule_label_en]", "Big order shipped")
        page.select_option("select[name=rule_on]", label="“发货”时")
        expect(page.locator("[data-when=updated]")).to_be_hidden()

        page.click("button:text('+ 条件')")
        row = page.locator(".condition-row").first
        expect(row).to_be_visible()
        settled(page)  # htmx listens to the row it drew
        row.locator("select[name=c0_field]").select_option(label="应付金额")
        expect(row.locator("input[name=c0_value][type=number]")).to_be_visible()
        settled(page)
        row.locator("select[name=c0_op]").select_option(label=">")
        expect(row.locator("select[name=c0_op]")).to_have_value("gt")
        settled(page)  # the operator's redraw would drop a value typed before it lands
        row.locator("input[name=c0_value]").fill("1000")

        page.click("button:text('表达式')")
        expect(page.locator("textarea[name=rule_if]")).to_have_value("total > 1000")
        page.click("button:text('用条件行编辑')")
        expect(page.locator("select[name=c0_field]")).to_have_value("total")
        expect(page.locator("input[name=c0_value]")).to_have_value("1000")

        page.select_option(".add-action select", label="通知")
        page.click("button:text('+ 动作')")
        action = page.locator(".rule-action[data-action=notify]")
        expect(action).to_be_visible()
        action.locator("label:has-text('经理') input").check()
        action.locator("input[name='a0.message_zh']").fill("大额订单 {number} 已发货")
        snap(page, "desktop-1-editor")
        fits(page)

        page.click("button:text('预览修改')")
        expect(page.locator(".designer-said")).to_have_text("新规则：大额订单发货提醒")
        diff = page.locator("pre.diff")
        expect(diff).to_contain_text("on: {transition: ship}")
        expect(diff).to_contain_text("if: total > 1000")
        expect(diff).to_contain_text("roles: [manager]")
        page.fill("input[name=comment]", "大额订单提醒")
        snap(page, "desktop-2-preview")
        page.click("button:text('应用')")
        expect(page.locator(".versions")).to_contain_text("大额订单提醒")

        page.goto(server + "/studio/oms/order/rules")
        made = page.locator(".rule-card[data-rule=big_order_shipped]")
        expect(made.locator("h3")).to_have_text("大额订单发货提醒")
        expect(made).to_contain_text("“发货”时")
        expect(made).to_contain_text("应付金额 > 1000")
        expect(made).to_contain_text("经理")
        snap(page, "desktop-3-cards")
        fits(page)


def test_a_report_drawn_as_it_is_chosen_goes_on_the_dashboard_and_is_dragged_first(server):
    expect = playwright.expect
    with checked_page(viewport=DESKTOP) as page:
        open_in_chinese(page, server)
        page.goto(server + "/studio/oms/reports/receivables_by_customer")
        preview = page.locator("#report-preview")
        expect(preview.locator("table.report-table")).to_be_visible()  # a table, as it is
        page.select_option("select[name=report_chart]", label="柱状图")
        canvas = preview.locator("canvas[data-chart]")
        expect(canvas).to_be_visible()
        page.wait_for_function("() => document.querySelector('#report-preview canvas').chart")
        drawn = page.evaluate(
            "() => document.querySelector('#report-preview canvas').chart.data.labels"
        )
        assert sorted(drawn) == ["Emma", "张三"], drawn
        page.select_option("select[name=report_rows]", label="渠道")
        page.wait_for_function(
            "() => document.querySelector('#report-preview canvas')?.chart?.data.labels[0]"
            " === '线上商城'"
        )
        page.select_option("select[name=report_rows]", label="客户")
        page.wait_for_function(
            "() => document.querySelector('#report-preview canvas')?.chart?.data.labels.length"
            " === 2"
        )
        page.check("input[name=report_dashboard]")
        snap(page, "desktop-4-report")
        fits(page)
        settled(page)  # the chart's last redraw is in: the preview posts what is chosen
        page.click("button:text('预览')")
        expect(page.locator("pre.diff")).to_contain_text("chart: bar")
        expect(page.locator("pre.diff")).to_contain_text("- {report: receivables_by_customer}")
        page.fill("input[name=comment]", "应收柱状图")
        page.click("button:text('应用')")
        expect(page.locator(".versions")).to_contain_text("应收柱状图")

        page.goto(server + "/studio/oms/dashboard")
        tiles = page.locator("[data-tiles] .tile-card")
        expect(tiles.last.locator("h3")).to_have_text("客户应收账龄")
        settled(page)
        page.wait_for_function("() => document.querySelector('[data-tiles]').sortable")
        tiles.last.locator("select[name$='_width']").select_option("2")
        expect(tiles.last).to_have_attribute("data-width", "2")
        added = page.locator("[data-tile=receivables_by_customer] h3")
        drag(page, added, tiles.nth(4).locator("h3"))  # up, then up again: 800 px hold
        drag(page, added, tiles.first.locator("h3"))  # half the dashboard at a time
        expect(tiles.first.locator("h3")).to_have_text("客户应收账龄")
        expect(tiles.first.locator("input[name$='_place']")).to_have_value("1")
        snap(page, "desktop-5-dashboard")
        fits(page)
        page.click("button:text('预览')")
        expect(page.locator("pre.diff")).to_contain_text(
            "+    - {report: receivables_by_customer, width: 2}"
        )
        page.fill("input[name=comment]", "应收放第一")
        page.click("button:text('应用')")
        expect(page.locator(".versions")).to_contain_text("应收放第一")
        page.goto(server + "/a/oms")
        first = page.locator(".dashboard .tile").first
        expect(first.locator("header")).to_have_text("客户应收账龄")
        expect(first).to_have_class("tile w2")
        snap(page, "desktop-6-home")


def test_the_designer_pages_fit_a_phone(server):
    with checked_page(viewport=PHONE, has_touch=True) as page:
        open_in_chinese(page, server)
        for step, path in (
            ("cards", "/studio/oms/order/rules"),
            ("guard", "/studio/oms/order/rules/0"),
            ("new", "/studio/oms/order/rules/new"),
            ("report", "/studio/oms/reports/top_customers"),
            ("dashboard", "/studio/oms/dashboard"),
        ):
            page.goto(server + path)
            settled(page)
            if step == "new":
                page.click("button:text('+ 条件')")
                playwright.expect(page.locator(".condition-row")).to_have_count(1)
                page.click("button:text('+ 动作')")
                playwright.expect(page.locator(".rule-action")).to_have_count(1)
            snap(page, f"phone-{step}")
            fits(page)


def test_a_rule_makes_a_follow_up_record_filled_in_rows(server):
    """A new action making a record: its entity chosen, the rows of its fields drawn for
    it, and a row more each time the last one is used."""
    expect = playwright.expect
    with checked_page(viewport=DESKTOP) as page:
        open_in_chinese(page, server)
        page.goto(server + "/studio/oms/order/rules/new")
        settled(page)
        page.fill("input[name=rule_label_zh]", "发货后回访")
        page.select_option(".add-action select", label="新建记录")
        page.click("button:text('+ 动作')")
        settled(page)
        page.locator("select[name='a0.entity']").select_option("crm.activity")
        expect(page.locator("select[name='a0.f0'] option:checked")).to_have_text("—")
        settled(page)
        page.locator("select[name='a0.f0']").select_option(label="主题")
        expect(page.locator("select[name='a0.f1']")).to_have_value("")  # the next row
        page.fill("input[name='a0.v0']", "'回访 ' + number")
        page.locator("select[name='a0.f1']").select_option(label="客户")
        page.fill("input[name='a0.v1']", "customer")
        snap(page, "desktop-3-create")
        page.click("button:text('预览修改')")
        diff = page.locator("pre.diff")
        expect(diff).to_contain_text("entity: crm.activity")
        expect(diff).to_contain_text("values: {subject: \"'回访 ' + number\", customer: customer}")


def test_a_value_typed_while_its_row_is_redrawn_is_kept(server):
    """On a slow network the row is redrawn for the operator after the value was typed
    into it: what was typed stays."""
    expect = playwright.expect
    with checked_page(viewport=PHONE) as page:
        open_in_chinese(page, server)
        page.goto(server + "/studio/oms/order/rules/new")
        settled(page)
        page.click("button:text('+ 条件')")
        settled(page)
        page.locator("select[name=c0_field]").select_option(label="应付金额")
        expect(page.locator("input[name=c0_value][type=number]")).to_be_visible()
        settled(page)

        def slowly(route):
            page.wait_for_timeout(800)
            route.continue_()

        page.route("**/rules/condition*", slowly)
        page.locator("select[name=c0_op]").select_option(label=">")
        page.locator("input[name=c0_value]").fill("1000")  # before the redraw lands
        settled(page)
        expect(page.locator("select[name=c0_op]")).to_have_value("gt")
        expect(page.locator("input[name=c0_value]")).to_have_value("1000")
