"""The screens in headless Chromium: sign in, create an order with two lines, find it,
edit it, switch the language. Skipped where Chromium or Playwright is missing."""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import notifications, outbox
from apploom.engine.query.filters import Query
from tests.helpers import Shop, serving
from tests.test_import import SHOPIFY_MAPPING

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
SHOTS = os.environ.get("APPLOOM_SCREENSHOTS")  # a folder: save the README's screenshots there
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def server(sqlite_runtime):
    Shop(sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234", display_name="Sue")
    with serving(sqlite_runtime) as url:
        yield url


@contextmanager
def checked_page(*, extra_args: tuple[str, ...] = (), **context):
    """A Chromium page that fails its test if any page broke the Content-Security-Policy
    (every screen must work under it: no inline script or style). ``context``: the
    browser context's options (viewport, has_touch, permissions)."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [*extra_args])
        page = browser.new_context(**context).new_page()
        page.set_default_timeout(10_000)
        page.set_default_navigation_timeout(30_000)  # a page sent while both cores are busy
        # A full page sent while the suite loads both cores can take more than
        # expect()'s 5 s to come back; waiting longer makes no passing test slower.
        playwright.expect.set_options(timeout=15_000)
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        yield page
        browser.close()
        assert not refused, refused


@pytest.fixture
def page():
    with checked_page(viewport={"width": 1280, "height": 800}) as page:
        yield page


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def settled(page) -> None:
    """Wait until htmx has no request in flight and has finished adding new content (and
    listening to it)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-added, .htmx-settling')"
    )


def pick(page, picker_input: str, text: str) -> None:
    """Type into a ref picker and choose the first suggestion that shows ``text``."""
    settled(page)
    field = page.locator(picker_input)
    field.fill(text)
    suggestions = field.locator("xpath=following-sibling::div[1]")
    suggestion = suggestions.locator("button", has_text=text).first
    suggestion.click()


