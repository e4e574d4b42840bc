"""Orders from a sales channel's webhook: signed per channel, customer found or created,
items by SKU, confirmed on arrival, and never twice for the same external id."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.access.signatures import signature
from apploom.web import create_app
from tests.helpers import Shop, make_runtime

SECRET = "mk-s3cret"
ORDER = {
    "external_id": "TB-1001",
    "order_date": "2026-11-27",
    "payment": {"method": "alipay", "reference": "2026112722001"},
    "customer": {"email": "new@example.com", "name": "李雷"},
    "lines": [{"sku": "CUP-1", "qty": 2, "price": "12.50"}],
}


@pytest.fixture
def shop(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("APPLOOM_CHANNEL_SECRETS", f"marketplace={SECRET}, web=other")
    rt = make_runtime(database_url, tmp_path / "instance", webhook_user="shopbot")
    rt.users.create("shopbot", ["sales"], "password1234")
    shop = Shop(rt)
    shop.rt, shop.client = rt, create_app(runtime=rt).test_client()
    yield shop
    rt.close()


def deliver(shop, body, channel="marketplace", secret=SECRET, at=None):
    """POST an order signed now (or at ``at``, a unix time): each call signed anew."""
    data = json.dumps(body).encode()
    return shop.client.post(
        f"/hooks/orders/{channel}",
        data=data,
        headers={
            "Content-Type": "application/json",
            "X-AppLoom-Signature": signature(secret, f"/hooks/orders/{channel}", data, at),
        },
    )


def test_a_signed_order_is_created_confirmed_and_its_customer_made(shop):
    made = deliver(shop, ORDER)
    assert made.status_code == 201, made.json
    order = made.json
    assert order["channel"] == "marketplace" and order["status"] == "confirmed"
    assert order["lines"][0]["reserved"] == 2 and order["payment_status"] == "paid"
    assert order["paid"] == order["total"] == "25.00"
    [payment] = shop.rt.records.list(SYSTEM_USER, "oms.payment").data
    assert (payment["method"], payment["reference"]) == ("alipay", "2026112722001")
    customer = shop.rt.records.get(SYSTEM_USER, "crm.customer", order["customer"])
    assert (customer["name"], customer["email"]) == ("李雷", "new@example.com")
    again = deliver(
        shop, {**ORDER, "customer": {"email": "zs@example.com"}, "external_id": "TB-1002"}
    )
    assert again.json["customer"] == shop.customer["id"]


def test_a_delivery_sent_twice_makes_one_order(shop):
    now = int(time.time())
    first, second = deliver(shop, ORDER, at=now), deliver(shop, ORDER, at=now - 1)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["id"] == first.json["id"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda n: deliver(shop, {**ORDER, "external_id": "TB-2"}, at=now - 2 - n), range(4)
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json["id"] for a in answers}) == 1
    assert shop.rt.records.list(SYSTEM_USER, "oms.order").total == 2
    assert deliver(shop, ORDER, channel="web", secret="other").status_code == 201


def test_signatures_are_checked_per_channel(shop):
    assert deliver(shop, ORDER, secret="guess").status_code == 401
    assert deliver(shop, ORDER, channel="web", secret=SECRET).status_code == 401
    assert deliver(shop, ORDER, channel="phone").status_code == 404  # no secret: no hook
    assert shop.rt.records.list(SYSTEM_USER, "oms.order").total == 0


def test_a_bad_order_is_refused_with_the_field_named_and_nothing_kept(shop):
    bad = deliver(
        shop,
        {
            **ORDER,
            "lines": [
                {"sku": "CUP-1", "qty": 1, "price": "1"},
                {"sku": "NOPE", "qty": 1, "price": "1"},
            ],
        },
    )
    assert bad.status_code == 422
    assert bad.json["error"]["fields"] == {"lines.1.sku": "there is no item with SKU 'NOPE'"}
    no_id = deliver(shop, {**ORDER, "external_id": ""})
    assert no_id.json["error"]["fields"]["external_id"].startswith("is needed")
    unpaid = deliver(shop, {**ORDER, "payment": {"method": "wire"}})
    assert unpaid.json["error"]["fields"] == {
        "payment.method": "'wire' is not an option; choose one of: "
        "cash, bank_transfer, alipay, wechat_pay, card"
    }
    typed = deliver(shop, {**ORDER, "payment": None, "payment_status": "paid"})
    assert typed.json["error"]["fields"] == {
        "payment_status": "follows the order's payments: send payment: {method, reference}"
    }
    assert shop.rt.records.list(SYSTEM_USER, "crm.customer").total == 2  # none made
    assert shop.rt.records.list(SYSTEM_USER, "oms.payment").total == 0


def test_the_webhook_user_needs_the_right_to_confirm(shop):
    shop.rt.users.create("reader", ["service"], "password1234")
    shop.rt.settings = replace(shop.rt.settings, webhook_user="reader")  # service: no confirm
    refused = deliver(shop, ORDER)
    assert refused.status_code == 403
    assert shop.rt.records.list(SYSTEM_USER, "oms.order").total == 0
