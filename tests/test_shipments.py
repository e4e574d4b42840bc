"""Shipments (发货单) through the REST API: an order leaves in parcels, one per warehouse or
split by hand, each with its own carrier and tracking number; the order is partly shipped
until the last one leaves, the customer is told per parcel, and returns are bound to what
the parcels carried. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from apploom.web import create_app
from tests.test_journey import Shop, tracking_url

PARCELS = "oms/shipment"


@pytest.fixture
def shop(runtime):
    return Shop(runtime)


def picked(shop, *lines):
    order = shop.take("sales", "oms/order", shop.order(*lines), "confirm")
    assert order["status"] == "confirmed", order["shortage"]
    shop.take("warehouse", "oms/order", order, "pick")
    return order


def parcels_of(shop, order):
    found = shop.call("sales", "get", f"/api/v1/{PARCELS}?order={order['id']}&sort=id")
    return found["data"]


def parcel(shop, order, warehouse, *lines):
    return shop.api["warehouse"].post(
        f"/api/v1/{PARCELS}",
        json={
            "order": order["id"],
            "warehouse": warehouse,
            "lines": [{"item": item, "qty": qty} for item, qty in lines],
        },
    )


def shorten(shop, packed, qty):
    """Take all but ``qty`` of the parcel's first line out of it."""
    return shop.call(
        "warehouse",
        "patch",
        f"/api/v1/{PARCELS}/{packed['id']}",
        json={
            "lines": [{"id": packed["lines"][0]["id"], "qty": qty}],
            "version": packed["version"],
        },
    )


def test_an_order_reserved_in_two_warehouses_ships_in_two_parcels(shop):
    """It was reserved across two warehouses and shipped under one tracking number."""
    shop.purchase(shop.tea, 2, warehouse=shop.east)
    shop.purchase(shop.cup, 1, warehouse=shop.west)
    order = picked(shop, (shop.tea, 2), (shop.cup, 1))
    east, west = sorted(parcels_of(shop, order), key=lambda p: p["warehouse"] != shop.east)
    assert (east["warehouse"], west["warehouse"]) == (shop.east, shop.west)
    assert east["status"] == west["status"] == "picking"
    assert east["contents"] == "2 x TEA Longjing tea" and west["contents"] == "1 x CUP Cup"
    assert east["customer"] == shop.customer

    first = shop.take("warehouse", PARCELS, east, "ship", carrier="sf")
    assert re.fullmatch(r"SF\d{11}", first["tracking_number"])
    half = shop.get("oms/order", order)
    assert half["status"] == "partly_shipped" and half["shipped_at"] is None
    assert half["tracking_number"] == first["tracking_number"]
    assert shop.stock(shop.tea, shop.east) == (0, 0)
    assert shop.stock(shop.cup, shop.west) == (1, 1)  # still held for the second parcel
    told = shop.emails()[-1]
    assert first["number"] in told["body"] and first["tracking_number"] in told["body"]
    assert "2 x TEA Longjing tea" in told["body"] and "Cup" not in told["body"]

    second = shop.take("warehouse", PARCELS, west, "ship", carrier="zto")
    assert second["tracking_number"].startswith("ZT")
    done = shop.get("oms/order", order)
    assert done["status"] == "shipped" and done["shipped_at"] is not None
    assert done["tracking_number"] == f"{first['tracking_number']}, {second['tracking_number']}"
    assert [(line["shipped"], line["reserved"]) for line in done["lines"]] == [(2, 0), (1, 0)]
    assert shop.stock(shop.cup, shop.west) == (0, 0)

    page = create_app(runtime=shop.rt).test_client().get(tracking_url(shop, shop.emails()[-1]))
    text = page.get_data(as_text=True)
    for sent in (first, second):
        assert sent["number"] in text and sent["tracking_number"] in text
    assert "SF Express" in text and "ZTO Express" in text