def sign_in(page, server: str, username: str, password: str = "password1234") -> None:
    page.goto(server + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    playwright.expect(page.locator(".topbar .who")).to_be_visible()  # signed in, not racing


def speak_chinese(page) -> None:
    """Switch the screens to Chinese, and wait for the page that says so: a request sent
    before it would race the switch."""
    page.click("a:text('中文')")
    playwright.expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.wait_for_load_state()  # and its deferred scripts (htmx, app.js) have run


def sign_out(page) -> None:
    """Sign out and wait for the login page, so the next page load does not race it for
    the fresh session (two concurrent loads would each mint a CSRF token)."""
    page.click("button:text('Sign out')")
    playwright.expect(page.locator("input[name=username]")).to_be_visible()


def test_order_journey_through_the_screens(server, page):
    expect = playwright.expect
    page.goto(server + "/")
    page.fill("input[name=username]", "sue")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("Wrong username or password")
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    expect(page.locator(".topbar")).to_contain_text("Sue")

    page.goto(server + "/a/oms/order/new")
    pick(page, "#customer ~ input[data-ref-text]", "张")
    rows = page.locator("#rows-lines tbody tr")
    first = rows.nth(0)
    pick(page, "#rows-lines tbody tr:nth-child(1) [data-ref-text]", "POT")
    price = first.locator("input[name$='-price']")
    expect(price).to_have_value("268.00")  # the item's price, as it is picked
    expect(first.locator("input[name$='-tax_rate']")).to_have_value("13.00")  # and its VAT
    pick(page, "#rows-lines tbody tr:nth-child(1) [data-ref-text]", "CUP")
    expect(price).to_have_value("12.50")  # another item: its price
    first.locator("input[name$='-qty']").fill("2")
    expect(first.locator("output.computed")).to_have_text("CN¥25.00")
    page.click("text=+ Add row")
    expect(rows).to_have_count(2)
    pick(page, "#rows-lines tbody tr:nth-child(2) [data-ref-text]", "POT")
    second = rows.nth(1)
    expect(second.locator("input[name$='-price']")).to_have_value("268.00")
    second.locator("input[name$='-price']").fill("260")  # typed: kept from now on
    second.locator("input[name$='-qty']").fill("1")
    expect(page.locator("#calc-total")).to_have_text("CN¥285.00")
    second.locator("input[name$='-price']").fill("268")
    expect(page.locator("#calc-total")).to_have_text("CN¥293.00")
    expect(page.locator("#calc-tax")).to_have_text("CN¥33.71")  # 2.88 + 30.83, inside the prices
    shot(page, "form")
    page.click("button:text('Save')")
    expect(page.locator("h1")).to_contain_text("SO-")
    expect(page.locator(".record-fields")).to_contain_text("CN¥293.00")
    number = page.locator("h1").inner_text().split("· ")[1].split()[0]

    page.goto(server + "/a/oms/order")
    page.fill("input[name=q]", number)
    expect(page.locator("#results tbody tr")).to_have_count(1)
    page.locator("label.chip:has-text('Store')").click()
    expect(page.locator("#results")).to_contain_text("No records match")
    page.locator("label.chip:has-text('Store')").click()
    page.locator("label.chip:has-text('Web shop')").click()
    page.wait_for_url("**channel__in=web**")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert f"q={number}" in page.url and "order_date" not in page.url
    shot(page, "list")

    page.locator(f"#results a:text('{number}')").click()
    page.click("a:text('Edit')")
    page.fill("textarea[name=note]", "gift wrap")
    page.click("button:text('Save')")
    expect(page.locator(".record-fields")).to_contain_text("gift wrap")
    expect(page.locator("#timeline")).to_contain_text("changed")
    page.fill("textarea[name=body]", "customer called")
    page.click("button:text('Add comment')")
    expect(page.locator("#timeline li").first).to_contain_text("customer called")
    shot(page, "record")

    speak_chinese(page)
    expect(page.locator("h1")).to_contain_text("销售订单")
    expect(page.locator(".record-fields")).to_contain_text("渠道")
    expect(page.locator(".topbar")).to_contain_text("退出")


def test_a_validation_error_is_shown_next_to_the_field(server, page):
    expect = playwright.expect
    sign_in(page, server, "sue")
    page.goto(server + "/a/oms/order/new")
    pick(page, "#rows-lines tbody tr:nth-child(1) [data-ref-text]", "CUP")
    page.locator("input[name$='-qty']").fill("0")
    expect(page.locator("input[name$='-price']")).to_have_value("12.50")
    page.locator("input[name$='-price']").fill("1")
    page.click("button:text('Save')")
    expect(page.locator(".field.invalid")).to_contain_text("is required")
    expect(page.locator("td.invalid")).to_contain_text("must be at least 1")


def test_the_external_id_shows_and_is_required_only_for_marketplace_orders(
    server, page, sqlite_runtime
):
    expect = playwright.expect
    sign_in(page, server, "sue")
    page.goto(server + "/a/oms/order/new")
    external = page.locator(".field[data-state=external_id]")
    expect(external).to_be_hidden()  # a web order: the default channel
    pick(page, "#customer ~ input[data-ref-text]", "张")
    pick(page, "#rows-lines tbody tr:nth-child(1) [data-ref-text]", "CUP")
    expect(page.locator("input[name$='-price']")).to_have_value("12.50")
    page.select_option("select[name=channel]", "store")
    page.locator("input[name$='-qty']").fill("1")
    expect(page.locator("#calc-total")).to_have_text("CN¥12.50")  # the preview answered
    expect(external).to_be_hidden()
    page.select_option("select[name=channel]", "marketplace")
    expect(external).to_be_visible()
    expect(external.locator(".req")).to_be_visible()  # marked required as it shows
    expect(page.locator("input[name=external_id]")).to_have_attribute("aria-required", "true")
    page.click("button:text('Save')")
    expect(page.locator(".flash.error")).to_contain_text("Please correct the fields")
    expect(page.locator(".field.invalid[data-state=external_id]")).to_contain_text("is required")
    assert sqlite_runtime.records.list(SYSTEM_USER, "oms.order").total == 0
    page.select_option("select[name=channel]", "phone")
    expect(external).to_be_hidden()  # gone again for a phone order
    page.select_option("select[name=channel]", "marketplace")
    expect(external).to_be_visible()
    page.fill("input[name=external_id]", "TB-20261201-7")
    page.click("button:text('Save')")
    expect(page.locator("h1")).to_contain_text("SO-")
    expect(page.locator(".record-fields")).to_contain_text("TB-20261201-7")


def test_confirm_and_ship_an_order_with_the_buttons(server, page, sqlite_runtime):
    expect = playwright.expect
    sqlite_runtime.users.create("max", ["manager"], "password1234")
    shop_user = sqlite_runtime.users.get("sue")
    customer = next(
        c for c in sqlite_runtime.records.list(shop_user, "crm.customer").data if c["email"]
    )
    items = sqlite_runtime.records.list(shop_user, "wms.item").data
    order = sqlite_runtime.records.create(
        shop_user,
        "oms.order",
        {
            "customer": customer["id"],
            "lines": [{"item": items[0]["id"], "qty": 1, "price": "12.50"}],
        },
    )
    sign_in(page, server, "max")
    page.goto(server + f"/a/oms/order/{order['id']}")
    expect(page.locator(".record-fields .badge")).to_have_text("Draft")
    page.click("button:text('Confirm')")
    expect(page.locator(".record-fields dd .badge")).to_have_text("Confirmed")
    page.click("button:text('Start picking')")
    expect(page.locator(".record-fields dd .badge")).to_have_text("Picking")
    page.click("summary:text('Ship')")
    form = page.locator("details.transition form")
    form.locator("select[name=carrier]").select_option("sf")
    form.locator("textarea[name=comment]").fill("two boxes")
    form.locator("button:text('Ship')").click()
    expect(page.locator(".record-fields dd .badge")).to_have_text("Shipped")
    shipped = sqlite_runtime.records.get(shop_user, "oms.order", order["id"])
    tracking = shipped["tracking_number"]  # booked by the carrier plugin for its parcel
    assert re.fullmatch(r"SF\d{11}", tracking)
    expect(page.locator(".record-fields")).to_contain_text(tracking)
    expect(page.locator("#timeline")).to_contain_text("two boxes")
    expect(page.locator("#timeline")).to_contain_text("Ship the rest")  # the rule, by its label
    expect(page.locator(".related-panel").first).to_contain_text("DN-")  # its parcel, on its page
    shot(page, "workflow")
    page.goto(server + "/a/oms/order")
    expect(page.locator("#results .badge").first).to_have_text("Shipped")

    email = outbox.messages(sqlite_runtime.db)[0]["payload"]
    link = re.search(r"/track/\S+", email["body"])[0]
    sign_out(page)
    page.goto(server + link)  # the customer, not signed in
    expect(page.locator("h1")).to_contain_text("Shipped")
    expect(page.locator(".tracking-number")).to_contain_text(tracking)
    expect(page.locator("ol.steps li")).to_have_count(4)
    shot(page, "tracking")


def test_import_orders_from_a_file_with_a_dry_run_and_a_progress_bar(server, page, sqlite_runtime):
    expect = playwright.expect
    header = "外部单号,渠道,客户邮箱,商品编码,数量,单价\n"
    rows = "".join(f"WEB-{n},线上商城,zs@example.com,CUP-1,1,12.50\n" for n in range(400))
    sign_in(page, server, "sue")
    page.goto(server + "/a/oms/order")
    page.click("a:text('Import')")
    page.set_input_files(
        "input[type=file]",
        files=[
            {
                "name": "orders.csv",
                "mimeType": "text/csv",
                "buffer": (header + rows + "BAD-1,线上商城,zs@example.com,NOPE,1,1\n").encode(),
            }
        ],
    )
    page.click("button:text('Next')")
    expect(page.locator("select[name=map-3]")).to_have_value("lines.item.sku")  # guessed
    expect(page.locator("select[name=map-2]")).to_have_value("customer.email")
    page.select_option("select[name=then]", "confirm")
    page.click("button:text('Dry run')")
    expect(page.locator("#import-report h2")).to_have_text("Dry run", timeout=60_000)
    expect(page.locator("#import-report")).to_contain_text("there is no Item with sku 'NOPE'")
    assert sqlite_runtime.records.list(SYSTEM_USER, "oms.order").total == 0
    page.click("button:text('Import')")
    expect(page.locator("#import-progress progress")).to_be_visible()
    expect(page.locator("#import-report h2")).to_have_text("Imported", timeout=60_000)
    expect(page.locator("#import-report")).to_contain_text("400 created")
    shot(page, "import")
    orders = sqlite_runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=500)).data
    statuses = [o["status"] for o in orders]  # 100 cups in stock: the rest wait
    assert (statuses.count("confirmed"), statuses.count("backordered")) == (100, 300)


