"""Workflow analytics in SQL, against times set by hand on the engine's clock, on SQLite
and PostgreSQL; the page and the API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.web import create_app
from tests.helpers import Api, browser

START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def at(hours: float):
    return clock.at(START + timedelta(hours=hours))


def order(rt, shop, steps):
    """An order created at hour 0 that takes each (hour, transition) in turn."""
    with at(0):
        made = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    for hour, name in steps:
        with at(hour):
            rt.transitions.take(
                SYSTEM_USER,
                "oms.order",
                made["id"],
                name,
                {"carrier": "sf"} if name == "ship" else None,
            )
    return made["id"]


def test_states_times_throughput_and_waiting_records(runtime, shop):
    quick = order(runtime, shop, [(2, "confirm"), (5, "pick")])
    slow = order(runtime, shop, [(1, "confirm")])
    order(runtime, shop, [(4, "cancel")])
    found = runtime.flow.analyse(SYSTEM_USER, "oms.order", now=START + timedelta(hours=50))
    states = {s["state"]: s for s in found["states"]}
    assert (states["picking"]["now"], states["confirmed"]["now"], states["cancelled"]["now"]) == (
        1,
        1,
        1,
    )
    assert states["draft"]["records"] == 3
    assert states["draft"]["average_hours"] == round((2 + 1 + 4) / 3, 2)
    assert states["draft"]["p90_hours"] == 4.0  # fewer than ten: the longest
    assert states["confirmed"]["records"] == 2
    assert states["confirmed"]["average_hours"] == (3 + 49) / 2  # the slow one still waits
    assert states["cancelled"]["average_hours"] is None  # final: nothing to time
    assert found["throughput"] == [{"period": "2026-03", "state": "cancelled", "records": 1}]
    assert [(s["id"], s["state"], s["hours"]) for s in found["stuck"]] == [
        (slow, "confirmed", 49.0)
    ]  # picking since hour 5: 45 h, not yet
    assert quick not in [s["id"] for s in found["stuck"]]
    weekly = runtime.flow.analyse(
        SYSTEM_USER,
        "oms.order",
        period="week",
        stuck_after=timedelta(hours=40),
        now=START + timedelta(hours=50),
    )
    assert weekly["throughput"][0]["period"] == "2026-03-02"  # a Monday
    assert {s["id"] for s in weekly["stuck"]} == {slow, quick}


def test_time_in_many_records_has_a_90th_percentile(runtime, shop):
    for hours in range(1, 21):  # confirmed after 1 h, 2 h ... 20 h
        order(runtime, shop, [(hours, "confirm")])
    draft = next(
        s for s in runtime.flow.analyse(SYSTEM_USER, "oms.order")["states"] if s["state"] == "draft"
    )
    assert draft["records"] == 20 and draft["average_hours"] == 10.5
    assert draft["p90_hours"] == 18.0  # 18 of 20 took at most 18 h


def test_the_flow_page_and_api(runtime, shop):
    order(runtime, shop, [(1, "confirm")])
    runtime.users.create("sue", ["sales"], "password1234")
    app = create_app(runtime=runtime)
    page = browser(app, "sue").get("/a/oms/order/flow?period=week&stuck_hours=24")
    assert page.status_code == 200 and "Where records are" in page.get_data(as_text=True)
    api = Api(app.test_client(), runtime.users.create_token("sue"))
    body = api.get("/api/v1/oms/order/flow?stuck_hours=1").json
    assert body["stuck"][0]["state"] == "confirmed" and body["period"] == "month"
    assert api.get("/api/v1/oms/order/flow?period=decade").status_code == 400
    assert api.get("/api/v1/crm/customer/flow").status_code == 400  # no workflow
