"""Amounts, numbers, days and times as each language reads them (CLDR, through Babel)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from apploom.engine import clock, formatting
from apploom.engine.errors import BadSetting
from apploom.engine.settings import Settings


@pytest.fixture
def currency():
    """Set the instance's currency for one test; CNY again after it."""
    yield formatting.use_currency
    formatting.use_currency(formatting.DEFAULT_CURRENCY)


@pytest.fixture
def zone():
    yield clock.use_zone
    clock.use_zone(clock.DEFAULT_ZONE)


@pytest.mark.parametrize(
    "amount, lang, shown",
    [
        (Decimal("1234"), "zh", "¥1,234.00"),
        ("2027705.51", "zh", "¥2,027,705.51"),
        ("-5.5", "zh", "-¥5.50"),
        (Decimal("1234"), "en", "CN¥1,234.00"),
        (0, "en", "CN¥0.00"),
        ("1234", "fr", "CN¥1,234.00"),  # a language without a locale reads as English
    ],
)
def test_money_carries_the_instance_currency_as_the_language_writes_it(amount, lang, shown):
    assert formatting.money(amount, lang) == shown


def test_money_follows_the_currency_setting(currency):
    currency("HKD")
    assert formatting.money("99", "zh") == "HK$99.00"
    assert formatting.money("99", "en") == "HK$99.00"
    currency("USD")
    assert formatting.money("12.5", "zh") == "US$12.50"
    assert formatting.money("12.5", "en") == "$12.50"


def test_the_currency_setting_is_an_iso_code_and_cny_unless_set():
    assert Settings.load({}, environ={}).currency == "CNY"
    assert Settings.load({}, environ={"APPLOOM_CURRENCY": "HKD"}).currency == "HKD"
    with pytest.raises(BadSetting, match="APPLOOM_CURRENCY: 'RMB' is not a currency code"):
        Settings.load({"currency": "RMB"}, environ={})


@pytest.mark.parametrize(
    "value, lang, shown",
    [
        (1234567, "zh", "1,234,567"),
        (-42, "en", "-42"),
        (Decimal("1234.5000"), "zh", "1,234.5"),  # the digits it has, not the column's zeros
        ("0.0625", "en", "0.0625"),
    ],
)
def test_numbers_are_grouped_and_keep_their_digits(value, lang, shown):
    assert formatting.number(value, lang) == shown


@pytest.mark.parametrize(
    "points, shown", [("12.50", "12.5%"), (8, "8%"), ("0.25", "0.25%"), ("1250", "1,250%")]
)
def test_percentages_are_points_with_the_sign_attached(points, shown):
    assert formatting.percent(points, "zh") == shown
    assert formatting.percent(points, "en") == shown


def test_days_read_with_the_month_in_words_or_characters():
    assert formatting.day(date(2026, 12, 2), "zh") == "2026年12月2日"
    assert formatting.day("2026-12-02", "en") == "Dec 2, 2026"


def test_moments_read_on_the_business_clock(zone):
    evening = datetime(2026, 3, 1, 17, 0, tzinfo=timezone.utc)
    assert formatting.moment(evening, "zh") == "2026年3月2日 01:00"  # Shanghai: the next day
    assert formatting.moment("2026-03-01T17:00:00Z", "en") == "Mar 2, 2026, 1:00\u202fAM"
    zone("Europe/London")
    assert formatting.moment(evening, "zh") == "2026年3月1日 17:00"
    summer = datetime(2026, 7, 1, 17, 0)  # naive: UTC
    assert formatting.moment(summer, "en") == "Jul 1, 2026, 6:00\u202fPM"  # London keeps BST


@pytest.mark.parametrize(
    "key, bucket, zh, en",
    [
        ("2026-03-02", "day", "2026年3月2日", "Mar 2, 2026"),
        ("2026-03-02", "week", "2026年3月2日", "Mar 2, 2026"),  # by its Monday
        ("2026-03", "month", "2026年3月", "Mar 2026"),
        ("2026-Q4", "quarter", "2026年第4季度", "Q4 2026"),
        ("2026", "year", "2026年", "2026"),
    ],
)
def test_report_buckets_name_their_period(key, bucket, zh, en):
    assert formatting.period(key, bucket, "zh") == zh
    assert formatting.period(key, bucket, "en") == en
