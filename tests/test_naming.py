"""Naming series: unique, increasing and gap-free, also under concurrent creates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.errors import ValidationFailed
from apploom.engine.records.naming import format_problems, series_prefix


def test_series_prefix_fills_in_the_date():
    when = datetime(2026, 3, 9, tzinfo=timezone.utc)
    assert series_prefix("SO-{YYYY}{MM}-{#####}", when) == "SO-202603-"
    assert series_prefix("{YY}{DD}/{###}", when) == "2609/"


@pytest.mark.parametrize(
    "pattern, problem",
    [
        ("SO-{YYYY}", "needs exactly one counter"),
        ("SO-{###}-{##}", "needs exactly one counter"),
        ("SO-{###}-{YYYY}", "must end with its counter"),
        ("SO-{WEEK}-{###}", "'{WEEK}' is not a numbering token"),
    ],
)
def test_bad_patterns_are_explained(pattern, problem):
    assert any(problem in p for p in format_problems(pattern))


def test_numbers_increase_and_a_failed_create_gives_its_number_back(runtime, shop):
    first = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    with pytest.raises(ValidationFailed):
        runtime.records.create(SYSTEM_USER, "oms.order", shop.order(customer=999999))
    second = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    assert int(second["number"][-5:]) == int(first["number"][-5:]) + 1


def test_concurrent_creates_get_unique_gap_free_numbers(runtime, shop):
    count = 40

    def create(_):
        return runtime.records.create(SYSTEM_USER, "oms.order", shop.order())["number"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(create, range(count)))
    counters = sorted(int(n[-5:]) for n in numbers)
    assert counters == list(range(1, count + 1))
