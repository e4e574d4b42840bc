"""The price guard on orders whose prices staff type (store, phone, email): a line sold
below its item's cost, or more than 20 % below its list price, needs a manager to
confirm; a salesperson is refused with the line named. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from apploom.web import create_app
from tests.helpers import Api
from tests.test_journey import Shop


@pytest.fixture
def shop(runtime):
    shop = Shop(runtime)  # items list at 20.00 and cost 8.00
    runtime.users.create("mia", ["manager"], "password1234")
    shop.api["manager"] = Api(
        create_app(runtime=runtime).test_client(), runtime.users.create_token("mia")
    )
    shop.purchase(shop.tea, 20)
    return shop


def phone_order(shop, price, qty=1, discount="0", channel="phone"):
    return shop.call(
        "sales",
        "post",
        "/api/v1/oms/order",
        json={
            "customer": shop.customer,
            "channel": channel,
            "lines": [{"item": shop.tea, "qty": qty, "price": price, "discount": discount}],
        },
    )


def confirm(shop, role, order):
    return shop.api[role].post(f"/api/v1/oms/order/{order['id']}/transitions/confirm")


def test_a_price_far_below_list_needs_a_manager(shop):
    order = phone_order(shop, "15.00")  # 25 % off
    refused = confirm(shop, "sales", order)
    assert refused.status_code == 422
    assert refused.json["error"]["fields"] == {
        "lines.0.price": "sells at 15.00, more than 20% below the list price 20.00: "
        "a manager must confirm"
    }
    assert shop.get("oms/order", order)["status"] == "draft"
    assert shop.stock(shop.tea) == (20, 0)  # nothing reserved by the refused confirm

    approved = confirm(shop, "manager", order)
    assert approved.status_code == 200 and approved.json["status"] == "confirmed"


def test_below_cost_is_refused_and_a_small_discount_goes_through(shop):
    below_cost = confirm(shop, "sales", phone_order(shop, "7.50"))
    assert "below the item's cost 8.00" in below_cost.json["error"]["fields"]["lines.0.price"]
    fair = confirm(shop, "sales", phone_order(shop, "17.00"))  # 15 % off
    assert fair.status_code == 200 and fair.json["status"] == "confirmed"


def test_a_line_discount_counts_in_the_price_it_sells_at(shop):
    order = phone_order(shop, "20.00", qty=2, discount="10.00")  # 15.00 each
    assert (
        "sells at 15.00" in confirm(shop, "sales", order).json["error"]["fields"]["lines.0.price"]
    )


def test_platform_orders_keep_the_platforms_prices(shop):
    web = confirm(shop, "sales", phone_order(shop, "10.00", channel="web"))
    assert web.status_code == 200 and web.json["status"] == "confirmed"


def test_a_refused_transition_says_why_in_words(shop):
    order = shop.take("sales", "oms/order", phone_order(shop, "20.00"), "confirm")
    refused = shop.api["manager"].post(f"/api/v1/oms/order/{order['id']}/transitions/backorder")
    assert refused.status_code == 422
    assert refused.json["error"]["fields"] == {
        "status": "Every line is reserved: nothing is missing"
    }
