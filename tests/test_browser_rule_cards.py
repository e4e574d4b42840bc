"""The studio's rule cards in headless Chromium, in Chinese: an admin builds "when an order
is shipped and its total is over 1,000, tell the managers" by picking and ticking, sees
its expression, previews and applies it, and finds it as a card; on a phone the pages
fit the screen. Screenshots go to /tmp/rulecards-*.png. Skipped where Chromium or
Playwright is missing."""

from __future__ import annotations

import pytest

from tests.helpers import serving
from tests.test_browser import CHROMIUM, checked_page, playwright, settled

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture
def server(sqlite_runtime):
    sqlite_runtime.users.create("boss", ["admin"], "password1234", display_name="老板")
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
        row.locator("select[name=c0_field]").select_option(label="应付金额")
        expect(row.locator("input[name=c0_value][type=number]")).to_be_visible()
        row.locator("select[name=c0_op]").select_option(label=">")
        expect(row.locator("select[name=c0_op]")).to_have_value("gt")
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


def test_the_rule_pages_fit_a_phone(server):
    with checked_page(viewport=PHONE, has_touch=True) as page:
        open_in_chinese(page, server)
        for step, path in (
            ("cards", "/studio/oms/order/rules"),
            ("guard", "/studio/oms/order/rules/0"),
            ("new", "/studio/oms/order/rules/new"),
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
