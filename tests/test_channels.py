"""Orders from sales channels declared in YAML: each platform's own sample posted as the
platform posts it (its signature, its body), the figures equal to the platform's, later
events applied once and in order, and what cannot go in kept in the inbox."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.access.signatures import signature
from apploom.engine.automation import outbox
from apploom.engine.channels.auth import body_hmac, md5_signature
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.web import create_app
from tests.helpers import Browser, Shop, make_runtime

SAMPLES = Path(__file__).parent / "samples"
SECRET = "whsec-0123456789"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def make_shop(database_url, tmp_path, sources=None):
    rt = make_runtime(database_url, tmp_path / "instance", sources, webhook_user="shopbot")
    rt.users.create("shopbot", ["sales"], "password1234")
    shop = Shop(rt)
    for sku, name in (("WOO-SINGLE-1", "Woo Single #1"), ("BAR3", "Ship Your Idea"),
                      ("DEMO-COURSE", "Demo course")):  # fmt: skip
        item = rt.records.create(
            SYSTEM_USER, "wms.item", {"sku": sku, "name": name, "price": "1.00"}
        )
        rt.records.create(
            SYSTEM_USER,
            "wms.stock_move",
            {"item": item["id"], "kind": "receipt", "warehouse": shop.warehouse["id"], "qty": 50},
        )
    for channel in ("shopify", "woocommerce", "youzan"):
        rt.channel_secrets.set(channel, SECRET)
    shop.rt, shop.client = rt, create_app(runtime=rt).test_client()
    return shop


@pytest.fixture
def shop(database_url, tmp_path):
    shop = make_shop(database_url, tmp_path)
    yield shop
    shop.rt.close()


def post(shop, channel, raw: bytes, headers: dict):
    return shop.client.post(
        f"/hooks/orders/{channel}",
        data=raw,
        headers={"Content-Type": "application/json", **headers},
    )


def woo(shop, body: dict, delivery: str = "1"):
    raw = json.dumps(body).encode()
    return post(
        shop,
        "woocommerce",
        raw,
        {"X-WC-Webhook-Signature": body_hmac(SECRET, raw), "X-WC-Webhook-Delivery-ID": delivery},
    )


def shopify(shop, raw: bytes, webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"):
    return post(
        shop,
        "shopify",
        raw,
        {"X-Shopify-Hmac-Sha256": body_hmac(SECRET, raw), "X-Shopify-Webhook-Id": webhook_id},
    )


def youzan(shop, envelope: dict):
    signed = {**envelope, "sign": md5_signature(SECRET, envelope, ("client_id", "msg"))}
    return post(shop, "youzan", json.dumps(signed, ensure_ascii=False).encode(), {})


def orders(shop):
    return shop.rt.records.list(SYSTEM_USER, "oms.order").data


def payments(shop):
    return shop.rt.records.list(SYSTEM_USER, "oms.payment").data


def test_woocommerce_sample_makes_the_order_with_the_platforms_figures(shop):
    made = woo(shop, sample("woocommerce_order_727.json"))
    assert made.status_code == 201, made.json
    order = made.json["order"]
    assert (order["channel"], order["external_id"], order["currency"]) == (
        "woocommerce",
        "727",
        "USD",
    )
    assert order["status"] == "confirmed" and [line["reserved"] for line in order["lines"]] == [
        2,
        1,
    ]
    assert [(line["qty"], line["price"], line["tax_rate"]) for line in order["lines"]] == [
        (2, "3.00", "7.50"),
        (1, "12.00", "7.50"),
    ]
    assert (order["subtotal"], order["shipping_fee"], order["tax"], order["total"]) == (
        "18.00",
        "10.00",
        "1.35",
        "29.35",
    )
    assert (order["ship_name"], order["ship_address"], order["ship_city"]) == (
        "John Doe",
        "969 Market",
        "San Francisco",
    )
    assert (order["ship_province"], order["ship_postcode"], order["ship_country"]) == (
        "CA",
        "94103",
        "US",
    )
    customer = shop.rt.records.get(SYSTEM_USER, "crm.customer", order["customer"])
    assert (customer["name"], customer["email"]) == ("John Doe", "john.doe@example.com")
    # processing: paid, by bank transfer (bacs)
    assert order["payment_status"] == "paid" and order["paid"] == "29.35"
    [payment] = payments(shop)
    assert (payment["method"], payment["amount"]) == ("bank_transfer", "29.35")


def test_a_replayed_delivery_changes_nothing_and_a_redelivery_neither(shop):
    body = sample("woocommerce_order_727.json")
    assert woo(shop, body, delivery="9").status_code == 201
    again = woo(shop, body, delivery="9")
    assert (again.status_code, again.json["outcome"]) == (200, "repeated")
    resent = woo(shop, body, delivery="10")  # the platform sending it anew
    assert (resent.status_code, resent.json["outcome"]) == (200, "unchanged")
    assert len(orders(shop)) == 1 and len(payments(shop)) == 1


def test_a_later_paid_event_records_the_payment_and_an_older_one_is_ignored(shop):
    body = sample("woocommerce_order_727.json")
    pending = {**body, "status": "pending", "date_paid_gmt": None}
    made = woo(shop, pending, delivery="1").json["order"]
    assert (made["status"], made["payment_status"]) == ("confirmed", "unpaid")
    paid = {**body, "date_modified_gmt": "2017-03-23T10:00:00", "shipping": {
        **body["shipping"], "address_2": "Suite 5"}}  # fmt: skip
    updated = woo(shop, paid, delivery="2")
    assert updated.json["outcome"] == "updated"
    assert updated.json["order"]["payment_status"] == "paid"
    assert updated.json["order"]["ship_address"] == "969 Market, Suite 5"
    stale = woo(shop, {**pending, "date_modified_gmt": "2017-03-22T20:00:00"}, delivery="3")
    assert stale.json["outcome"] == "older"
    refunded = {**paid, "status": "refunded", "date_modified_gmt": "2017-03-24T10:00:00"}
    assert woo(shop, refunded, delivery="4").json["order"]["payment_status"] == "refunded"
    assert sorted(p["amount"] for p in payments(shop)) == ["-29.35", "29.35"]


def test_a_cancelled_order_reserves_nothing(shop):
    body = {**sample("woocommerce_order_727.json"), "status": "cancelled"}
    order = woo(shop, body).json["order"]
    assert order["status"] == "cancelled"
    assert [line["reserved"] for line in order["lines"]] == [0, 0] and payments(shop) == []


def test_customers_are_found_by_email_in_any_case_then_by_phone(shop):
    body = sample("woocommerce_order_727.json")
    shop.rt.records.create(
        SYSTEM_USER,
        "crm.customer",
        {"name": "Johnny", "email": "John.Doe@Example.com", "phone": "(555) 555-5555"},
    )
    first = woo(shop, body).json["order"]
    again = {**body, "id": 728, "billing": {**body["billing"], "email": "other@example.com"}}
    second = woo(shop, again, delivery="2").json["order"]
    assert first["customer"] == second["customer"]  # the phone found the same customer
    assert shop.rt.records.get(SYSTEM_USER, "crm.customer", first["customer"])["name"] == "Johnny"


def test_shopify_sample_is_checked_as_shopify_signs_and_its_placeholder_phone_goes_to_the_inbox(
    shop,
):
    raw = (SAMPLES / "shopify_orders_create_test.json").read_bytes().strip()
    forged = post(shop, "shopify", raw, {"X-Shopify-Hmac-Sha256": body_hmac("guess", raw)})
    assert forged.status_code == 401
    refused = shopify(shop, raw)
    assert refused.status_code == 422
    assert "ship_phone" in refused.json["error"]["fields"]
    [entry] = shop.rt.channels.inbox.list()
    assert entry["path"] == "ship_phone" and entry["body"] == raw.decode()
    # the admin fixes the phone and replays it
    fixed = raw.decode().replace("555-555-SHIP", "555-555-7447")
    admin = Browser(create_app(runtime=shop.rt))
    shop.rt.users.create("root", ["admin"], "password1234")
    admin.login("root")
    page = admin.get(f"/admin/channels/inbox/{entry['id']}")
    assert "555-555-SHIP" in page.get_data(as_text=True)
    done = admin.post(f"/admin/channels/inbox/{entry['id']}/replay", {"body": fixed})
    assert done.status_code == 303
    [order] = orders(shop)
    assert (order["external_id"], order["status"], order["total"]) == (
        "820982911946154508",
        "cancelled",
        "5.00",
    )
    full = shop.rt.records.get(SYSTEM_USER, "oms.order", order["id"])
    assert (full["shipping_fee"], full["discount"], full["tax"]) == ("10.00", "5.00", "0.00")
    assert [line["reserved"] for line in full["lines"]] == [0, 0]
    assert (full["ship_name"], full["ship_address"]) == ("Steve Shipper", "123 Shipping Street")
    assert shop.rt.channels.inbox.list() == []
    assert shop.rt.channels.inbox.list("replayed")[0]["order_id"] == order["id"]


def test_youzan_push_is_signed_in_its_body_and_read_from_its_message(shop):
    envelope = sample("youzan_trade_push.json")
    assert post(shop, "youzan", json.dumps(envelope).encode(), {}).status_code == 401
    made = youzan(shop, envelope)
    assert made.status_code == 201, made.json
    order = made.json["order"]
    assert (order["external_id"], order["total"], order["shipping_fee"]) == (
        "E20261127102300012300001",
        "301.00",
        "8.00",
    )
    assert (order["ship_province"], order["ship_city"], order["ship_district"]) == (
        "浙江省",
        "杭州市",
        "西湖区",
    )
    assert order["payment_status"] == "paid" and order["note"] == "请周末送货"
    [payment] = payments(shop)
    assert (payment["method"], payment["reference"]) == (
        "wechat_pay",
        "4200001234202611270000000001",
    )
    trade = json.loads(urllib.parse.unquote_plus(envelope["msg"]))
    trade["full_order_info"]["order_info"].update(
        status="TRADE_CLOSED", update_time="2026-11-27 11:00:00"
    )
    closed = {**envelope, "msg": urllib.parse.quote(json.dumps(trade, ensure_ascii=False))}
    assert youzan(shop, closed).json["outcome"] == "updated"


def test_a_payload_the_mapping_cannot_read_gets_422_naming_the_path_and_is_kept(shop):
    body = {**sample("woocommerce_order_727.json"), "line_items": "none"}
    refused = woo(shop, body)
    assert refused.status_code == 422
    assert refused.json["error"]["fields"] == {
        "channels.woocommerce.map.lines.each": "'line_items' found \"none\"; it must give "
        "a list of at least one line"
    }
    names = {**sample("woocommerce_order_727.json"), "id": 8, "billing": {"first_name": 1}}
    assert woo(shop, names, delivery="3").json["error"]["fields"] == {
        "channels.woocommerce.map.customer.name": "'join(' ', [billing.first_name, "
        "billing.last_name][?@])' failed: In function join(), invalid type for value: 1, "
        "expected one of: ['array-string'], received: \"int\""
    }
    no_item = {**sample("woocommerce_order_727.json"), "id": 9, "line_items": [
        {**sample("woocommerce_order_727.json")["line_items"][0], "product_id": 5}]}  # fmt: skip
    assert woo(shop, no_item, delivery="2").json["error"]["fields"] == {
        "lines.0.sku": "product 5 is not in the channel's products"
    }
    assert [e["path"] for e in shop.rt.channels.inbox.list()] == [
        "lines.0.sku",
        "channels.woocommerce.map.customer.name",
        "channels.woocommerce.map.lines.each",
    ]
    assert orders(shop) == []


def test_secrets_apply_at_once_and_an_unknown_channel_is_404(shop):
    body = sample("woocommerce_order_727.json")
    shop.rt.channel_secrets.set("woocommerce", "rotated")
    assert woo(shop, body).status_code == 401
    shop.rt.channel_secrets.set("woocommerce", SECRET)
    assert woo(shop, body).status_code == 201
    assert post(shop, "nowhere", b"{}", {}).status_code == 404


def test_a_new_channel_in_yaml_only(database_url, tmp_path):
    """A shop's own storefront: a shared token header and its own field names, added to
    the OMS definition with no Python."""
    sources = []
    for source in bundled_sources():
        text = source.text
        if source.text.startswith("app: oms"):
            text = (
                text.replace(
                    "          - {value: youzan, label: {en: Youzan, zh: 有赞}}\n",
                    "          - {value: youzan, label: {en: Youzan, zh: 有赞}}\n"
                    "          - {value: kiosk, label: {en: Kiosk, zh: 自助机}}\n",
                )
                + KIOSK
            )
        sources.append(Source(source.file, text))
    shop = make_shop(database_url, tmp_path, sources)
    try:
        shop.rt.channel_secrets.set("kiosk", "t0ken")
        body = {
            "no": "K-1",
            "at": "2026/11/27 10:23",
            "buyer": {"mail": "ZS@EXAMPLE.COM"},
            "items": [{"code": "CUP-1", "n": 2, "each": "12.50"}],
            "freight": "6.00",
            "sum": "31.00",
            "state": "paid",
        }
        sent = shop.client.post(
            "/hooks/orders/kiosk",
            json=body,
            headers={"X-Kiosk-Token": "t0ken", "X-Kiosk-Time": str(int(time.time()))},
        )
        assert sent.status_code == 201, sent.json
        order = sent.json["order"]
        assert (order["customer"], order["total"], order["payment_status"]) == (
            shop.customer["id"],
            "31.00",
            "paid",
        )
        assert order["ordered_at"].startswith("2026-11-27T02:23:00")  # Shanghai time, in UTC
        old = shop.client.post(
            "/hooks/orders/kiosk",
            json={**body, "no": "K-2"},
            headers={"X-Kiosk-Token": "t0ken", "X-Kiosk-Time": str(int(time.time()) - 3600)},
        )
        assert old.status_code == 401
    finally:
        shop.rt.close()


KIOSK = """
  kiosk:
    auth: {scheme: token, header: X-Kiosk-Token}
    replay: {timestamp: X-Kiosk-Time, window: 300}
    map:
      external_id: "no"
      ordered_at: {path: at, format: "%Y/%m/%d %H:%M"}
      status: state
      shipping_fee: freight
      total: sum
      customer: {email: buyer.mail}
      lines: {each: items, sku: code, qty: n, price: each}
    payment_method: cash
    statuses: {paid: payment}
