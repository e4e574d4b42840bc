"""The studio's designer in headless Chromium, in Chinese, on a desktop and on a phone:
an admin sees the app's entities and the order workflow drawn, clicks a status,
renames it, previews and applies the change, and the order's page shows the new name.
Screenshots go to /tmp/designer-*.png. Skipped where Chromium or Playwright is missing."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.helpers import Shop, serving
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, playwright

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def confirmed_order(sqlite_runtime):
    shop = Shop(sqlite_runtime)
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    sqlite_runtime.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    sqlite_runtime.users.create("boss", ["admin"], "password1234", display_name="老板")
    return order


@pytest.fixture(params=sorted(SIZES))
def screen(request, sqlite_runtime, confirmed_order):
    """A Chromium page of the size, on a served shop; it fails on any CSP refusal."""
    with serving(sqlite_runtime) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=SIZES[request.param], has_touch=request.param == "phone")
        page.set_default_timeout(10_000)
        playwright.expect.set_options(timeout=15_000)
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.server, page.size = url, request.param
        yield page
        browser.close()
        assert not refused, refused


def snap(page, step: str) -> None:
    page.screenshot(path=f"/tmp/designer-{page.size}-{step}.png", full_page=True)


def test_an_admin_renames_a_status_on_the_diagram(screen, confirmed_order):
    page, expect = screen, playwright.expect
    page.goto(page.server + "/lang/zh?next=/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    page.goto(page.server + "/studio/oms")
    expect(page.locator(".entity-card h3").first).to_have_text("销售订单")
    expect(page.locator(".flow-diagram .flow-state")).to_have_count(9)
    expect(page.locator(".flow-diagram")).to_be_visible()
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the designer scrolls sideways: {width}"
    snap(page, "1-open")

    page.locator(".flow-state[data-state=confirmed]").click()
    panel = page.locator("#edit-panel")
    expect(panel).to_be_in_viewport()
    expect(page.locator(".flow-state[data-state=confirmed]")).to_have_class(
        "flow-state blue selected"
    )
    expect(panel.locator("input[name=label_zh]")).to_have_value("已确认")
    panel.locator("input[name=label_zh]").fill("已接单")
    snap(page, "2-panel")
    panel.locator("button:text('预览修改')").click()

    expect(page.locator(".designer-said")).to_have_text("状态“已确认”改名为“已接单 / Confirmed”")
    expect(page.locator("pre.diff")).to_contain_text("zh: 已接单")
    expect(page.locator(".plan")).to_contain_text("无结构变化")
    page.fill("input[name=comment]", "改名：已接单")
    snap(page, "3-preview")
    page.click("button:text('应用')")
    expect(page.locator(".versions")).to_contain_text("改名：已接单")
    expect(page.locator(".flow-state[data-state=confirmed] text")).to_have_text("已接单")

    page.goto(page.server + f"/a/oms/order/{confirmed_order['id']}")
    expect(page.locator(".record-fields .badge")).to_have_text("已接单")
    snap(page, "4-order")