def test_import_a_shopify_export_whose_orders_run_over_several_rows(server, page, sqlite_runtime):
    """Shopify's export as it comes: the later rows of an order leave its cells blank.
    Mapped once on the screen, with the channel set for the whole file and new buyers
    created; the next file of its shape is offered the same."""
    expect = playwright.expect
    sample = Path(__file__).parent / "samples" / "shopify-orders-export.csv"
    header = sample.read_text().splitlines()[0].split(",")
    sign_in(page, server, "sue")
    page.goto(server + "/a/oms/order/import")
    expect(page.locator("a:text('Excel template')")).to_be_visible()
    page.set_input_files("input[type=file]", str(sample))
    page.click("button:text('Next')")
    for column, path in SHOPIFY_MAPPING.items():
        page.select_option(f"select[name=map-{header.index(column)}]", path)
    page.select_option("select[name=constant-0]", "channel")
    page.fill("input[name=constant-value-0]", "线上商城")
    page.check("input[name=create][value=customer]")
    page.click("button:text('Import')")
    expect(page.locator("#import-report h2")).to_have_text("Imported", timeout=60_000)
    expect(page.locator("#import-report")).to_contain_text("3 created")
    orders = sqlite_runtime.records.list(SYSTEM_USER, "oms.order").data
    assert sorted((o["external_id"], o["channel"], o["total"]) for o in orders) == [
        ("#1001", "web", "303.00"),
        ("#1002", "web", "32.50"),
        ("#1003", "web", "290.50"),
    ]
    page.goto(server + "/a/oms/order/import")
    page.set_input_files("input[type=file]", str(sample))
    page.click("button:text('Next')")
    expect(page.locator("#import-remembered")).to_be_visible()
    expect(page.locator(f"select[name=map-{header.index('Lineitem sku')}]")).to_have_value(
        "lines.item.sku"
    )
    expect(page.locator("input[name=constant-value-0]")).to_have_value("线上商城")
    page.click("button:text('Dry run')")
    expect(page.locator("#import-report")).to_contain_text("3 already there", timeout=60_000)


