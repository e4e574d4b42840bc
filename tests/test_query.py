"""The query language: operators, ref paths, search, sort and paging, names checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.errors import BadQuery
from apploom.engine.query.filters import Condition, Query, parse_params, parse_where


@pytest.fixture
def orders(runtime, shop):
    create = runtime.records.create
    made = [
        create(SYSTEM_USER, "oms.order", shop.order(channel="web", external_id="A-1")),
        create(
            SYSTEM_USER,
            "oms.order",
            shop.order(channel="store", external_id="B_2", customer=shop.other["id"]),
        ),
        create(
            SYSTEM_USER,
            "oms.order",
            shop.order(
                channel="phone",
                note="50% off",
                lines=[{"item": shop.cup["id"], "qty": 1, "price": "12.50"}],
            ),
        ),
    ]
    return made


def numbers(runtime, **params) -> list[str]:
    page = runtime.records.list(SYSTEM_USER, "oms.order", parse_params(params))
    return [o["external_id"] or o["channel"] for o in page.data]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"channel": "web"}, {"A-1"}),
        ({"channel__ne": "web"}, {"B_2", "phone"}),
        ({"channel__in": "web,store"}, {"A-1", "B_2"}),
        ({"channel__not_in": "web,store"}, {"phone"}),
        ({"external_id__not_in": "A-1"}, {"B_2", "phone"}),  # no value is not in the list
        ({"total__gt": "100"}, {"A-1", "B_2"}),
        ({"total__lte": "12.50"}, {"phone"}),
        ({"total__between": "10,20"}, {"phone"}),
        ({"external_id__contains": "_"}, {"B_2"}),
        ({"external_id__startswith": "a-"}, {"A-1"}),
        ({"external_id__is_null": "true"}, {"phone"}),
        ({"note__contains": "50%"}, {"phone"}),
        ({"customer.city": "London"}, {"B_2"}),
        ({"customer.name__contains": "张"}, {"A-1", "phone"}),
        ({"q": "emma"}, {"B_2"}),
        ({"q": "A-1"}, {"A-1"}),
    ],
)
def test_filters(runtime, orders, params, expected):
    assert set(numbers(runtime, **params)) == expected


def test_sort_limit_offset_and_total(runtime, orders):
    page = runtime.records.list(
        SYSTEM_USER, "oms.order", Query(sort=("-total", "channel"), limit=2, offset=1)
    )
    assert page.total == 3
    assert [o["channel"] for o in page.data] == ["web", "phone"]
    by_customer = runtime.records.list(SYSTEM_USER, "oms.order", Query(sort=("customer.name",)))
    assert by_customer.data[0]["customer"] == orders[1]["customer"]


def test_field_selection(runtime, orders):
    page = runtime.records.list(
        SYSTEM_USER, "oms.order", parse_params({"fields": "number,lines", "limit": "1"})
    )
    assert set(page.data[0]) == {"id", "version", "number", "lines"}


def test_definition_filters_share_the_language(runtime, orders):
    conditions = parse_where({"channel": ["web", "phone"], "total": {"gte": "20"}})
    assert conditions == (
        Condition("channel", "in", ["web", "phone"]),
        Condition("total", "gte", "20"),
    )
    page = runtime.records.list(SYSTEM_USER, "oms.order", Query(conditions=conditions))
    assert [o["external_id"] for o in page.data] == ["A-1"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"nope": "1"}, "nope"),
        ({"total__gt": "lots"}, "total"),
        ({"channel__contains": "w"}, "channel"),
        ({"channel": "fax"}, "channel"),
        ({"customer.nope": "x"}, "nope"),
        ({"channel.name": "x"}, "channel.name"),
        ({"sort": "-nope"}, "nope"),
        ({"limit": "ten"}, "limit"),
        ({"total__between": "1"}, "total"),
        ({"external_id__is_null": "maybe"}, "external_id"),
        ({"order_date__older_than_days": "-1"}, "order_date"),
        ({"order_date__older_than_days": "36501"}, "order_date"),
        ({"created_at__not_older_than_days": "a week"}, "created_at"),
        ({"total__older_than_days": "3"}, "total"),
    ],
)
def test_bad_queries_name_the_parameter(runtime, orders, params, field):
    with pytest.raises(BadQuery) as caught:
        runtime.records.list(SYSTEM_USER, "oms.order", parse_params(params))
    assert any(
        field in key or field in message for key, message in caught.value.fields.items()
    ) or field in str(caught.value)


def test_limit_is_capped(runtime, orders):
    page = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=10_000))
    assert page.total == 3 and len(page.data) == 3


@pytest.mark.parametrize(
    "where",
    [
        {"channel": {"not_in": ["web"]}},
        {"external_id": {"not_in": ["A-1"]}},
        {"note": {"contains": "OFF"}},
        {"external_id": {"startswith": "a-"}},
        {"total": {"between": ["10", "20"]}},
        {"external_id": {"is_null": True}},
        {"customer.city": {"eq": "London"}},
    ],
)
def test_a_report_reads_a_filter_as_a_list_does(runtime, orders, where):
    """One compiler: a report's ``where`` keeps the records the list's filter keeps."""
    listed = runtime.records.list(SYSTEM_USER, "oms.order", Query(parse_where(where)))
    report = replace(runtime.reports.find("oms", "revenue"), where=where)
    counted = runtime.reports.run(SYSTEM_USER, report, {}).totals["orders"]
    assert listed.total == counted > 0


def test_dates_and_times_filter_by_their_age_in_days(runtime, shop):
    """A day's age is today minus that day, today being the business's (Asia/Shanghai
    here): a time late on the 30th there is 0 days old that day, and 1 day old just after
    its midnight."""
    late = datetime(2026, 6, 30, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    with clock.at(late):
        for age in (0, 30, 31):
            day = (date(2026, 6, 30) - timedelta(days=age)).isoformat()
            runtime.records.create(
                SYSTEM_USER, "oms.order", shop.order(ordered_at=day, external_id=f"AGE-{age}")
            )
        assert set(numbers(runtime, order_date__older_than_days="30")) == {"AGE-31"}
        assert set(numbers(runtime, order_date__not_older_than_days="30")) == {"AGE-0", "AGE-30"}
        assert numbers(runtime, order_date__not_older_than_days="0") == ["AGE-0"]
        assert numbers(runtime, created_at__older_than_days="0") == []
        assert len(numbers(runtime, created_at__not_older_than_days="0")) == 3
    with clock.at(late + timedelta(hours=1)):
        assert len(numbers(runtime, created_at__older_than_days="0")) == 3
        assert numbers(runtime, created_at__older_than_days="1") == []
    report = replace(
        runtime.reports.find("oms", "revenue"),
        where={"order_date": {"older_than_days": 30}},
        filters=(),
    )
    with clock.at(late):
        assert runtime.reports.run(SYSTEM_USER, report, {}).totals["orders"] == 1  # AGE-31
