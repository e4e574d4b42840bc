"""Scans on the warehouse floor, checked by the engine whoever sends them: the screens or
a handheld's own app through the API's ``scan`` webhooks. A parcel is picked item by
item, a purchase order received into a goods receipt, a stock count posts its
differences; wrong items, too many, the wrong state and the wrong role are refused.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.test_journey import Shop


@pytest.fixture
def shop(runtime):
    found = Shop(runtime)
    runtime.records.update(
        SYSTEM_USER, "wms.item", found.cup, {"barcode": "6901234567892"}, version=1
    )
    return found


def scan(shop, role, path, record_id, code, qty=None):
    body = {"code": code} if qty is None else {"code": code, "qty": qty}
    return shop.api[role].post(f"/api/v1/{path}/{record_id}/webhooks/scan", json=body)


def a_parcel(shop, *lines):
    shop.purchase(shop.tea, 10)
    shop.purchase(shop.cup, 10)
    order = shop.take("sales", "oms/order", shop.order(*lines), "confirm")
    shop.take("warehouse", "oms/order", order, "pick")
    return shop.call("warehouse", "get", f"/api/v1/oms/shipment?order={order['id']}")["data"][0]


def test_a_parcel_is_picked_by_scanning_and_ships_once_all_is_scanned(shop):
    parcel = a_parcel(shop, (shop.tea, 2), (shop.cup, 1))
    assert scan(shop, "warehouse", "oms/shipment", parcel["id"], "tea").status_code == 200
    refused = shop.api["warehouse"].post(
        f"/api/v1/oms/shipment/{parcel['id']}/transitions/ship", json={"carrier": "sf"}
    )
    assert refused.status_code == 422
    assert "not scanned yet" in refused.json["error"]["fields"]["status"]
    scan(shop, "warehouse", "oms/shipment", parcel["id"], "TEA")
    done = scan(shop, "warehouse", "oms/shipment", parcel["id"], "6901234567892").json
    assert [(line["qty"], line["picked"]) for line in done["lines"]] == [(2, 2), (1, 1)]
    shipped = shop.take("warehouse", "oms/shipment", parcel, "ship", carrier="sf")
    assert shipped["status"] == "shipped" and shipped["tracking_number"]


def test_a_wrong_item_or_one_too_many_is_refused_and_changes_nothing(shop):
    parcel = a_parcel(shop, (shop.tea, 1))
    tea_only = scan(shop, "warehouse", "oms/shipment", parcel["id"], "CUP")
    assert tea_only.status_code == 422
    assert tea_only.json["error"]["fields"]["code"] == "CUP Cup is not in this parcel"
    unknown = scan(shop, "warehouse", "oms/shipment", parcel["id"], "NOPE-1")
    assert "no item has the SKU or barcode NOPE-1" in unknown.json["error"]["fields"]["code"]
    assert scan(shop, "warehouse", "oms/shipment", parcel["id"], "TEA").status_code == 200
    again = scan(shop, "warehouse", "oms/shipment", parcel["id"], "TEA")
    assert again.status_code == 422
    assert again.json["error"]["fields"]["code"] == (
        "TEA Longjing tea: the parcel takes 1, 1 already scanned"
    )
    two = scan(shop, "warehouse", "oms/shipment", parcel["id"], "TEA", qty=0)
    assert "whole number" in two.json["error"]["fields"]["qty"]
    stored = shop.call("warehouse", "get", f"/api/v1/oms/shipment/{parcel['id']}")
    assert stored["lines"][0]["picked"] == 1


def test_scans_need_the_right_to_change_the_record_and_its_state(shop):
    parcel = a_parcel(shop, (shop.tea, 1))
    by_sales = scan(shop, "sales", "oms/shipment", parcel["id"], "TEA")
    assert by_sales.status_code == 403  # sales read parcels, they do not pick them
    scan(shop, "warehouse", "oms/shipment", parcel["id"], "TEA")
    shop.take("warehouse", "oms/shipment", parcel, "ship", carrier="zto")
    late = scan(shop, "warehouse", "oms/shipment", parcel["id"], "TEA")
    assert late.status_code == 422
    assert "only a parcel being picked is scanned" in late.json["error"]["fields"]["code"]


def test_a_purchase_order_is_received_by_scanning_into_one_goods_receipt(shop):
    po = shop.purchase(shop.tea, 5, receive=False)
    for code, qty in (("TEA", 2), ("tea", "1")):  # a SKU in any case, a quantity as typed
        assert scan(shop, "warehouse", "wms/purchase_order", po["id"], code, qty).status_code == 200
    wrong = scan(shop, "warehouse", "wms/purchase_order", po["id"], "CUP")
    assert wrong.json["error"]["fields"]["code"] == f"CUP Cup is not on {po['number']}"
    over = scan(shop, "warehouse", "wms/purchase_order", po["id"], "TEA", qty=3)
    assert over.status_code == 422  # the goods receipt's own rule: 5 ordered
    assert "still expects 5" in " ".join(over.json["error"]["fields"].values())
    receipts = shop.call("warehouse", "get", f"/api/v1/wms/goods_receipt?purchase_order={po['id']}")
    (receipt,) = receipts["data"]
    assert [(line["item"], line["qty"]) for line in receipt["lines"]] == [(shop.tea, 3)]
    shop.take("warehouse", "wms/goods_receipt", receipt, "post")
    assert shop.stock(shop.tea) == (3, 0)
    by_buyer = scan(shop, "buyer", "wms/purchase_order", po["id"], "TEA")
    assert by_buyer.status_code == 403  # purchasing reads goods receipts, it makes none


def test_a_stock_count_posts_its_differences_as_gains_and_losses(shop):
    shop.purchase(shop.tea, 10)
    shop.purchase(shop.cup, 4)
    count = shop.call("warehouse", "post", "/api/v1/wms/stock_count", json={"warehouse": shop.east})
    for code, qty in (("TEA", 6), ("TEA", 1), ("6901234567892", 5)):
        assert scan(shop, "warehouse", "wms/stock_count", count["id"], code, qty).status_code == 200
    counted = shop.call("warehouse", "get", f"/api/v1/wms/stock_count/{count['id']}")
    assert [(line["item"], line["counted"]) for line in counted["lines"]] == [
        (shop.tea, 7),
        (shop.cup, 5),
    ]
    posted = shop.take("warehouse", "wms/stock_count", counted, "post")
    assert [(line["on_hand"], line["difference"]) for line in posted["lines"]] == [(10, -3), (4, 1)]
    assert shop.stock(shop.tea) == (7, 0) and shop.stock(shop.cup) == (5, 0)
    late = scan(shop, "warehouse", "wms/stock_count", count["id"], "TEA")
    assert "only a count in progress takes scans" in late.json["error"]["fields"]["code"]


def test_a_count_holds_one_line_per_item(shop):
    twice = shop.api["warehouse"].post(
        "/api/v1/wms/stock_count",
        json={
            "warehouse": shop.east,
            "lines": [{"item": shop.tea, "counted": 1}, {"item": shop.tea, "counted": 2}],
        },
    )
    assert twice.status_code == 422
    assert "earlier line" in twice.json["error"]["fields"]["lines.1.item"]
    empty = shop.call("warehouse", "post", "/api/v1/wms/stock_count", json={"warehouse": shop.east})
    nothing = shop.api["warehouse"].post(
        f"/api/v1/wms/stock_count/{empty['id']}/transitions/post", json={}
    )
    assert nothing.status_code == 422
