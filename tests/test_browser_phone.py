"""The screens on a 390×844 phone in headless Chromium, in Chinese and English: a
warehouse user picks a parcel by scanning with a keyboard-wedge scanner (fast keys,
then Enter) and ships it with a carrier, every dialog's buttons on screen; and no page
of the tour scrolls sideways. Skipped where Chromium or Playwright is missing."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.helpers import Shop, serving
from tests.test_browser import CHROMIUM, checked_page, playwright, settled, shot

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
PHONE = {"width": 390, "height": 844}
WORDS = {
    "en": {
        "menu": "Menu",
        "scan": "Scan",
        "pick": "Pick",
        "start": "Start picking",
        "not in": "is not in this parcel",
        "too many": "already scanned",
        "done": "Every item is scanned.",
        "ship": "Ship",
        "filters": "Filters",
    },
    "zh": {
        "menu": "菜单",
        "scan": "扫码",
        "pick": "拣货",
        "start": "开始拣货",
        "not in": "不在此包裹中",
        "too many": "已扫描",
        "done": "所有商品已扫描完毕。",
        "ship": "发货",
        "filters": "筛选",
    },
}


@pytest.fixture
def floor_shop(sqlite_runtime):
    """The browser tests' shop, with barcodes, a third item no order holds, a
    confirmed order, a warehouse user and a manager."""
    rt = sqlite_runtime
    shop = Shop(rt)
    shop.rt = rt
    rt.records.update(
        SYSTEM_USER, "wms.item", shop.cup["id"], {"barcode": "6901234567892"}, version=1
    )
    shop.bag = rt.records.create(
        SYSTEM_USER, "wms.item", {"sku": "BAG-1", "name": "布袋", "price": "5"}
    )
    order = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    shop.confirmed = rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    rt.users.create("wu", ["warehouse"], "password1234", display_name="吴仓管")
    rt.users.create("max", ["manager"], "password1234", display_name="Max")
    return shop


@pytest.fixture
def phone(floor_shop):
    # not is_mobile: a mobile viewport widens itself to a page too wide for it, so
    # innerWidth would grow with the page and nothing would ever scroll sideways
    with serving(floor_shop.rt) as url, checked_page(viewport=PHONE, has_touch=True) as page:
        page.server = url
        yield page


def sign_in(page, username: str, lang: str) -> None:
    page.goto(page.server + f"/lang/{lang}?next=/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    playwright.expect(page.locator("[data-menu-toggle]")).to_be_visible()


def no_sideways_scroll(page) -> None:
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} scrolls sideways: {width}"


def on_screen(page, locator) -> None:
    """Every button of ``locator`` lies wholly inside the viewport."""
    for i in range(locator.count()):
        box = locator.nth(i).bounding_box()
        assert box is not None, f"{page.url}: button {i} is not shown"
        right, bottom = box["x"] + box["width"], box["y"] + box["height"]
        assert box["x"] >= 0 and box["y"] >= 0, f"{page.url}: {box}"
        assert right <= PHONE["width"] and bottom <= PHONE["height"], f"{page.url}: {box}"


def scanner(page, code: str) -> None:
    """A keyboard-wedge scanner: the code typed a few milliseconds a key, then Enter."""
    page.keyboard.type(code, delay=8)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_warehouse_user_picks_a_parcel_by_scanning_and_ships_it(phone, floor_shop, lang):
    expect, words, page = playwright.expect, WORDS[lang], phone
    sign_in(page, "wu", lang)
    page.click("[data-menu-toggle]")
    menu = page.locator("#topnav a:visible")
    on_screen(page, menu)
    page.click(f"#topnav a:text('{words['scan']}')")
    page.click(f".floor-tabs a:text('{words['pick']}')")
    expect(page.locator("[data-scan-input]")).to_be_focused()
    scanner(page, floor_shop.confirmed["number"])
    page.click(f"button:text('{words['start']}')")  # the order was confirmed, not picked yet
    expect(page.locator(".floor-head h1")).to_contain_text("DN-")
    settled(page)
    no_sideways_scroll(page)

    answer = page.locator("[data-scan-result]")
    scanner(page, "BAG-1")  # no order line holds it
    expect(answer).to_contain_text(words["not in"])
    expect(answer).to_have_attribute("data-sounded", "refused")
    scanner(page, "CUP-1")
    expect(answer).to_have_attribute("data-sounded", "ok")
    scanner(page, "pot-1")  # a SKU in any case
    expect(page.locator(".scan-lines li.done")).to_have_count(1)
    scanner(page, "POT-1")  # one pot ordered
    expect(answer).to_contain_text(words["too many"])
    expect(answer).to_have_attribute("data-sounded", "refused")
    page.locator(".floor-head .meta").click()  # the box loses the focus; the scanner types on
    expect(page.locator("[data-scan-input]")).not_to_be_focused()
    scanner(page, "6901234567892")  # the cup's barcode, routed into the scan box
    expect(page.locator("#floor-panel")).to_contain_text(words["done"])
    expect(page.locator(".scan-lines li.done")).to_have_count(2)

    ship = page.locator("form.floor-ship")
    ship.locator("select[name=carrier]").select_option("sf")
    on_screen(page, ship.locator("button, select"))
    if lang == "zh":
        shot(page, "phone-pick")
    ship.locator("button").click()
    expect(page.locator(".tracking-number")).to_contain_text("SF")
    no_sideways_scroll(page)
    parcel = floor_shop.rt.records.list(SYSTEM_USER, "oms.shipment").data[0]
    assert parcel["status"] == "shipped" and parcel["carrier"] == "sf"
    order = floor_shop.rt.records.get(SYSTEM_USER, "oms.order", floor_shop.confirmed["id"])
    assert order["status"] == "shipped"


def tour(rt) -> list[str]:
    """The pages staff use: the launcher, each app's home, every list with a new form
    and the first record's page, each report, and the floor's screens."""
    pages = ["/", "/notifications", "/floor/", "/floor/pick", "/floor/receive", "/floor/count"]
    pages.append("/floor/lookup?code=CUP-1")
    for app in rt.apps.ordered():
        pages.append(f"/a/{app.name}")
        pages += [f"/a/{app.name}/reports/{name}" for name in app.reports]
        for entity in app.entities.values():
            if entity.is_child:
                continue
            base = f"/a/{app.name}/{entity.name}"
            pages += [base, base + "/new"]
            first = rt.records.list(SYSTEM_USER, entity.qualified).data[:1]
            pages += [f"{base}/{record['id']}" for record in first]
    return pages


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_of_the_tour_scrolls_sideways_on_a_phone(phone, floor_shop, lang):
    expect, page, rt = playwright.expect, phone, floor_shop.rt
    rt.transitions.take(SYSTEM_USER, "oms.order", floor_shop.confirmed["id"], "pick")
    parcel = rt.records.list(SYSTEM_USER, "oms.shipment").data[0]
    count = rt.records.create(
        SYSTEM_USER, "wms.stock_count", {"warehouse": floor_shop.warehouse["id"]}
    )
    rt.automation.call_webhook(
        SYSTEM_USER, "wms.stock_count", count["id"], "scan", {"code": "CUP-1", "qty": 98}
    )
    po = rt.records.create(
        SYSTEM_USER,
        "wms.purchase_order",
        {
            "supplier": "杭州茶叶有限公司",
            "warehouse": floor_shop.warehouse["id"],
            "lines": [{"item": floor_shop.pot["id"], "qty": 12, "cost": "150.00"}],
        },
    )
    rt.transitions.take(SYSTEM_USER, "wms.purchase_order", po["id"], "place")
    rt.automation.call_webhook(
        SYSTEM_USER, "wms.purchase_order", po["id"], "scan", {"code": "POT-1", "qty": 5}
    )
    floor = [
        f"/floor/pick/{parcel['id']}",
        f"/floor/receive/{po['id']}",
        f"/floor/count/{count['id']}",
    ]
    sign_in(page, "max", lang)
    for url in [*tour(rt), *floor]:
        page.goto(page.server + url)
        expect(page.locator("main")).to_be_visible()
        assert "/login" not in page.url, url
        no_sideways_scroll(page)
    page.goto(page.server + "/a/oms/order")  # filters fold: the first record shows at once
    expect(page.locator(".filters .fold-toggle")).to_have_text(words := WORDS[lang]["filters"])
    first = page.locator("#results tbody tr").first.bounding_box()
    assert first and first["y"] < PHONE["height"] / 2, first
    if lang == "zh":
        shot(page, "phone-list")
    page.click(f"button:text('{words}')")
    expect(page.locator(".filters fieldset").first).to_be_visible()
    for record in (f"oms/shipment/{parcel['id']}", f"oms/order/{parcel['order']}"):
        page.goto(page.server + f"/a/{record}")
        page.click(f"summary:text('{WORDS[lang]['ship']}')")  # the Ship form, on screen
        dialog = page.locator("details.transition[open] .transition-form")
        on_screen(page, dialog.locator("button, select, textarea"))
    page.goto(page.server + "/")
    page.click("[data-menu-toggle]")
    on_screen(page, page.locator("#topnav a:visible, #topnav button:visible"))


@pytest.fixture
def camera_phone(floor_shop):
    """A phone whose camera is Chromium's fake one (a moving test pattern)."""
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with (
        serving(floor_shop.rt) as url,
        checked_page(
            extra_args=fake, viewport=PHONE, has_touch=True, permissions=["camera"]
        ) as page,
    ):
        page.server = url
        yield page


def test_the_camera_opens_in_a_scan_box_from_the_vendored_library(camera_phone):
    """Offline: html5-qrcode comes from static/vendor, loaded when the camera is asked for."""
    expect, page = playwright.expect, camera_phone
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url) if "html5-qrcode" in r.url else None)
    sign_in(page, "wu", "zh")
    page.goto(page.server + "/floor/lookup")
    assert not loaded  # not before it is needed
    page.click("[data-camera]")
    expect(page.locator("[data-camera-view] video")).to_be_visible()
    expect(page.locator("[data-camera]")).to_have_text("关闭摄像头")
    assert [u for u in loaded if u.startswith(page.server + "/static/vendor/")] == loaded != []
    no_sideways_scroll(page)
    page.click("[data-camera]")
    expect(page.locator("[data-camera-view]")).to_be_hidden()
