"""The business's time zone: an order placed at 01:30 in Hangzhou is placed that day, not
the day before as UTC has it; a time typed without an offset is a time in that zone; and
screens show times on the business's clock. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation.service import next_run
from apploom.engine.errors import BadSetting
from apploom.engine.settings import Settings
from apploom.web import create_app
from tests.helpers import Shop, browser, make_runtime


def order_at(rt, moment: str, shop: Shop | None = None) -> dict:
    shop = shop or Shop(rt)
    return rt.records.create(SYSTEM_USER, "oms.order", shop.order(ordered_at=moment))


def days_in_reports(rt) -> list[str]:
    report = rt.reports.find("oms", "sales_by_month")
    by_day = replace(report, rows=("order_date.day",), columns=(), where={})
    window = {"from": "2026-11-01", "to": "2026-12-31"}
    return [row["keys"][0] for row in rt.reports.run(SYSTEM_USER, by_day, window).rows]


def test_an_order_placed_after_midnight_in_hangzhou_is_placed_that_day(runtime):
    order = order_at(runtime, "2026-11-30T17:30:00Z")  # 01:30 on 1 December in Hangzhou
    assert str(order["order_date"]) == "2026-12-01"
    assert days_in_reports(runtime) == ["2026-12-01"]
    typed = runtime.records.update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {"ordered_at": "2026-12-02T09:30"},
        version=order["version"],
    )
    assert typed["ordered_at"] == "2026-12-02T01:30:00Z"  # 09:30 there
    assert str(typed["order_date"]) == "2026-12-02"


def test_the_same_moment_falls_on_the_day_before_in_a_shop_kept_in_utc(database_url, tmp_path):
    rt = make_runtime(database_url, tmp_path / "utc", time_zone="UTC")
    try:
        order = order_at(rt, "2026-11-30T17:30:00Z")
        assert str(order["order_date"]) == "2026-11-30"
        assert days_in_reports(rt) == ["2026-11-30"]
    finally:
        rt.close()
        clock.use_zone(clock.DEFAULT_ZONE)


def buckets_of_moments(rt, bucket: str) -> list[str]:
    """The report's orders counted by the time each was placed (a moment, not a day)."""
    report = rt.reports.find("oms", "sales_by_month")
    by_moment = replace(report, rows=(f"ordered_at.{bucket}",), columns=(), where={})
    return [row["keys"][0] for row in rt.reports.run(SYSTEM_USER, by_moment, {}).rows]


def test_reports_bucket_moments_by_the_local_day_daylight_saving_included(runtime):
    shop = Shop(runtime)
    order_at(runtime, "2026-03-01T17:00:00Z", shop)  # 01:00 on 2 March in Shanghai
    order_at(runtime, "2026-03-31T16:30:00Z", shop)  # 00:30 on 1 April there
    try:
        assert buckets_of_moments(runtime, "day") == ["2026-03-02", "2026-04-01"]
        assert buckets_of_moments(runtime, "month") == ["2026-03", "2026-04"]
        clock.use_zone("UTC")
        assert buckets_of_moments(runtime, "day") == ["2026-03-01", "2026-03-31"]
        assert buckets_of_moments(runtime, "month") == ["2026-03"]
        clock.use_zone("America/New_York")  # 00:30 EDT; a fixed EST offset says 23:30 before
        order_at(runtime, "2026-07-01T04:30:00Z", shop)
        assert buckets_of_moments(runtime, "day")[-1] == "2026-07-01"
    finally:
        clock.use_zone(clock.DEFAULT_ZONE)


def test_screens_show_times_on_the_business_clock(sqlite_runtime):
    order = order_at(sqlite_runtime, "2026-11-30T17:30:00Z")
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    page = browser(create_app(runtime=sqlite_runtime), "sue").get(f"/a/oms/order/{order['id']}")
    text = page.get_data(as_text=True)
    assert "Dec 1, 2026, 1:30\u202fAM" in text and "Nov 30" not in text
    sue = browser(create_app(runtime=sqlite_runtime), "sue")
    chinese = sue.get(f"/lang/zh?next=/a/oms/order/{order['id']}", follow_redirects=True)
    assert "2026年12月1日 01:30" in chinese.get_data(as_text=True)
    form = browser(create_app(runtime=sqlite_runtime), "sue").get(
        f"/a/oms/order/{order['id']}/edit"
    )
    assert 'value="2026-12-01T01:30"' in form.get_data(as_text=True)


def test_a_time_typed_into_a_refused_form_comes_back_as_typed(sqlite_runtime):
    """Shown again after a refusal, and saved then, it stays the time the user typed, not
    that time taken for UTC and moved eight hours on."""
    shop = Shop(sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    sue = browser(create_app(runtime=sqlite_runtime), "sue")
    typed = {"ordered_at": "2026-12-02T16:06", "channel": "marketplace"}  # no external id
    refused = sue.post("/a/oms/order/new", data=typed)
    assert refused.status_code == 422
    assert 'name="ordered_at" id="ordered_at" value="2026-12-02T16:06"' in refused.get_data(
        as_text=True
    )
    order = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(ordered_at=typed["ordered_at"])
    )
    assert order["ordered_at"] == "2026-12-02T08:06:00Z"  # 16:06 in Hangzhou


def test_an_unknown_time_zone_is_refused_by_its_setting():
    with pytest.raises(BadSetting, match="APPLOOM_TIME_ZONE: 'Asia/Hangzhou' is not a time zone"):
        Settings.load({"time_zone": "Asia/Hangzhou"}, environ={})


def test_schedules_run_on_the_business_clock_daylight_saving_included():
    morning = "0 9 * * *"
    try:
        last = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)  # 08:00 in Shanghai
        assert next_run(morning, last) == datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc)
        clock.use_zone("America/New_York")
        saturday = datetime(2026, 3, 7, 15, 0, tzinfo=timezone.utc)  # 10:00 EST
        assert next_run(morning, saturday) == datetime(2026, 3, 8, 13, 0, tzinfo=timezone.utc)
    finally:
        clock.use_zone(clock.DEFAULT_ZONE)
