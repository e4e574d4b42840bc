"""The studio's condition builder: a rule's ``if:`` read into rows of field, operator and
value and written back; what the rows write is a sandboxed expression that holds for the
records it should; what the rows cannot say reads as text."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from apploom.engine.errors import ValidationFailed
from apploom.engine.expressions import sandbox
from apploom.engine.expressions.compiled import compile_expression
from apploom.web.studio.conditions import Condition, expression_of, rows_of

KINDS = {
    "total": "number",
    "qty": "number",
    "channel": "choice",
    "tags": "multi",
    "note": "text",
    "order_date": "date",
    "shipped_at": "datetime",
    "prices_include_tax": "boolean",
    "owner": "link",
    "customer.city": "text",
    "customer.vip": "boolean",
}


@pytest.mark.parametrize(
    "expression, rows",
    [
        ("total > 1000", [Condition("total", "gt", "1000")]),
        ("total >= Decimal('99.90')", [Condition("total", "ge", "99.90")]),
        ("qty < -3", [Condition("qty", "lt", "-3")]),
        ("channel == 'web'", [Condition("channel", "eq", "web")]),
        ("channel != 'web'", [Condition("channel", "ne", "web")]),
        (
            "channel in ['store', 'phone']",
            [Condition("channel", "one_of", ("store", "phone"))],
        ),
        ("'急' in note", [Condition("note", "contains", "急")]),
        ("'gift' in tags", [Condition("tags", "contains", "gift")]),
        ("not owner", [Condition("owner", "empty")]),
        ("owner", [Condition("owner", "filled")]),
        ("total is None", [Condition("total", "empty")]),
        ("total is not None", [Condition("total", "filled")]),
        ("prices_include_tax", [Condition("prices_include_tax", "eq", "yes")]),
        ("not prices_include_tax", [Condition("prices_include_tax", "eq", "no")]),
        ("order_date <= date(2026, 3, 31)", [Condition("order_date", "le", "2026-03-31")]),
        ("customer.city == '杭州'", [Condition("customer.city", "eq", "杭州")]),
        ("not customer.vip", [Condition("customer.vip", "eq", "no")]),
        (
            "local_date(shipped_at) == date(2026, 12, 2)",
            [Condition("shipped_at", "eq", "2026-12-02")],
        ),
        (
            "total > 1000 and channel == 'web' or not owner",
            [
                Condition("total", "gt", "1000"),
                Condition("channel", "eq", "web", "and"),
                Condition("owner", "empty", "", "or"),
            ],
        ),
    ],
)
def test_an_expression_the_builder_writes_reads_back_as_its_rows(expression, rows):
    assert rows_of(expression, KINDS) == rows
    assert expression_of(rows, KINDS) == expression
    compile_expression(expression)  # and the sandbox takes it


@pytest.mark.parametrize(
    "typed, written",
    [
        ("1000 < total", "total > 1000"),
        ("channel in ('store', 'phone', 'email')", "channel in ['store', 'phone', 'email']"),
        ("total > 1000.5", "total > Decimal('1000.5')"),
        ("prices_include_tax == False", "not prices_include_tax"),
        ("prices_include_tax != False", "prices_include_tax"),
        ("(total > 5) and (owner)", "total > 5 and owner"),
    ],
)
def test_other_ways_of_writing_the_same_condition_read_into_rows(typed, written):
    rows = rows_of(typed, KINDS)
    assert rows is not None
    assert expression_of(rows, KINDS) == written
    assert rows_of(written, KINDS) == rows


@pytest.mark.parametrize(
    "expression",
    [
        "total > 1000 and (channel == 'web' or not owner)",  # an or inside an and
        "len(lines) > 0",  # a function of a field
        "old.total != total",  # the values before
        "status == 'backordered' and old.expected_date",
        "'sales' in user.roles",
        "customer.tier == 'vip'",  # a field of the customer the rows do not offer
        "customer.city.x == 'a'",
        "total > discount",  # a field against a field
        "total > 10 > qty",  # a chain
        "nobody == 1",  # not a field
        "not (total > 5)",
        "total == 'web'",  # a text for a number
        "channel > 'a'",  # an order on options
        "owner == 3",  # a user field by id
        "local_date(order_date) == date(2026, 1, 1)",  # a date is not a datetime
        "shipped_at > date(2026, 1, 1)",  # a datetime against a day
        "order_date == date(2026, 2, 30)",
        "total >",  # not an expression at all
    ],
)
def test_what_the_rows_cannot_say_reads_as_text(expression):
    assert rows_of(expression, KINDS) is None


def test_no_condition_is_no_rows_and_no_rows_no_condition():
    assert rows_of(None, KINDS) == rows_of("  ", KINDS) == []
    assert expression_of([], KINDS) == ""


def test_values_are_written_as_their_fields_take_them():
    assert expression_of([Condition("total", "gt", "1,000")], KINDS) == "total > 1000"
    assert expression_of([Condition("note", "eq", 'it\'s "x"')], KINDS) == (
        "note == 'it\\'s \"x\"'"
    )
    rows = rows_of(expression_of([Condition("note", "eq", 'it\'s "x"')], KINDS), KINDS)
    assert rows == [Condition("note", "eq", 'it\'s "x"')]


@pytest.mark.parametrize(
    "row, key",
    [
        (Condition("total", "gt", "lots"), "c0_value"),
        (Condition("total", "gt", ""), "c0_value"),
        (Condition("total", "gt", "NaN"), "c0_value"),
        (Condition("order_date", "eq", "31/12/2026"), "c0_value"),
        (Condition("channel", "one_of", ()), "c0_value"),
        (Condition("note", "eq", "  "), "c0_value"),
        (Condition("owner", "gt", "3"), "c0_op"),
        (Condition("nobody", "eq", "3"), "c0_field"),
    ],
)
def test_a_row_that_cannot_be_written_names_its_input(row, key):
    with pytest.raises(ValidationFailed) as refused:
        expression_of([row], KINDS)
    assert key in refused.value.fields


RECORD = {
    "total": Decimal("1200.00"),
    "qty": 3,
    "channel": "web",
    "tags": ["gift", "vip"],
    "note": "加急 please",
    "order_date": date(2026, 3, 1),
    "shipped_at": datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),  # the 2nd from UTC-8 to UTC+14
    "prices_include_tax": True,
    "owner": None,
}


@pytest.mark.parametrize(
    "rows, holds",
    [
        ([Condition("total", "gt", "1000")], True),
        ([Condition("total", "gt", "1200")], False),
        ([Condition("total", "ge", "1200.00")], True),
        ([Condition("total", "eq", "1200")], True),
        ([Condition("channel", "one_of", ("store", "web"))], True),
        ([Condition("channel", "one_of", ("store",))], False),
        ([Condition("note", "contains", "急")], True),
        ([Condition("tags", "contains", "vip")], True),
        ([Condition("owner", "empty")], True),
        ([Condition("owner", "filled")], False),
        ([Condition("order_date", "lt", "2026-03-02")], True),
        ([Condition("shipped_at", "eq", "2026-03-02")], True),
        ([Condition("prices_include_tax", "eq", "no")], False),
        ([Condition("total", "lt", "5"), Condition("qty", "eq", "3", "or")], True),
        ([Condition("total", "gt", "5"), Condition("qty", "eq", "4", "and")], False),
    ],
)
def test_what_the_rows_write_holds_in_the_sandbox_for_the_records_it_should(rows, holds):
    assert bool(sandbox.evaluate(expression_of(rows, KINDS), RECORD)) is holds
