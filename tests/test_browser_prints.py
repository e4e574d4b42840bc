"""Printing from the screens in headless Chromium: a record's print menu, and the ticked
rows of a list opened as one PDF in a new tab. Skipped where Chromium is missing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from apploom.engine.access.permissions import SYSTEM_USER
from tests.test_browser import page, playwright, server, sign_in  # noqa: F401 (fixtures)


def test_a_record_prints_from_its_menu_and_a_list_prints_its_ticked_rows(
    server,  # noqa: F811
    page,  # noqa: F811
    sqlite_runtime,
):
    expect = playwright.expect
    sue = sqlite_runtime.users.get("sue")
    customer = sqlite_runtime.records.list(sue, "crm.customer").data[0]
    item = sqlite_runtime.records.list(sue, "wms.item").data[0]
    orders = [
        sqlite_runtime.records.create(
            SYSTEM_USER,
            "oms.order",
            {"customer": customer["id"], "lines": [{"item": item["id"], "qty": 1}]},
        )
        for _ in range(3)
    ]
    sign_in(page, server, "sue")
    page.goto(server + f"/a/oms/order/{orders[0]['id']}")
    page.click("summary:text('Print')")
    link = page.locator(".print-menu a", has_text="Delivery note")
    expect(link).to_be_visible()
    with page.context.expect_page() as opened:
        link.click()
    assert opened.value.url.endswith(f"/a/oms/order/{orders[0]['id']}/print/delivery_note")
    opened.value.close()

    page.goto(server + "/a/oms/order")
    for order in orders[:2]:
        page.check(f"input[name=ids][value='{order['id']}']")
    page.select_option("[data-print-choice]", label="Picking list")
    with page.context.expect_page() as opened:
        page.click("[data-print-selected]")
    url = urlsplit(opened.value.url)
    assert url.path == "/a/oms/order/print/picking_list"
    assert sorted(parse_qs(url.query)["ids"]) == sorted(str(o["id"]) for o in orders[:2])
    answer = page.request.get(opened.value.url)
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF")
