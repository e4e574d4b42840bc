"""The studio's designer in headless Chromium, in Chinese, on a desktop and on a phone:
an admin sees the app's entities and the order workflow drawn, clicks a status,
renames it, previews and applies the change, and the order's page shows the new name.
Screenshots go to /tmp/designer-*.png. Skipped where Chromium or Playwright is missing."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.helpers import Shop, serving
from tests.test_browser import CHROMIUM, checked_page, playwright

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
    size = SIZES[request.param]
    with (
        serving(sqlite_runtime) as url,
        checked_page(viewport=size, has_touch=request.param == "phone") as page,
    ):
        page.server, page.size = url, request.param
        yield page


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


def test_an_admin_draws_a_transition_from_one_status_to_another(screen):
    page, expect = screen, playwright.expect
    page.goto(page.server + "/lang/zh?next=/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    page.goto(page.server + "/studio/oms")
    page.locator(".flow-diagram").scroll_into_view_if_needed()
    source = page.locator(".flow-state[data-state=backordered] rect").first.bounding_box()
    target = page.locator(".flow-state[data-state=cancelled] rect").first.bounding_box()
    start = (source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    end = (target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=5)
    expect(page.locator(".flow-drawing")).to_have_count(1)  # the arrow follows the pointer
    page.mouse.move(*end, steps=5)
    page.mouse.up()

    panel = page.locator("#edit-panel")
    expect(panel.locator("h2")).to_have_text("添加流转")
    expect(panel.locator("input[name=from][value=backordered]")).to_be_checked()
    expect(panel.locator("select[name=to]")).to_have_value("cancelled")
    panel.locator("input[name=label_zh]").fill("缺货取消")
    panel.locator("input[name=label_en]").fill("Cancel the backorder")
    snap(page, "5-drawn")
    panel.locator("button:text('预览修改')").click()
    said = page.locator(".designer-said")
    expect(said).to_contain_text("新增流转“缺货取消 / Cancel the backorder”")
    page.fill("input[name=comment]", "缺货可取消")
    page.click("button:text('应用')")
    expect(page.locator(".flow-arrow[data-transition=cancel_the_backorder]")).to_have_count(1)

    page.locator(".flow-state[data-state=confirmed]").click()  # a press without a drag
    expect(page.locator("#edit-panel input[name=label_zh]")).to_have_value("已确认")
