"""Formulas: what they may compute, and what they are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apploom.engine.expressions.compiled import ExpressionError, Row, compile_expression


def evaluate(source: str, **names):
    return compile_expression(source).evaluate(names)


def test_arithmetic_over_rows_stays_decimal():
    lines = [Row({"amount": Decimal("0.10")}), Row({"amount": Decimal("0.20")})]
    assert evaluate("sum(l.amount for l in lines)", lines=lines) == Decimal("0.30")
    assert evaluate("qty * 0.1", qty=3) == Decimal("0.3")
    assert evaluate("'big' if total > 100 else 'small'", total=Decimal(150)) == "big"


def test_names_and_attributes_are_reported_for_checks():
    expression = compile_expression("sum(l.amount for l in lines) + fee")
    assert expression.names == {"sum", "lines", "fee"}
    assert expression.attributes == {"amount"}


@pytest.mark.parametrize(
    "source, message",
    [
        ("__import__('os')", "names starting with _"),
        ("x.__class__", "names starting with _"),
        ("(lambda: 1)()", "Lambda"),
        ("[1 for _ in range(3)]", "names starting with _"),
        ("x.__class__.__bases__", "names starting with _"),
        ("'a' + ", "is not a valid expression"),
        ("x" * 3000, "longer than"),
        ("sum(" * 200 + ")" * 200, "nested more than"),
    ],
)
def test_refused(source, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source)


def test_unknown_functions_and_host_objects_never_run_or_leave():
    with pytest.raises(ExpressionError, match="NameError"):
        evaluate("open('/etc/passwd')")
    with pytest.raises(ExpressionError, match="not plain data"):
        evaluate("name.upper", name="x")
    assert evaluate("name.upper()", name="x") == "X"


def test_huge_repetition_is_stopped():
    with pytest.raises(ExpressionError, match="longer than"):
        evaluate("'a' * n", n=10**9)