"""


def test_the_engine_hmac_still_signs_a_channel(database_url, tmp_path):
    sources = [
        Source(
            s.file,
            s.text.replace(
                "    auth: {scheme: hmac_base64, header: X-WC-Webhook-Signature}",
                "    auth: {scheme: engine}",
            ),
        )
        for s in bundled_sources()
    ]
    shop = make_shop(database_url, tmp_path, sources)
    try:
        raw = json.dumps(sample("woocommerce_order_727.json")).encode()
        path = "/hooks/orders/woocommerce"
        signed = {"X-AppLoom-Signature": signature(SECRET, path, raw)}
        assert post(shop, "woocommerce", raw, signed).status_code == 201
        assert post(shop, "woocommerce", raw, {}).status_code == 401
    finally:
        shop.rt.close()


@pytest.fixture
def platform():
    """A real HTTP server standing in for the platforms' APIs; keeps what it is sent."""
    received = []

    class Api(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, dict(self.headers), body.decode()))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def ship(shop, order: dict, tracking: str) -> None:
    rt = shop.rt
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "pick")
    stored = rt.records.get(SYSTEM_USER, "oms.order", order["id"])
    rt.records.update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {"tracking_number": tracking},
        version=stored["version"],
    )
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "ship", {"carrier": "sf"})


