"""The order's whole journey through the REST API, as the bundled apps define it: stock
arrives, orders reserve it or are backordered (the customer told when to expect the
goods), arrivals serve backorders first come first served, shipping issues the stock and
sends the tracking number, cancelling releases, returns restock. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from apploom.engine import clock, formatting
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import outbox
from apploom.engine.errors import Conflict, ValidationFailed
from apploom.engine.query.filters import Query
from apploom.web import create_app
from tests.helpers import Api, browser, bundled_with, reopen

ROLES = {
    "sales": ["sales"],
    "warehouse": ["warehouse"],
    "service": ["service"],
    "buyer": ["purchasing"],
}


class Shop:
    """Two warehouses, three items, a customer, and an API client for each role."""

    def __init__(self, rt):
        self.rt = rt
        app = create_app(runtime=rt)
        self.api = {}
        for name, roles in ROLES.items():
            rt.users.create(name, roles, "password1234")
            self.api[name] = Api(app.test_client(), rt.users.create_token(name))
        create = rt.records.create
        self.east = create(SYSTEM_USER, "wms.warehouse", {"code": "E1", "name": "East"})["id"]
        self.west = create(SYSTEM_USER, "wms.warehouse", {"code": "W1", "name": "West"})["id"]
        self.tea = self.item("TEA", "Longjing tea", lead_time_days=10)
        self.cup = self.item("CUP", "Cup", lead_time_days=3)
        self.customer = create(
            SYSTEM_USER, "crm.customer", {"name": "张三", "email": "zs@example.com"}
        )["id"]

    def item(self, sku, name, **more):
        return self.rt.records.create(
            SYSTEM_USER,
            "wms.item",
            {"sku": sku, "name": name, "price": "20.00", "cost": "8.00", **more},
        )["id"]

    def call(self, role, method, url, **kwargs):
        response = getattr(self.api[role], method)(url, **kwargs)
        assert response.status_code < 300, response.json
        return response.json

    def purchase(self, item, qty, warehouse=None, expected=None, receive=True):
        po = self.call(
            "buyer",
            "post",
            "/api/v1/wms/purchase_order",
            json={
                "supplier": "Hangzhou Tea Co.",
                "warehouse": warehouse or self.east,
                "expected_date": expected,
                "lines": [{"item": item, "qty": qty, "cost": "8.00"}],
            },
        )
        self.call("buyer", "post", f"/api/v1/wms/purchase_order/{po['id']}/transitions/place")
        if receive:
            return self.take("warehouse", "wms/purchase_order", po, "receive")
        return po

    def order(self, *lines, **more):
        return self.call(
            "sales",
            "post",
            "/api/v1/oms/order",
            json={
                "customer": self.customer,
                "channel": "web",
                **more,
                "lines": [{"item": item, "qty": qty, "price": "20.00"} for item, qty in lines],
            },
        )

    def pay(self, order, amount=None, method="alipay"):
        """A payment of the order: of its whole total unless told."""
        data = {"order": order["id"], "amount": amount or order["total"], "method": method}
        return self.call("sales", "post", "/api/v1/oms/payment", json=data)

    def take(self, role, path, record, name, **data):
        return self.call(
            role, "post", f"/api/v1/{path}/{record['id']}/transitions/{name}", json=data
        )

    def get(self, path, record):
        return self.call("sales", "get", f"/api/v1/{path}/{record['id']}")

    def stock(self, item, warehouse=None):
        row = self.rt.balances.read("stock", item=item, warehouse=warehouse or self.east)
        return (row["on_hand"], row["reserved"]) if row else (0, 0)

    def emails(self):
        return [m["payload"] for m in outbox.messages(self.rt.db) if m["kind"] == "email"]


@pytest.fixture
def shop(runtime):
    return Shop(runtime)


def test_an_order_in_stock_is_reserved_shipped_with_tracking_and_issued(shop):
    shop.purchase(shop.tea, 10)
    assert shop.stock(shop.tea) == (10, 0)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 3)), "confirm")
    assert order["status"] == "confirmed"
    assert order["lines"][0]["reserved"] == 3 and order["lines"][0]["warehouse"] == shop.east
    assert shop.stock(shop.tea) == (10, 3)

    shop.take("warehouse", "oms/order", order, "pick")
    shipped = shop.take("warehouse", "oms/order", order, "ship", carrier="sf")
    assert shipped["status"] == "shipped"
    assert re.fullmatch(r"SF\d{11}", shipped["tracking_number"])
    assert shop.stock(shop.tea) == (7, 0)
    email = shop.emails()[-1]
    assert email["to"] == "zs@example.com"
    assert shipped["tracking_number"] in email["body"]
    assert f"/track/{shipped['number']}?t=" in email["body"]
    # 张三 reads Chinese (a customer's language unless set): the carrier by its Chinese name
    assert "已由 顺丰速运 发出" in email["body"] and "Hello" not in email["body"]


def test_a_customer_is_written_to_in_their_language_with_values_as_they_read_them(shop):
    arriving = clock.today() + timedelta(days=5)
    shop.purchase(shop.tea, 20, expected=arriving.isoformat(), receive=False)
    english = shop.rt.records.create(
        SYSTEM_USER, "crm.customer", {"name": "Ann", "email": "ann@example.com", "language": "en"}
    )["id"]
    shop.take("sales", "oms/order", shop.order((shop.tea, 2), customer=english), "confirm")
    email = shop.emails()[-1]
    assert email["to"] == "ann@example.com"
    assert email["subject"].startswith("Some items of order SO-")
    assert formatting.day(arriving, "en") in email["body"] and "您好" not in email["body"]


def test_an_order_out_of_stock_is_backordered_and_the_customer_told_the_date(shop):
    arriving = clock.today() + timedelta(days=5)
    shop.purchase(shop.tea, 20, expected=arriving.isoformat(), receive=False)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 2), (shop.cup, 1)), "confirm")
    assert order["status"] == "backordered"
    assert order["expected_date"] == arriving.isoformat()  # the open purchase order's date
    by_item = {line["item"]: line for line in order["lines"]}
    assert by_item[shop.cup]["expected_date"] == (clock.today() + timedelta(days=3)).isoformat()
    assert "2 x TEA Longjing tea" in order["shortage"]
    email = shop.emails()[-1]
    assert email["to"] == "zs@example.com" and "部分商品缺货" in email["subject"]
    assert formatting.day(arriving, "zh") in email["body"] and "CUP Cup" in email["body"]
    assert shop.stock(shop.tea) == (0, 0)


def test_the_expected_date_counts_what_older_backorders_will_take(shop):
    soon, later = (clock.today() + timedelta(days=d) for d in (5, 12))
    shop.purchase(shop.tea, 5, expected=later.isoformat(), receive=False)
    shop.purchase(shop.tea, 5, expected=soon.isoformat(), receive=False)

    def expected(qty):
        order = shop.take("sales", "oms/order", shop.order((shop.tea, qty)), "confirm")
        assert order["status"] == "backordered"
        return order["expected_date"]

    assert expected(4) == soon.isoformat()  # 4 of the 5 arriving soon
    assert expected(1) == soon.isoformat()  # the fifth
    assert expected(3) == later.isoformat()  # the next 5 are needed
    assert expected(3) == (clock.today() + timedelta(days=10)).isoformat()  # lead time


def test_arrivals_serve_backorders_first_come_first_served(shop):
    first = shop.take("sales", "oms/order", shop.order((shop.tea, 3)), "confirm")
    second = shop.take("sales", "oms/order", shop.order((shop.tea, 2)), "confirm")
    assert first["status"] == second["status"] == "backordered"

    shop.purchase(shop.tea, 4)  # enough for the first; the second waits
    assert shop.get("oms/order", first)["status"] == "confirmed"
    assert shop.get("oms/order", second)["status"] == "backordered"
    assert shop.stock(shop.tea) == (4, 3)
    told = shop.emails()[0]  # and the first's customer is told (newest first)
    assert first["number"] in told["subject"] and "已到货" in told["subject"]
    assert f"/track/{first['number']}?t=" in told["body"]

    shop.purchase(shop.tea, 1, warehouse=shop.west)  # 1 + 1 free, but not in one place
    assert shop.get("oms/order", second)["status"] == "backordered"
    shop.purchase(shop.tea, 1, warehouse=shop.west)
    served = shop.get("oms/order", second)
    assert served["status"] == "confirmed" and served["lines"][0]["warehouse"] == shop.west
    assert served["expected_date"] is None and served["shortage"] is None
    assert shop.stock(shop.tea, shop.west) == (2, 2)


def test_a_later_order_does_not_jump_the_queue(shop):
    big = shop.take("sales", "oms/order", shop.order((shop.tea, 5)), "confirm")
    shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    shop.purchase(shop.tea, 3)
    assert shop.get("oms/order", big)["status"] == "backordered"
    waiting = shop.call("sales", "get", "/api/v1/oms/order?status=backordered")
    assert waiting["total"] == 2  # the small order waits behind the big one
    assert shop.stock(shop.tea) == (3, 0)


def test_cancelling_releases_the_reservation(shop):
    shop.purchase(shop.tea, 5)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 4)), "confirm")
    assert shop.stock(shop.tea) == (5, 4)
    cancelled = shop.take("sales", "oms/order", order, "cancel")
    assert cancelled["status"] == "cancelled" and cancelled["lines"][0]["reserved"] == 0
    assert shop.stock(shop.tea) == (5, 0)


def test_a_return_restocks_resaleable_goods_and_refunds(shop):
    shop.purchase(shop.tea, 5)
    shop.purchase(shop.cup, 5)
    placed = shop.order((shop.tea, 2), (shop.cup, 1))
    shop.pay(placed, method="wechat_pay")
    order = shop.take("sales", "oms/order", placed, "confirm")
    shop.take("warehouse", "oms/order", order, "pick")
    shop.take("warehouse", "oms/order", order, "ship", carrier="zto")
    order = shop.take("warehouse", "oms/order", order, "deliver")
    assert shop.stock(shop.tea) == (3, 0) and shop.stock(shop.cup) == (4, 0)
    rma = shop.call(
        "service",
        "post",
        "/api/v1/oms/return",
        json={
            "order": order["id"],
            "reason": "damaged",
            "warehouse": shop.east,
            "lines": [
                {"item": shop.tea, "qty": 2, "resaleable": True},
                {"item": shop.cup, "qty": 1, "resaleable": False},
            ],
        },
    )
    shop.take("warehouse", "oms/return", rma, "receive")
    assert shop.stock(shop.tea) == (5, 0) and shop.stock(shop.cup) == (4, 0)
    refunded = shop.take("service", "oms/return", rma, "refund", refund_amount="60.00")
    assert refunded["refund_status"] == "refunded"
    order = shop.get("oms/order", order)
    assert (order["payment_status"], order["paid"]) == ("refunded", "0.00")
    [refund] = shop.call("sales", "get", f"/api/v1/oms/payment?rma={rma['id']}")["data"]
    assert (refund["amount"], refund["method"]) == ("-60.00", "wechat_pay")  # as it was paid


def ship_and_deliver(shop, order):
    shop.take("warehouse", "oms/order", order, "pick")
    shop.take("warehouse", "oms/order", order, "ship", carrier="sf")
    return shop.take("warehouse", "oms/order", order, "deliver")


def test_a_return_brings_back_only_what_was_shipped_and_refunds_what_was_paid(shop):
    """A return took 100,000 units of an item never ordered, and a refund of 999,999.00."""
    shop.purchase(shop.tea, 5)
    unpaid = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    placed = shop.order((shop.tea, 3))
    shop.pay(placed)
    order = shop.take("sales", "oms/order", placed, "confirm")

    def ask(for_order, *lines, refund=None):
        return shop.api["service"].post(
            "/api/v1/oms/return",
            json={
                "order": for_order["id"],
                "reason": "damaged",
                "warehouse": shop.east,
                "refund_amount": refund,
                "lines": [{"item": i, "qty": q, "resaleable": True} for i, q in lines],
            },
        )

    number = order["number"]
    early = ask(order, (shop.tea, 1))
    assert early.json["error"]["fields"] == {"lines.0.item": f"{number} shipped none of this item"}
    order = ship_and_deliver(shop, order)
    stranger = ask(order, (shop.cup, 100000))
    assert stranger.json["error"]["fields"] == {
        "lines.0.item": f"{number} shipped none of this item"
    }
    too_much = ask(order, (shop.tea, 1), refund="999999.00")
    assert too_much.json["error"]["fields"] == {
        "refund_amount": "may be at most 20.00, what the goods were sold for"
    }
    first = ask(order, (shop.tea, 2), refund="40.00")
    assert first.status_code == 201
    again = ask(order, (shop.tea, 2))
    assert again.json["error"]["fields"] == {
        "lines.0.qty": f"at most 1 can come back: {number} shipped 3, and 2 came back already"
    }
    shop.take("warehouse", "oms/return", first.json, "receive")
    shop.take("service", "oms/return", first.json, "refund")
    assert shop.get("oms/order", order)["payment_status"] == "partially_refunded"
    assert shop.stock(shop.tea) == (4, 1)  # 2 back on the shelf; the unpaid order holds 1
    unpaid = ship_and_deliver(shop, unpaid)
    rma = ask(unpaid, (shop.tea, 1), refund="20.00").json
    shop.take("warehouse", "oms/return", rma, "receive")
    refused = shop.api["service"].post(f"/api/v1/oms/return/{rma['id']}/transitions/refund")
    assert refused.json["error"]["fields"] == {
        "refund_amount": f"{unpaid['number']} has nothing paid to refund"
    }
    assert shop.get("oms/order", unpaid)["payment_status"] == "unpaid"


def test_shipping_without_stock_is_refused_and_nothing_changes(shop):
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    assert order["status"] == "backordered"
    refused = shop.api["warehouse"].post(f"/api/v1/oms/order/{order['id']}/transitions/pick")
    assert refused.status_code == 409


def test_external_order_ids_are_unique_per_channel(shop):
    shop.order((shop.tea, 1), external_id="TB-1001", channel="marketplace")
    again = shop.api["sales"].post(
        "/api/v1/oms/order",
        json={
            "customer": shop.customer,
            "channel": "marketplace",
            "external_id": "TB-1001",
            "lines": [{"item": shop.tea, "qty": 1, "price": "20.00"}],
        },
    )
    assert again.status_code == 422
    assert (
        again.json["error"]["fields"]["external_id"]
        == "is already used by another Sales order with the same channel"
    )
    shop.order((shop.tea, 1), external_id="TB-1001", channel="web")


def test_transfers_move_stock_and_refuse_what_is_not_there(shop):
    shop.purchase(shop.tea, 6)
    transfer = shop.call(
        "warehouse",
        "post",
        "/api/v1/wms/stock_transfer",
        json={
            "from_warehouse": shop.east,
            "to_warehouse": shop.west,
            "lines": [{"item": shop.tea, "qty": 4}],
        },
    )
    shop.take("warehouse", "wms/stock_transfer", transfer, "post")
    assert shop.stock(shop.tea) == (2, 0) and shop.stock(shop.tea, shop.west) == (4, 0)
    again = shop.call(
        "warehouse",
        "post",
        "/api/v1/wms/stock_transfer",
        json={
            "from_warehouse": shop.east,
            "to_warehouse": shop.west,
            "lines": [{"item": shop.tea, "qty": 3}],
        },
    )
    refused = shop.api["warehouse"].post(
        f"/api/v1/wms/stock_transfer/{again['id']}/transitions/post"
    )
    assert refused.status_code == 422
    assert "refused by the stock balance" in refused.json["error"]["message"]
    assert shop.stock(shop.tea) == (2, 0) and shop.stock(shop.tea, shop.west) == (4, 0)


def test_a_purchase_order_arrives_in_parts_through_goods_receipts(shop):
    pot = shop.item("POT", "Teapot")
    po = shop.call(
        "buyer",
        "post",
        "/api/v1/wms/purchase_order",
        json={
            "supplier": "Yixing Pottery",
            "warehouse": shop.east,
            "lines": [
                {"item": shop.tea, "qty": 6, "cost": "8.00"},
                {"item": pot, "qty": 2, "cost": "90.00"},
                {"item": shop.tea, "qty": 4, "cost": "7.50"},
            ],
        },
    )
    shop.take("buyer", "wms/purchase_order", po, "place")
    waiting = shop.order((shop.tea, 7))
    assert shop.take("sales", "oms/order", waiting, "confirm")["status"] == "backordered"

    def receive(*lines):
        made = shop.api["warehouse"].post(
            "/api/v1/wms/goods_receipt",
            json={"purchase_order": po["id"], "lines": [{"item": i, "qty": q} for i, q in lines]},
        )
        if made.status_code != 201:
            return made
        return shop.api["warehouse"].post(
            f"/api/v1/wms/goods_receipt/{made.json['id']}/transitions/post"
        )

    assert receive((shop.tea, 8)).status_code == 200  # fills line 1, then 2 of line 3
    first = shop.get("wms/purchase_order", po)
    assert first["status"] == "partly_received"
    assert [line["received"] for line in first["lines"]] == [6, 0, 2]
    assert shop.stock(shop.tea) == (8, 7)  # and the backorder got its 7
    assert shop.get("oms/order", waiting)["status"] == "confirmed"

    too_many = receive((pot, 1), (shop.tea, 3))
    assert too_many.status_code == 422
    assert too_many.json["error"]["fields"] == {"lines.1.qty": f"{po['number']} still expects 2"}
    stranger = receive((shop.cup, 1))
    assert stranger.json["error"]["fields"] == {"lines.0.item": f"is not on {po['number']}"}
    assert shop.stock(shop.tea) == (8, 7) and shop.stock(pot) == (0, 0)  # nothing posted

    assert receive((pot, 2), (shop.tea, 2)).status_code == 200
    done = shop.get("wms/purchase_order", po)
    assert done["status"] == "received" and [line["received"] for line in done["lines"]] == [
        6,
        2,
        4,
    ]
    assert shop.stock(shop.tea) == (10, 7) and shop.stock(pot) == (2, 0)
    late = receive((pot, 1))
    assert late.status_code == 422
    assert "only against an ordered" in late.json["error"]["fields"]["purchase_order"]


def test_after_a_partial_receipt_the_next_backorder_is_told_the_lead_time(shop):
    po = shop.purchase(
        shop.tea, 10, receive=False, expected=(clock.today() + timedelta(days=5)).isoformat()
    )
    first, second = (
        shop.take("sales", "oms/order", shop.order((shop.tea, 10)), "confirm") for _ in range(2)
    )
    receipt = shop.call(
        "warehouse",
        "post",
        "/api/v1/wms/goods_receipt",
        json={"purchase_order": po["id"], "lines": [{"item": shop.tea, "qty": 10}]},
    )
    shop.take("warehouse", "wms/goods_receipt", receipt, "post")
    assert shop.get("oms/order", first)["status"] == "confirmed"
    waiting = shop.get("oms/order", second)  # nothing more is coming: buy, lead time
    assert waiting["expected_date"] == (clock.today() + timedelta(days=10)).isoformat()


def test_low_stock_proposes_a_purchase_order_and_tells_purchasing(shop):
    pot = shop.item("POT", "Teapot", reorder_point=5, preferred_supplier="Yixing Pottery")
    shop.purchase(pot, 6)
    shop.take("sales", "oms/order", shop.order((pot, 2)), "confirm")
    proposals = shop.call("buyer", "get", "/api/v1/wms/purchase_order?origin=reorder")["data"]
    assert len(proposals) == 1
    proposal = proposals[0]
    assert proposal["supplier"] == "Yixing Pottery" and proposal["status"] == "draft"
    assert proposal["lines"][0]["qty"] == 6  # back up to twice the reorder point
    notes = shop.call("buyer", "get", "/api/v1/wms/purchase_order?origin=reorder")
    assert notes["total"] == 1
    shop.take("sales", "oms/order", shop.order((pot, 1)), "confirm")  # already proposed
    assert shop.call("buyer", "get", "/api/v1/wms/purchase_order?origin=reorder")["total"] == 1
    buyer = shop.rt.users.get("buyer")
    assert any(
        proposal["number"] in n["message"] for n in shop.rt.notifications.latest(buyer, "en")
    )


def test_twenty_concurrent_orders_for_ten_in_stock(shop):
    shop.purchase(shop.tea, 10)
    orders = [shop.order((shop.tea, 1)) for _ in range(20)]

    def confirm(order):
        return shop.take("sales", "oms/order", order, "confirm")["status"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(confirm, orders))
    assert outcomes.count("confirmed") == 10 and outcomes.count("backordered") == 10
    assert shop.stock(shop.tea) == (10, 10)
    assert shop.rt.balances.rebuild("stock") == 1
    assert shop.stock(shop.tea) == (10, 10)


def test_orders_from_two_warehouses_at_once_propose_one_purchase_order(shop):
    """Each confirmation locks its own warehouse's balance, so only the item's row keeps
    two of them from each proposing a purchase for the same shortage."""
    for round in range(6):
        pot = shop.item(f"POT{round}", "Teapot", reorder_point=5)
        shop.purchase(pot, 3)
        shop.purchase(pot, 3, warehouse=shop.west)
        orders = [shop.order((pot, 2), warehouse=where) for where in (shop.east, shop.west)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda o: shop.take("sales", "oms/order", o, "confirm"), orders))
        proposals = shop.call(
            "buyer", "get", "/api/v1/wms/purchase_order?origin=reorder&limit=100"
        )["data"]
        assert [p["lines"][0]["item"] for p in proposals].count(pot) == 1, f"round {round}"


def tracking_url(shop, email):
    return re.search(r"http://[^/]+(/track/\S+)", email["body"])[1]


def test_the_tracking_page_opens_only_with_the_link_sent(shop):
    shop.purchase(shop.tea, 5)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    shop.take("warehouse", "oms/order", order, "pick")
    shipped = shop.take("warehouse", "oms/order", order, "ship", carrier="jd")
    url = tracking_url(shop, shop.emails()[-1])
    anonymous = create_app(runtime=shop.rt).test_client()
    page = anonymous.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert shipped["tracking_number"] in text and "JD Logistics" in text
    assert "Shipped" in text and "Confirmed" in text  # the status timeline
    assert "zs@example.com" not in text and "张三" not in text  # nothing about the customer
    assert "20.00" not in re.sub(r"<[^>]*>", "", text)  # nor prices (tags hold times)

    number = shipped["number"]
    for wrong in (
        url.replace("t=", "t=0"),
        f"/track/{number}",
        f"/track/{number}?t=",
        url.replace(number, number[:-1] + ("2" if number[-1] != "2" else "3")),
    ):
        assert anonymous.get(wrong).status_code == 404
    unknown, forged = (
        anonymous.get(f"/track/SO-000000-99999?t={'0' * 24}"),
        anonymous.get(url.replace("t=", "t=0")),
    )
    assert unknown.status_code == forged.status_code == 404  # no hint which numbers exist
    assert (
        re.search("<main.*</main>", unknown.get_data(as_text=True), re.S)[0]
        == re.search("<main.*</main>", forged.get_data(as_text=True), re.S)[0]
    )


def test_the_tracking_page_shows_times_on_the_business_clock_in_the_customers_language(shop):
    shop.purchase(shop.tea, 5)
    with clock.at(datetime(2026, 11, 30, 17, 30, tzinfo=timezone.utc)):  # 01:30 on 1 Dec there
        order = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
        shop.take("warehouse", "oms/order", order, "pick")
        shop.take("warehouse", "oms/order", order, "ship", carrier="jd")
    link = tracking_url(shop, shop.emails()[-1])
    customer = create_app(runtime=shop.rt).test_client()
    chinese = customer.get(link, headers={"Accept-Language": "zh-CN,zh"}).get_data(as_text=True)
    assert "<dd>2026年12月1日</dd>" in chinese  # the day it was ordered
    assert 'datetime="2026-11-30T17:30:00+00:00">2026年12月1日 01:30</time>' in chinese
    english = customer.get(link, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<dd>Dec 1, 2026</dd>" in english and ">Dec 1, 2026, 1:30\u202fAM</time>" in english


def test_a_lead_converts_to_a_customer_with_an_opportunity(shop):
    lead = shop.call(
        "sales",
        "post",
        "/api/v1/crm/lead",
        json={
            "name": "王芳",
            "company": "云山茶业",
            "email": "wf@yunshan.example",
            "source": "fair",
            "expected_amount": "30000.00",
        },
    )
    converted = shop.take("sales", "crm/lead", lead, "convert")
    assert converted["status"] == "converted"
    customer = shop.call("sales", "get", f"/api/v1/crm/customer/{converted['customer']}")
    assert (customer["name"], customer["kind"], customer["email"]) == (
        "云山茶业",
        "company",
        "wf@yunshan.example",
    )
    assert customer["contacts"][0]["name"] == "王芳"
    deals = shop.call("sales", "get", f"/api/v1/crm/opportunity?customer={customer['id']}")
    assert deals["total"] == 1 and deals["data"][0]["amount"] == "30000.00"


def test_a_new_order_does_not_take_stock_a_backorder_waits_for(shop):
    waiting = shop.take("sales", "oms/order", shop.order((shop.tea, 5)), "confirm")
    shop.purchase(shop.tea, 3)  # not enough for the waiting order
    newcomer = shop.take("sales", "oms/order", shop.order((shop.tea, 2)), "confirm")
    assert newcomer["status"] == "backordered"  # the 3 are kept for the older order
    shop.purchase(shop.tea, 2)
    assert shop.get("oms/order", waiting)["status"] == "confirmed"
    assert shop.get("oms/order", newcomer)["status"] == "backordered"
    assert shop.stock(shop.tea) == (5, 5)


def test_a_later_order_does_not_take_another_item_an_older_one_waits_for(shop):
    older = shop.take("sales", "oms/order", shop.order((shop.cup, 5)), "confirm")
    later = shop.take("sales", "oms/order", shop.order((shop.tea, 1), (shop.cup, 2)), "confirm")
    shop.purchase(shop.cup, 3)  # the older order still waits for 5
    shop.purchase(shop.tea, 1)  # the later order's tea arrives
    served = shop.get("oms/order", later)
    assert {line["item"]: line["reserved"] for line in served["lines"]} == {
        shop.tea: 1,
        shop.cup: 0,
    }  # its cups stay for the older order
    assert shop.get("oms/order", older)["status"] == "backordered"


def test_stock_a_cancelled_order_releases_goes_to_the_waiting_orders(shop):
    shop.purchase(shop.tea, 4)
    holder = shop.take("sales", "oms/order", shop.order((shop.tea, 4)), "confirm")
    waiting = shop.take("sales", "oms/order", shop.order((shop.tea, 3)), "confirm")
    assert waiting["status"] == "backordered"
    shop.take("sales", "oms/order", holder, "cancel")
    assert shop.get("oms/order", waiting)["status"] == "confirmed"
    assert shop.stock(shop.tea) == (4, 3)


def test_a_backordered_orders_lines_are_locked(shop):
    shop.purchase(shop.tea, 4)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 4), (shop.cup, 1)), "confirm")
    assert order["status"] == "backordered"
    lines = [{"id": line["id"]} for line in order["lines"]][:1]  # drop the cup line
    refused = shop.api["sales"].patch(
        f"/api/v1/oms/order/{order['id']}", json={"version": order["version"], "lines": lines}
    )
    assert refused.status_code == 422
    assert (
        "cannot change while the Sales order is Backordered"
        in refused.json["error"]["fields"]["lines"]
    )
    assert shop.stock(shop.tea) == (4, 4)


@pytest.mark.parametrize("kind", ["reserve", "release", "ship"])
def test_only_the_apps_rules_post_reservations_releases_and_shipments(shop, kind):
    """A hand-made release would free stock a confirmed order still holds."""
    shop.purchase(shop.tea, 5)
    order = shop.order((shop.tea, 2))
    shop.take("sales", "oms/order", order, "confirm")
    move = {"item": shop.tea, "warehouse": shop.east, "kind": kind, "qty": 2}
    refused = shop.api["warehouse"].post("/api/v1/wms/stock_move", json=move)
    assert refused.status_code == 422
    assert "recorded by the app's rules only" in refused.json["error"]["fields"]["kind"]
    with pytest.raises(ValidationFailed):
        shop.rt.records.create(SYSTEM_USER, "wms.stock_move", move)  # not even an admin
    assert shop.stock(shop.tea) == (5, 2)
    form = browser(create_app(runtime=shop.rt), "warehouse").get("/a/wms/stock_move/new")
    assert 'value="receipt"' in form.get_data(as_text=True)
    assert f'value="{kind}"' not in form.get_data(as_text=True)
    shop.take("warehouse", "oms/order", order, "pick")
    shop.take("warehouse", "oms/order", order, "ship", carrier="sf")
    assert shop.stock(shop.tea) == (3, 0)


def test_documents_that_touched_stock_are_cancelled_not_deleted(shop):
    """Deleting a confirmed order left its reservations behind for good."""
    shop.purchase(shop.tea, 5)
    draft = shop.order((shop.tea, 1))
    confirmed = shop.order((shop.tea, 2))
    shop.take("sales", "oms/order", confirmed, "confirm")
    with pytest.raises(Conflict, match="only Draft ones can be deleted; to end it, take Cancel"):
        shop.rt.records.delete(SYSTEM_USER, "oms.order", confirmed["id"])
    assert shop.stock(shop.tea) == (5, 2)
    shop.rt.records.delete(SYSTEM_USER, "oms.order", draft["id"])
    move = shop.rt.records.list(SYSTEM_USER, "wms.stock_move", Query(limit=1)).data[0]
    with pytest.raises(Conflict, match="Stock move records are kept"):
        shop.rt.records.delete(SYSTEM_USER, "wms.stock_move", move["id"])
    shop.take("sales", "oms/order", confirmed, "cancel")
    assert shop.stock(shop.tea) == (5, 0)


def test_a_reserved_line_keeps_its_item_and_quantity_in_any_state(shop):
    """A status added without read-only fields let a reserved line grow from 1 to 7."""
    rt = reopen(
        shop.rt,
        bundled_with("oms.yaml", "colour: blue, readonly: [customer, lines]}", "colour: blue}"),
    )
    shop.purchase(shop.tea, 5)
    shop.purchase(shop.cup, 5)
    order = rt.transitions.take(
        SYSTEM_USER, "oms.order", shop.order((shop.tea, 1), (shop.cup, 1))["id"], "confirm"
    )
    tea, cup = order["lines"]

    def change(lines):
        with pytest.raises(ValidationFailed) as refused:
            rt.records.update(
                SYSTEM_USER, "oms.order", order["id"], {"lines": lines}, version=order["version"]
            )
        return refused.value.fields

    assert change([{"id": tea["id"], "qty": 7}, {"id": cup["id"]}]) == {
        "lines.0.qty": "cannot change while reserved is 1"
    }
    assert change([{"id": tea["id"], "item": shop.cup}, {"id": cup["id"]}]) == {
        "lines.0.item": "cannot change while reserved is 1"
    }
    assert change([{"id": tea["id"]}]) == {"lines.1": "cannot be removed while its reserved is 1"}
    cheaper = rt.records.update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {"lines": [{"id": tea["id"], "price": "18.00"}, {"id": cup["id"]}]},
        version=order["version"],
    )
    assert cheaper["total"] == "38.00"
    assert shop.stock(shop.tea) == (5, 1)
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "pick")
    shipped = rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "ship", {"carrier": "sf"})
    assert shipped["status"] == "shipped" and shop.stock(shop.tea) == (4, 0)
    rt.close()


def test_backordered_customers_are_told_when_their_date_moves_later(shop):
    """A new or re-dated purchase order did not change the date a backorder was told."""
    soon, later = (clock.today() + timedelta(days=d) for d in (4, 15))
    po = shop.purchase(shop.tea, 3, expected=soon.isoformat(), receive=False)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 2)), "confirm")
    assert order["expected_date"] == soon.isoformat()
    po = shop.get("wms/purchase_order", po)
    shop.call(
        "buyer",
        "patch",
        f"/api/v1/wms/purchase_order/{po['id']}",
        json={"expected_date": later.isoformat(), "version": po["version"]},
    )
    assert shop.get("oms/order", order)["expected_date"] == later.isoformat()
    told = [e for e in shop.emails() if "预计到货日期已更新" in e["subject"]]
    assert len(told) == 1 and formatting.day(later, "zh") in told[0]["body"]
    shop.take("buyer", "wms/purchase_order", po, "cancel")
    lead = clock.today() + timedelta(days=10)  # nothing is coming: the tea's lead time
    assert shop.get("oms/order", order)["expected_date"] == lead.isoformat()


def test_an_item_out_of_stock_with_nothing_coming_is_proposed_at_once(shop):
    """An item at zero with no purchase order open got no proposal: a reorder point of 0."""
    order = shop.take("sales", "oms/order", shop.order((shop.cup, 4)), "confirm")
    assert order["status"] == "backordered"
    proposals = shop.call("buyer", "get", "/api/v1/wms/purchase_order?origin=reorder")["data"]
    assert [p["lines"][0]["qty"] for p in proposals] == [4]
    shop.take("sales", "oms/order", shop.order((shop.cup, 1)), "confirm")
    proposals = shop.call("buyer", "get", "/api/v1/wms/purchase_order?origin=reorder")["data"]
    assert sorted(p["lines"][0]["qty"] for p in proposals) == [1, 4]  # one more for the next
