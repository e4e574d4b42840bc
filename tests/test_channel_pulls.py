"""Polled channels: a platform serving its orders as JSON pages over real HTTP, pulled by
the worker through the bundled http_json puller and taken in through the same mapping
a pushed order takes; the cursor kept with the orders, failures backed off."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.channels.pulls import LEASE
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import DefinitionError
from apploom.engine.fields.registry import FieldTypes
from apploom.web import create_app
from tests.helpers import Browser, bundled_actions, bundled_plugins
from tests.test_channels import make_shop, orders, payments

TMALL = """
  tmall:
    label: {en: Tmall, zh: 天猫}
    pull: {kind: http_json, every: 300, url: "URL/trades?after={cursor}&key={secret:app_key}"}
    map:
      external_id: tid
      ordered_at: {path: created, format: "%Y-%m-%d %H:%M:%S"}
      updated_at: {path: modified, format: "%Y-%m-%d %H:%M:%S"}
      status: status
      shipping_fee: post_fee
      total: payment
      customer: {phone: receiver_mobile, buyer_id: buyer_open_uid, name: receiver_name}
      lines: {each: orders, sku: outer_sku_id, qty: num, price: price}
    payment_method: alipay
    statuses: {WAIT_SELLER_SEND_GOODS: payment, TRADE_CLOSED: cancel}
"""


def trade(tid: str, qty: int = 2, status: str = "WAIT_SELLER_SEND_GOODS") -> dict:
    return {
        "tid": tid,
        "created": "2026-11-27 10:23:00",
        "modified": "2026-11-27 10:25:00",
        "status": status,
        "buyer_open_uid": f"AAH-{tid}",
        "receiver_name": "李四",
        "receiver_mobile": "13800138000",
        "post_fee": "6.00",
        "payment": f"{qty * 12.5 + 6:.2f}",
        "orders": [{"outer_sku_id": "CUP-1", "num": qty, "price": "12.50"}],
    }


class Platform:
    """A real HTTP server serving trade pages by cursor; keeps each query it is asked."""

    def __init__(self):
        self.pages: dict[str, dict] = {}
        self.failing = False
        self.delay = 0.0
        self.answers: list[tuple[float, dict]] = []  # (delay, page) for the next requests
        self.asked: list[dict] = []
        platform = self

        class Api(BaseHTTPRequestHandler):
            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                platform.asked.append(query)
                delay, page = (
                    platform.answers.pop(0)
                    if platform.answers
                    else (platform.delay, platform.pages.get(query.get("after", "")))
                )
                time.sleep(delay)
                if platform.failing or page is None:
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def with_channel(yaml: str) -> list[Source]:
    """The bundled apps with ``yaml`` added to the OMS's channels, and tmall an option."""
    sources = []
    for source in bundled_sources():
        text = source.text
        if text.startswith("app: oms"):
            text = (
                text.replace(
                    "          - {value: youzan, label: {en: Youzan, zh: 有赞}}\n",
                    "          - {value: youzan, label: {en: Youzan, zh: 有赞}}\n"
                    "          - {value: tmall, label: {en: Tmall, zh: 天猫}}\n",
                )
                + yaml
            )
        sources.append(Source(source.file, text))
    return sources


@pytest.fixture
def platform():
    found = Platform()
    yield found
    found.close()


@pytest.fixture
def shop(database_url, tmp_path, platform):
    shop = make_shop(database_url, tmp_path, with_channel(TMALL.replace("URL", platform.url)))
    shop.rt.channel_secrets.set("tmall", "k-123", "app_key")
    yield shop
    shop.rt.close()


def state(shop) -> dict:
    return shop.rt.pulls.states()["tmall"]


