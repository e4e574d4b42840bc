"""The business's time zone: an order placed at 01:30 in Hangzhou is placed that day, not
the day before as UTC has it; a time typed without an offset is a time in that zone; and
screens show times on the business's clock. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.errors import BadSetting
from apploom.engine.settings import Settings
from apploom.web import create_app
from tests.helpers import Shop, browser, make_runtime


def order_at(rt, moment: str) -> dict:
    shop = Shop(rt)
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


def test_an_unknown_time_zone_is_refused_by_its_setting():
    with pytest.raises(BadSetting, match="APPLOOM_TIME_ZONE: 'Asia/Hangzhou' is not a time zone"):
        Settings.load({"time_zone": "Asia/Hangzhou"}, environ={})