def test_the_bundled_rules_report_each_shipment_to_its_platform(shop, platform):
    url, received = platform
    secrets = shop.rt.channel_secrets
    secrets.set("woocommerce", url, "shop_url")
    secrets.set("woocommerce", "Y2tfMTpjc18x", "api_key")
    secrets.set("youzan", url, "api_url")
    secrets.set("youzan", "tok/en+1", "access_token")
    woo_order = woo(shop, sample("woocommerce_order_727.json")).json["order"]
    yz_order = youzan(shop, sample("youzan_trade_push.json")).json["order"]
    ship(shop, woo_order, "SF1001")
    ship(shop, yz_order, "SF2002")
    outbox.deliver_due(shop.rt.db, {"webhook": shop.rt.senders["webhook"]})
    by_path = {path.partition("?")[0]: (path, headers, body) for path, headers, body in received}
    path, headers, body = by_path["/wp-json/wc-shipment-tracking/v3/orders/727/shipment-trackings"]
    assert headers["Authorization"] == "Basic Y2tfMTpjc18x"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"tracking_provider": "SF Express", "tracking_number": "SF1001"}
    path, headers, body = by_path["/api/youzan.logistics.online.confirm/3.0.0"]
    assert path.endswith("?access_token=tok%2Fen%2B1")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(body) == {
        "tid": ["E20261127102300012300001"],
        "out_stype": ["7"],
        "out_sid": ["SF2002"],
    }
    queued = [m["payload"] for m in outbox.messages(shop.rt.db) if m["kind"] == "webhook"]
    assert queued and not any("Y2tfMTpjc18x" in json.dumps(m) for m in queued)  # never stored