def test_orders_come_in_through_a_pull_and_the_next_pull_takes_only_new_ones(shop, platform):
    platform.pages[""] = {"orders": [trade("T1"), trade("T2", qty=1)], "next": "c1"}
    now = clock.now()
    assert shop.rt.pulls.run_due(now) == 1
    made = sorted(orders(shop), key=lambda o: o["external_id"])
    assert [(o["external_id"], o["channel"], o["total"], o["status"], o["payment_status"])
            for o in made] == [("T1", "tmall", "31.00", "confirmed", "paid"),
                               ("T2", "tmall", "18.50", "confirmed", "paid")]  # fmt: skip
    assert made[0]["ordered_at"].startswith("2026-11-27T02:23:00")  # Shanghai time, in UTC
    assert platform.asked == [{"key": "k-123"}]  # the secret in the URL, no cursor yet
    assert state(shop)["cursor"] == "c1" and state(shop)["failures"] == 0
    assert shop.rt.pulls.run_due(now + timedelta(seconds=10)) == 0  # not due: not asked
    assert len(platform.asked) == 1
    platform.pages["c1"] = {"orders": [trade("T3")], "next": "c2"}
    assert shop.rt.pulls.run_due(now + timedelta(seconds=301)) == 1
    assert platform.asked[-1] == {"after": "c1", "key": "k-123"}
    assert sorted(o["external_id"] for o in orders(shop)) == ["T1", "T2", "T3"]
    assert state(shop)["cursor"] == "c2" and len(payments(shop)) == 3


def test_a_page_pulled_again_changes_nothing(shop, platform):
    platform.pages[""] = {"orders": [trade("T1")], "next": None}  # no next: the same again
    now = clock.now()
    shop.rt.pulls.run_due(now)
    before = orders(shop)
    assert shop.rt.pulls.run_due(now + timedelta(seconds=301)) == 1
    assert platform.asked == [{"key": "k-123"}, {"key": "k-123"}]
    assert orders(shop) == before and len(payments(shop)) == 1
    assert state(shop)["cursor"] is None
    closed = {**trade("T1", status="TRADE_CLOSED"), "modified": "2026-11-28 09:00:00"}
    platform.pages[""] = {"orders": [closed], "next": None}
    shop.rt.pulls.run_due(now + timedelta(seconds=602))
    assert orders(shop)[0]["status"] == "cancelled"  # a later change is applied, as pushed