def test_a_dashboard_shows_charts_and_a_bar_drills_down_to_its_orders(server, page, sqlite_runtime):
    expect = playwright.expect
    shop_user = sqlite_runtime.users.get("sue")
    customer = sqlite_runtime.records.list(shop_user, "crm.customer").data[0]
    items = sqlite_runtime.records.list(shop_user, "wms.item").data
    for qty in (1, 2, 3):
        order = sqlite_runtime.records.create(
            shop_user,
            "oms.order",
            {
                "customer": customer["id"],
                "channel": "store",
                "lines": [{"item": items[0]["id"], "qty": qty, "price": "10.00"}],
            },
        )
        sqlite_runtime.transitions.take(shop_user, "oms.order", order["id"], "confirm")
    sign_in(page, server, "sue")
    page.goto(server + "/a/oms")
    expect(page.locator(".tile .number-card .big").first).to_have_text("CN¥60.00")
    expect(page.locator(".tile canvas").first).to_be_visible()
    page.wait_for_function("() => document.querySelector('.tile canvas').chart !== undefined")
    page.locator(".tile header a", has_text="Sales by month").click()
    expect(page.locator(".report-table tbody tr")).to_have_count(1)
    page.locator(".report-table tbody a").first.click()
    expect(page.locator("#results tbody tr")).to_have_count(3)  # the three store orders
    assert "channel=store" in page.url and "status__not_in=draft" in page.url
    page.go_back()
    page.wait_for_function("() => document.querySelector('.report canvas').chart !== undefined")
    axis = page.evaluate("""() => {               // the money axis writes yuan, as the table
        const scale = document.querySelector('.report canvas').chart.scales.y;
        return scale.ticks.map((tick) => tick.label);
    }""")
    assert axis and all(label.startswith("CN¥") for label in axis)
    bar = page.evaluate("""() => {                      // where the chart drew the bar
        const canvas = document.querySelector('.report canvas');
        const box = canvas.getBoundingClientRect();
        const bar = canvas.chart.getDatasetMeta(0).data[0];
        return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
    }""")
    page.mouse.click(bar["x"], bar["y"])
    expect(page.locator("#results tbody tr")).to_have_count(3)


