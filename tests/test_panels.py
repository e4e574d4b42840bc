"""What points at a record shows on its page: a customer's purchase history with lifetime
value and last order, an item's stock per warehouse; and a balance has its own list."""

from __future__ import annotations

import re

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.records.related import related_panels
from apploom.web import create_app
from tests.helpers import browser, reopen


def order(rt, shop, total_qty, day, then=("confirm",)):
    made = rt.records.create(
        SYSTEM_USER,
        "oms.order",
        shop.order(
            ordered_at=day, lines=[{"item": shop.cup["id"], "qty": total_qty, "price": "10.00"}]
        ),
    )
    for step in then:
        rt.transitions.take(SYSTEM_USER, "oms.order", made["id"], step)
    return made


def test_a_customers_purchase_history_counts_what_they_bought(runtime, shop):
    order(runtime, shop, 2, "2026-10-01")
    order(runtime, shop, 3, "2026-11-05")
    order(runtime, shop, 9, "2026-11-20", then=("cancel",))  # not bought
    order(runtime, shop, 9, "2026-11-21", then=())  # a draft, not yet
    customer = runtime.records.entity("crm.customer")
    panels = {
        p.entity.qualified: p
        for p in related_panels(runtime.records, SYSTEM_USER, customer, shop.customer["id"])
    }
    history = panels["oms.order"]
    assert history.label.en == "Purchase history" and history.total == 2
    figures = {text.en: value for text, _, value in history.figures}
    assert figures == {"Lifetime value": "50.00", "Last order": "2026-11-05"}
    assert history.params == {
        "status__not_in": "draft,cancelled",
        "customer": str(shop.customer["id"]),
    }
    assert "crm.activity" not in panels or panels["crm.activity"].total >= 1


def test_a_user_sees_only_panels_of_what_they_may_read(runtime, shop):
    order(runtime, shop, 1, "2026-11-01")
    clerk = runtime.users.create("wes", ["warehouse"], "password1234")
    customer = runtime.records.entity("crm.customer")
    seen = {
        p.entity.qualified
        for p in related_panels(runtime.records, clerk, customer, shop.customer["id"])
    }
    assert "oms.order" in seen and "crm.opportunity" not in seen  # wms reads orders only


def test_record_pages_show_history_stock_and_the_balance_list(runtime, shop):
    order(runtime, shop, 4, "2026-11-01")
    runtime.users.create("max", ["manager"], "password1234")
    screens = browser(create_app(runtime=runtime), "max")
    customer_page = screens.get(f"/a/crm/customer/{shop.customer['id']}").get_data(as_text=True)
    assert "Purchase history" in customer_page
    assert "Lifetime value: <strong>CN¥40.00" in customer_page
    item_page = screens.get(f"/a/wms/item/{shop.cup['id']}").get_data(as_text=True)
    stock = re.search(r'<section class="balance-panel">.*?</section>', item_page, re.S)[0]
    assert "Shanghai" in stock and re.search(
        r"<td[^>]*>100</td>\s*<td[^>]*>4</td>\s*"
        r"<td[^>]*><strong>96</strong>",
        stock,
    )
    assert "Stock move" in item_page  # the ledger, most recent first
    listing = screens.get("/a/wms/balances/stock?sort=-available").get_data(as_text=True)
    body = re.search("<tbody>.*</tbody>", listing, re.S)[0]
    assert body.index("CUP-1") > body.index("POT-1")  # 100 free before 96
    only = screens.get(f"/a/wms/balances/stock?item={shop.pot['id']}").get_data(as_text=True)
    assert "POT-1" in only and "CUP-1 Cup</a>" not in only
    assert screens.get("/a/crm/balances/stock").status_code == 404
    home = screens.get("/a/wms").get_data(as_text=True)
    assert "/a/wms/balances/stock" in home


BINS = """
app: bins
roles: [clerk]
permissions: {clerk: all}
entities:
  part:
    fields: {name: {type: text}}
    title: "{name}"
  move:
    fields:
      part: {type: ref, to: part}
      bin: {type: select, options: [{value: a, label: Shelf A}, {value: b, label: Shelf B}]}
      qty: {type: integer}
    balances:
      level:
        by: [part, bin]
        sums: {units: "qty"}
"""


def test_a_balance_key_that_is_not_a_ref_shows_its_value(sqlite_runtime):
    rt = reopen(sqlite_runtime, bundled_sources() + [Source("bins.yaml", BINS)])
    bolt = rt.records.create(SYSTEM_USER, "bins.part", {"name": "Bolt"})
    rt.records.create(SYSTEM_USER, "bins.move", {"part": bolt["id"], "bin": "b", "qty": 3})
    rt.users.create("cleo", ["clerk"], "password1234")
    screens = browser(create_app(runtime=rt), "cleo")
    listing = screens.get("/a/bins/balances/level")
    assert listing.status_code == 200
    assert re.search(r"Bolt</a></td>\s*<td><a [^>]*>Shelf B</a>", listing.get_data(as_text=True))
    part_page = screens.get(f"/a/bins/part/{bolt['id']}")
    assert part_page.status_code == 200 and "Shelf B" in part_page.get_data(as_text=True)
    rt.close()


def test_a_panel_links_to_a_page_about_the_record_even_while_empty(sqlite_runtime):
    linked = BINS.replace(
        "part: {type: ref, to: part}",
        "part: {type: ref, to: part, related: {link: {label: Labels, to: '/labels/{id}'}}}",
    )
    rt = reopen(sqlite_runtime, bundled_sources() + [Source("bins.yaml", linked)])
    bolt = rt.records.create(SYSTEM_USER, "bins.part", {"name": "Bolt"})
    rt.users.create("cleo", ["clerk"], "password1234")
    page = browser(create_app(runtime=rt), "cleo").get(f"/a/bins/part/{bolt['id']}")
    assert f'<a href="/labels/{bolt["id"]}">Labels →</a>' in page.get_data(as_text=True)
    rt.close()
