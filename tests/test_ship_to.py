"""Ship-to (收货信息): an order takes its customer's address unless one is given, the
warehouse sees it, each parcel keeps the address it was packed for, and the customer's
tracking page shows only the region and a masked name. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from apploom.web import create_app
from tests.test_journey import Shop, tracking_url

ADDRESS = {
    "recipient": "张三丰",
    "phone": "13800138000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address": "文三路 90 号 2 幢 301 室",
    "postcode": "310012",
}


@pytest.fixture
def shop(runtime):
    shop = Shop(runtime)
    customer = shop.call("sales", "get", f"/api/v1/crm/customer/{shop.customer}")
    shop.call(
        "sales",
        "patch",
        f"/api/v1/crm/customer/{shop.customer}",
        json={**ADDRESS, "version": customer["version"]},
    )
    return shop


def ship_to(record):
    return {
        name: record[f"ship_{name}"]
        for name in ("name", "phone", "province", "city", "district", "address", "postcode")
    }


def test_an_order_takes_its_customers_address_unless_one_is_given(shop):
    order = shop.order((shop.tea, 1))
    assert ship_to(order) == {
        "name": "张三丰",
        "phone": "13800138000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路 90 号 2 幢 301 室",
        "postcode": "310012",
    }
    assert order["ship_country"] == "CN"

    elsewhere = shop.order(
        (shop.tea, 1), ship_city="宁波市", ship_district="鄞州区", ship_address="天童南路 588 号"
    )
    assert (elsewhere["ship_city"], elsewhere["ship_district"]) == ("宁波市", "鄞州区")
    assert elsewhere["ship_address"] == "天童南路 588 号"
    assert elsewhere["ship_name"] == "张三丰"  # what was not given still comes from the customer

    seen = shop.call("warehouse", "get", f"/api/v1/oms/order/{order['id']}")
    assert ship_to(seen) == ship_to(order)  # the warehouse reads where it goes


def test_a_parcel_keeps_the_address_it_was_packed_for(shop):
    shop.purchase(shop.tea, 2)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 2)), "confirm")
    shop.take("warehouse", "oms/order", order, "pick")
    [parcel] = shop.call("warehouse", "get", f"/api/v1/oms/shipment?order={order['id']}")["data"]
    assert ship_to(parcel) == ship_to(order)

    current = shop.get("oms/order", order)
    shop.call(
        "sales",
        "patch",
        f"/api/v1/oms/order/{order['id']}",
        json={"ship_address": "文一西路 969 号", "version": current["version"]},
    )
    again = shop.call("warehouse", "get", f"/api/v1/oms/shipment/{parcel['id']}")
    assert again["ship_address"] == "文三路 90 号 2 幢 301 室"


def test_the_tracking_page_shows_the_region_and_a_masked_name_only(shop):
    shop.purchase(shop.tea, 1)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    shop.take("warehouse", "oms/order", order, "pick")
    shop.take("warehouse", "oms/order", order, "ship", carrier="sf")
    page = create_app(runtime=shop.rt).test_client().get(tracking_url(shop, shop.emails()[-1]))
    text = page.get_data(as_text=True)
    assert "浙江省 杭州市 西湖区 张**" in text
    for private in ("张三丰", "13800138000", "文三路", "310012"):
        assert private not in text