def test_an_admin_adds_a_field_and_a_status_and_sales_uses_both(server, page, sqlite_runtime):
    expect = playwright.expect
    sqlite_runtime.users.create("boss", ["admin"], "password1234")
    sign_in(page, server, "boss")
    page.goto(server + "/studio/oms")  # the designer; the YAML is the expert's tab
    page.click(".studio-tabs a:text('YAML (for experts)')")
    text = page.locator("#definition").input_value()
    text = text.replace(
        "      note:     {type: long_text, label: {en: Note, zh: 备注}}\n",
        "      note:     {type: long_text, label: {en: Note, zh: 备注}}\n"
        "      gift_message: {type: text, label: {en: Gift message, zh: 贺卡留言}}\n",
        1,
    )
    text = text.replace(
        "        backordered: {label:",
        "        on_hold: {label: {en: On hold, zh: 暂缓}, colour: amber}\n"
        "        backordered: {label:",
        1,
    )
    text = text.replace(
        "        pick:\n",
        "        hold: {label: {en: Put on hold, zh: 暂缓}, from: confirmed, to: on_hold,"
        " roles: [sales, manager]}\n"
        "        release: {label: {en: Release, zh: 恢复}, from: on_hold, to: confirmed,"
        " roles: [sales, manager]}\n"
        "        pick:\n",
        1,
    )
    page.fill("#definition", text)
    expect(page.locator("#studio-check")).to_contain_text("No problems")
    page.click("button:text('Preview')")
    expect(page.locator(".plan")).to_contain_text("add column oms_order.gift_message")
    page.fill("input[name=comment]", "gift messages and holds")
    page.click("button:text('Apply')")
    expect(page.locator(".versions")).to_contain_text("gift messages and holds")
    shot(page, "studio")
    sign_out(page)

    sign_in(page, server, "sue")
    page.goto(server + "/a/oms/order/new")
    pick(page, "#customer ~ input[data-ref-text]", "张")
    pick(page, "#rows-lines tbody tr:nth-child(1) [data-ref-text]", "CUP")
    expect(page.locator("#rows-lines input[name$='-price']").first).to_have_value("12.50")
    page.fill("input[name=gift_message]", "生日快乐 Happy birthday")
    page.click("button:text('Save')")
    expect(page.locator(".record-fields")).to_contain_text("生日快乐 Happy birthday")
    page.click("button:text('Confirm')")
    expect(page.locator(".record-fields .badge")).to_have_text("Confirmed")
    page.click("button:text('Put on hold')")
    expect(page.locator(".record-fields .badge")).to_have_text("On hold")


def test_an_admin_drags_a_field_to_the_last_section(server, page, sqlite_runtime):
    expect = playwright.expect
    sqlite_runtime.users.create("boss", ["admin"], "password1234")
    sign_in(page, server, "boss")
    page.set_viewport_size({"width": 1280, "height": 2400})  # the whole form in view
    page.goto(server + "/studio/crm/customer/form")
    card = page.locator(".layout-section .fd-field[data-field=city]")
    goal = page.locator(".layout-section").last.locator(".layout-row").last
    box, to = card.bounding_box(), goal.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(to["x"] + 10, to["y"] + 10, steps=12)
    to = goal.bounding_box()  # the rows passed over moved it: aim again, as a hand would
    page.mouse.move(to["x"] + 20, to["y"] + 12, steps=4)
    page.mouse.up()
    expect(goal.locator(".fd-field[data-field=city]")).to_have_count(1)
    shot(page, "layout")
    page.click("button:text('Preview')")
    expect(page.locator(".plan")).to_contain_text("no schema change")
    assert "[province, district]" in page.locator("#definition").input_value()
    page.fill("input[name=comment]", "city off the form")
    page.click("button:text('Apply')")
    expect(page.locator(".versions")).to_contain_text("city off the form")
    page.goto(server + "/a/crm/customer/new")
    expect(page.locator(".form-section").last).to_contain_text("City")  # under More


def drag(page, source, target) -> None:
    """Drag with the mouse in steps, as SortableJS's fallback follows a person's hand;
    the page is scrolled to show both ends first."""
    top = "(e) => e.getBoundingClientRect().top + window.scrollY"
    middle = (source.evaluate(top) + target.evaluate(top)) / 2
    page.evaluate("(y) => window.scrollTo(0, y)", middle - page.viewport_size["height"] / 2)
    start, end = source.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + 10, start["y"] + 5)
    page.mouse.down()
    page.mouse.move(end["x"] + 10, end["y"] + 5, steps=20)
    page.mouse.move(end["x"] + 5, end["y"] + 2, steps=4)
    page.mouse.up()