def test_a_parcel_carries_only_what_the_order_holds_and_no_other_parcel_carries(shop):
    shop.purchase(shop.tea, 5)
    confirmed = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    early = parcel(shop, confirmed, shop.east, (shop.tea, 1))
    assert early.status_code == 422
    assert early.json["error"]["fields"] == {
        "order": f"{confirmed['number']} is confirmed: parcels are packed once an order is picked"
    }
    order = picked(shop, (shop.tea, 3))
    (packed,) = parcels_of(shop, order)
    number = order["number"]
    more = parcel(shop, order, shop.east, (shop.tea, 1))
    assert more.json["error"]["fields"] == {
        "lines.0.item": f"{number} holds none of this item here for a parcel"
    }
    shorter = shorten(shop, packed, 2)
    assert shorter["contents"] == "2 x TEA Longjing tea"
    too_many = parcel(shop, order, shop.east, (shop.tea, 2))
    assert too_many.json["error"]["fields"] == {
        "lines.0.qty": f"at most 1: what {number} holds here unpacked"
    }
    elsewhere = parcel(shop, order, shop.west)
    assert elsewhere.json["error"]["fields"] == {
        "lines": f"{number} holds nothing in this warehouse that no parcel carries"
    }
    rest = parcel(shop, order, shop.east)  # no lines: what is left
    assert rest.status_code == 201
    assert [(line["item"], line["qty"]) for line in rest.json["lines"]] == [(shop.tea, 1)]
    assert shop.stock(shop.tea) == (5, 4)  # packing moves no stock: both orders hold theirs


def test_a_part_shipped_is_all_a_return_can_bring_back_and_the_rest_ships_later(shop):
    shop.purchase(shop.tea, 5)
    order = picked(shop, (shop.tea, 3))
    (packed,) = parcels_of(shop, order)
    shorten(shop, packed, 2)
    shop.take("warehouse", PARCELS, packed, "ship", carrier="sf")
    part = shop.get("oms/order", order)
    assert part["status"] == "partly_shipped"
    assert (part["lines"][0]["shipped"], part["lines"][0]["reserved"]) == (2, 1)
    assert shop.stock(shop.tea) == (3, 1)

    def ask(qty):
        return shop.api["service"].post(
            "/api/v1/oms/return",
            json={
                "order": order["id"],
                "reason": "damaged",
                "warehouse": shop.east,
                "lines": [{"item": shop.tea, "qty": qty}],
            },
        )

    assert ask(3).json["error"]["fields"] == {
        "lines.0.qty": f"at most 2 can come back: {order['number']} shipped 2, "
        "and 0 came back already"
    }
    assert ask(2).status_code == 201

    done = shop.take("warehouse", "oms/order", order, "ship", carrier="yto")  # the rest
    assert done["status"] == "shipped" and done["lines"][0]["shipped"] == 3
    later = [p for p in parcels_of(shop, order) if p["id"] != packed["id"]]
    assert [(p["status"], p["carrier"], p["contents"]) for p in later] == [
        ("shipped", "yto", "1 x TEA Longjing tea")
    ]
    assert shop.stock(shop.tea) == (2, 0)


def test_a_cancelled_parcel_leaves_its_goods_to_the_next(shop):
    shop.purchase(shop.tea, 5)
    order = picked(shop, (shop.tea, 2))
    (packed,) = parcels_of(shop, order)
    shop.take("warehouse", PARCELS, packed, "cancel")
    assert shop.stock(shop.tea) == (5, 2)  # still the order's
    again = parcel(shop, order, shop.east)
    assert again.json["lines"][0]["qty"] == 2
    shipped = shop.take("warehouse", "oms/order", order, "ship", carrier="sf")
    assert shipped["status"] == "shipped"
    states = sorted(p["status"] for p in parcels_of(shop, order))
    assert states == ["cancelled", "shipped"]


def test_a_tracking_number_typed_on_the_order_goes_to_its_only_parcel(shop):
    shop.purchase(shop.tea, 5)
    order = picked(shop, (shop.tea, 1))
    shop.call(
        "sales",
        "patch",
        f"/api/v1/oms/order/{order['id']}",
        json={"tracking_number": "SF1", "version": shop.get("oms/order", order)["version"]},
    )
    shipped = shop.take("warehouse", "oms/order", order, "ship", carrier="sf")
    assert shipped["tracking_number"] == "SF1"
    assert [p["tracking_number"] for p in parcels_of(shop, order)] == ["SF1"]
