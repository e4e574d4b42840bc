"""Aggregate tables: balances over a ledger kept in the write's transaction, checked
atomically, rebuilt from the ledger, and never oversold under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import DefinitionError, ValidationFailed
from apploom.engine.fields.registry import FieldTypes
from tests.helpers import app_text, reopen

DEPOT = app_text("depot")


@pytest.fixture
def depot(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("depot.yaml", DEPOT)])
    rt.cup = rt.records.create(SYSTEM_USER, "depot.product", {"name": "cup"})["id"]
    yield rt
    rt.close()


def move(rt, kind, qty, product=None):
    return rt.records.create(
        SYSTEM_USER, "depot.move", {"product": product or rt.cup, "kind": kind, "qty": qty}
    )


def stock(rt):
    row = rt.balances.read("stock", product=rt.cup)
    return (row["on_hand"], row["reserved"]) if row else None


def test_balances_follow_creates_updates_and_deletes(depot):
    assert stock(depot) is None
    receipt = move(depot, "receipt", 10)
    reservation = move(depot, "reserve", 4)
    assert stock(depot) == (10, 4)
    depot.records.update(SYSTEM_USER, "depot.move", reservation["id"], {"qty": 6}, version=1)
    assert stock(depot) == (10, 6)
    depot.records.delete(SYSTEM_USER, "depot.move", reservation["id"])
    assert stock(depot) == (10, 0)
    depot.records.update(SYSTEM_USER, "depot.move", receipt["id"], {"qty": 12}, version=1)
    assert stock(depot) == (12, 0)


def test_the_check_refuses_a_write_that_would_break_it_and_nothing_is_written(depot):
    move(depot, "receipt", 10)
    move(depot, "reserve", 4)
    with pytest.raises(ValidationFailed) as caught:
        move(depot, "reserve", 7)
    assert (
        "refused by the stock balance (on_hand - reserved >= 0): now on_hand 10, "
        "reserved 4" in caught.value.fields["product"]
    )
    with pytest.raises(ValidationFailed):
        move(depot, "issue", 7)
    assert stock(depot) == (10, 4)
    assert depot.records.list(SYSTEM_USER, "depot.move").total == 2


def test_a_rebuild_from_the_ledger_equals_the_running_figures(depot):
    for kind, qty in (
        ("receipt", 30),
        ("reserve", 5),
        ("issue", 3),
        ("release", 2),
        ("reserve", 9),
    ):
        move(depot, kind, qty)
    running = stock(depot)
    assert depot.balances.rebuild("stock") == 1
    assert stock(depot) == running == (27, 12)


def test_concurrent_reservations_never_oversell(depot):
    move(depot, "receipt", 10)

    def reserve(_):
        try:
            move(depot, "reserve", 1)
            return "reserved"
        except ValidationFailed:
            return "short"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(reserve, range(20)))
    assert outcomes.count("reserved") == 10 and outcomes.count("short") == 10
    assert stock(depot) == (10, 10)


@pytest.mark.parametrize(
    "change, message",
    [
        (("by: [product]", "by: [warehouse]"), "'warehouse' is not a field of move"),
        (
            ('check: "on_hand - reserved >= 0"', 'check: "on_hand * 2 >= 0"'),
            "the check may only add, subtract and compare",
        ),
        (('on_hand:  "qty', 'on_hand:  "size + qty'), "uses 'size', which is not a field"),
    ],
)
def test_balance_definitions_are_checked(change, message):
    old, new = change
    with pytest.raises(DefinitionError, match=message):
        load_apps([Source("depot.yaml", DEPOT.replace(old, new))], FieldTypes())