def test_a_failing_platform_is_tried_again_later_backing_off_until_it_recovers(shop, platform):
    platform.pages[""] = {"orders": [trade("T1")], "next": "c1"}
    platform.failing = True
    now = clock.now()
    assert shop.rt.pulls.run_due(now) == 1
    failed = state(shop)
    assert (failed["failures"], failed["next_pull_at"], failed["cursor"]) == (
        1,
        now + timedelta(seconds=30),
        None,
    )
    assert "HTTP Error 500" in failed["last_error"]
    assert shop.rt.pulls.run_due(now + timedelta(seconds=29)) == 0
    assert shop.rt.pulls.run_due(now + timedelta(seconds=30)) == 1
    assert state(shop)["failures"] == 2
    assert state(shop)["next_pull_at"] == now + timedelta(seconds=90)  # then a minute

    shop.rt.users.create("root", ["admin"], "password1234")
    admin = Browser(create_app(runtime=shop.rt))
    admin.login("root")
    page = admin.get("/admin/channels", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "HTTP Error 500" in page and "连续失败" in page and "下次拉取" in page
    assert "k-123" not in page

    platform.failing = False
    assert shop.rt.pulls.run_due(now + timedelta(seconds=90)) == 1
    recovered = state(shop)
    assert (recovered["failures"], recovered["last_error"], recovered["cursor"]) == (0, None, "c1")
    assert [o["external_id"] for o in orders(shop)] == ["T1"]


def test_two_workers_at_once_pull_the_channel_once(shop, platform):
    platform.pages[""] = {"orders": [trade("T1"), trade("T2")], "next": "c1"}
    platform.delay = 0.3  # both are under way while the first one pulls
    now = clock.now()
    start = threading.Barrier(2)
    pulled = []

    def worker():
        start.wait()
        pulled.append(shop.rt.pulls.run_due(now))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(pulled) == [0, 1]
    assert len(platform.asked) == 1
    assert sorted(o["external_id"] for o in orders(shop)) == ["T1", "T2"]
    assert len(payments(shop)) == 2 and state(shop)["cursor"] == "c1"


def test_a_pull_that_outlasts_its_lease_writes_nothing_of_its_batch(shop, platform):
    """Its turn went to another worker meanwhile, which took its own batch in: the late
    one's orders and cursor are not written, so nothing is skipped or taken twice."""
    platform.answers = [
        (1.0, {"orders": [trade("LATE")], "next": "late"}),
        (0.0, {"orders": [trade("T2")], "next": "c2"}),
    ]
    now = clock.now()
    late = threading.Thread(target=shop.rt.pulls.run_due, args=(now,))
    late.start()
    while not platform.asked:
        time.sleep(0.01)
    assert shop.rt.pulls.run_due(now + LEASE) == 1  # the first one's lease has run out
    late.join()
    assert [o["external_id"] for o in orders(shop)] == ["T2"]
    assert (state(shop)["cursor"], state(shop)["failures"]) == ("c2", 0)


def test_an_unreadable_payload_goes_to_the_inbox_and_the_rest_of_the_page_goes_in(shop, platform):
    bad = {**trade("T2"), "orders": "none"}
    platform.pages[""] = {"orders": [trade("T1"), bad], "next": "c1"}
    shop.rt.pulls.run_due(clock.now())
    assert [o["external_id"] for o in orders(shop)] == ["T1"]
    kept = shop.rt.channels.inbox.list()
    assert [(e["channel"], e["path"]) for e in kept] == [("tmall", "channels.tmall.map.lines.each")]
    assert state(shop)["cursor"] == "c1"
    fixed = json.dumps({**bad, "orders": trade("T2")["orders"]})
    done = shop.rt.channels.replay(shop.rt.users.get("shopbot"), kept[0]["id"], fixed)
    assert done.outcome == "created"
    assert sorted(o["external_id"] for o in orders(shop)) == ["T1", "T2"]


def test_a_bad_pull_definition_is_refused_naming_the_channel_and_the_path():
    wrong = TMALL.replace("URL", "http://127.0.0.1:9").replace(
        "kind: http_json, every: 300", "kind: taobao, every: 300"
    )
    with pytest.raises(DefinitionError) as refused:
        load_apps(with_channel(wrong), bundled_plugins().types, bundled_actions())
    assert [(p.path, p.message) for p in refused.value.problems] == [
        ("channels.tmall.pull.kind", "no plugin pulls 'taobao' channels; known kinds: http_json")
    ]
    settings = TMALL.replace(
        'every: 300, url: "URL/trades?after={cursor}&key={secret:app_key}"',
        'every: "every five minutes", url: "ftp://x/{token}", page: 2',
    )
    with pytest.raises(DefinitionError) as refused:
        load_apps(with_channel(settings), bundled_plugins().types, bundled_actions())
    assert sorted((p.path, p.message) for p in refused.value.problems) == [
        ("channels.tmall.pull", "'page' is not a setting of http_json (url is)"),
        ("channels.tmall.pull",
         "http_json needs 'url': the http:// or https:// address of the pages"),
        ("channels.tmall.pull.every",
         "'every five minutes' is neither seconds nor a cron expression"),
    ]  # fmt: skip
    placeholder = TMALL.replace("{secret:app_key}", "{token}").replace("URL", "https://x")
    with pytest.raises(DefinitionError) as refused:
        load_apps(with_channel(placeholder), bundled_plugins().types, bundled_actions())
    assert [(p.path, p.message) for p in refused.value.problems] == [
        ("channels.tmall.pull", "url: '{token}' is neither {cursor} nor {secret:NAME}")
    ]
    with pytest.raises(DefinitionError) as refused:  # no plugins: no pullers
        load_apps(with_channel(TMALL.replace("URL", "http://x")), FieldTypes(), bundled_actions())
    assert "known kinds: none" in str(refused.value)


def test_the_worker_pulls_in_its_rounds(shop, platform):
    platform.pages[""] = {"orders": [trade("T1")], "next": "c1"}
    worker = shop.rt.worker(interval=0.05).start()
    try:
        for _ in range(100):
            if orders(shop):
                break
            time.sleep(0.05)
    finally:
        worker.stop()
    assert [o["external_id"] for o in orders(shop)] == ["T1"]
    assert shop.rt.records.list(SYSTEM_USER, "oms.order").data[0]["channel"] == "tmall"