def test_an_admin_sets_a_secret_on_the_channels_page_and_never_sees_it(shop):
    shop.rt.users.create("root", ["admin"], "password1234")
    shop.rt.users.create("sam", ["sales"], "password1234")
    admin = Browser(create_app(runtime=shop.rt))
    admin.login("root")
    assert 'href="/admin/channels"' in admin.get("/").get_data(as_text=True)
    page = admin.get("/admin/channels").get_data(as_text=True)
    assert "POST /hooks/orders/woocommerce" in page and SECRET not in page
    done = admin.post("/admin/channels/woocommerce/secret", {"value": "from-the-page"})
    assert done.status_code == 303
    assert shop.rt.channel_secrets.get("woocommerce") == "from-the-page"
    assert "from-the-page" not in admin.get("/admin/channels").get_data(as_text=True)
    sales = Browser(create_app(runtime=shop.rt))
    sales.login("sam")
    assert sales.get("/admin/channels").status_code == 403
    assert sales.post("/admin/channels/woocommerce/secret", {"value": "x"}).status_code == 403


def test_the_same_order_sent_four_times_at_once_makes_one(shop):
    body = sample("woocommerce_order_727.json")
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda n: woo(shop, body, delivery=f"d{n}"), range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert {a.json["order"]["id"] for a in answers} == {orders(shop)[0]["id"]}
    assert len(orders(shop)) == 1 and len(payments(shop)) == 1
    assert shop.rt.channels.inbox.list() == []