def test_an_admin_drags_a_dashboard_tile_to_the_top(server, page, sqlite_runtime):
    expect = playwright.expect
    sqlite_runtime.users.create("boss", ["admin"], "password1234")
    sign_in(page, server, "boss")
    page.goto(server + "/studio/oms/dashboard")
    tiles = page.locator("[data-tiles] .tile-card")
    page.wait_for_function("() => document.querySelector('[data-tiles]').sortable")
    receivables = page.locator("[data-tile=receivables] h3")
    drag(page, receivables, tiles.nth(4).locator("h3"))  # the tiles are taller than the
    drag(page, receivables, tiles.first.locator("h3"))  # screen: half the way at a time
    expect(tiles.first).to_contain_text("Receivables")
    expect(tiles.first.locator("input[name$='_place']")).to_have_value("1")
    page.click("button:text('Preview')")
    expect(page.locator("#studio-check")).to_contain_text("No problems")
    text = page.locator("#definition").input_value()
    assert text.index("{report: receivables}") < text.index("{report: revenue}")


def an_order(runtime) -> dict:
    """An order of the server fixture's shop, created by sales."""
    sue = runtime.users.get("sue")
    customer = runtime.records.list(sue, "crm.customer").data[0]
    item = runtime.records.list(sue, "wms.item").data[0]
    lines = [{"item": item["id"], "qty": 1, "price": "12.50"}]
    return runtime.records.create(sue, "oms.order", {"customer": customer["id"], "lines": lines})


def test_the_bell_marks_one_read_when_opened_and_all_with_mark_all_read(
    server, page, sqlite_runtime
):
    expect = playwright.expect
    sue = sqlite_runtime.users.get("sue")
    order = an_order(sqlite_runtime)
    with sqlite_runtime.db.write() as conn:
        for text in ("订单一已确认", "订单二已确认", "订单三已确认"):
            notifications.send(conn, [sue.id], text, f"/a/oms/order/{order['id']}")
    sign_in(page, server, "sue")
    speak_chinese(page)
    bell = page.locator(".topbar .bell")
    expect(bell.locator(".count")).to_have_text("3")
    bell.click()
    expect(page.locator("h1")).to_have_text("通知")
    expect(page.locator(".notifications li.unread")).to_have_count(3)
    page.click("a:text('订单一已确认')")
    expect(page).to_have_url(re.compile(rf"/a/oms/order/{order['id']}$"))
    expect(bell.locator(".count")).to_have_text("2")
    bell.click()
    expect(page.locator(".notifications li.unread")).to_have_count(2)
    page.click("button:text('全部标为已读')")
    expect(page.locator(".notifications li.unread")).to_have_count(0)
    expect(bell.locator(".count")).to_have_count(0)
    assert sqlite_runtime.notifications.unread(sue) == 0


def test_an_action_the_user_may_not_take_says_why_instead_of_doing_nothing(
    server, page, sqlite_runtime
):
    expect = playwright.expect
    an_order(sqlite_runtime)
    sign_in(page, server, "sue")
    speak_chinese(page)
    page.goto(server + "/a/oms/order")
    settled(page)
    page.locator("#results input[name=ids]").first.check()
    page.select_option("select[name=transition]", "ship")  # for the warehouse
    page.click("button:text('应用到所选')")
    refusal = page.locator("article.problem")  # the page htmx swapped in, not silence
    expect(refusal.locator("h1")).to_have_text("你无权执行此操作")
    expect(refusal).to_contain_text("可执行的角色：warehouse, manager")  # the why, in Chinese too


def test_an_htmx_request_refused_shows_its_reason_on_the_page(server, page):
    expect = playwright.expect
    sign_in(page, server, "sue")
    speak_chinese(page)
    page.evaluate("htmx.ajax('GET', '/admin/outbox', {target: 'main', swap: 'innerHTML'})")
    alert = page.locator("#alerts [role=alert]")
    expect(alert).to_contain_text("你无权执行此操作")
    expect(alert).to_contain_text("只有管理员可以查看发件箱")
