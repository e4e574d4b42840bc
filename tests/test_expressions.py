"""Formulas: what they may compute, and what they are refused."""
from __future__ import annotations

from decimal import Decimal

import pytest

from apploom.engine.expressions import ExpressionError, Row, compile_expression


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


@pytest.mark.parametrize("source, message", [
    ("__import__('os')", "names starting with _"),
    ("x.__class__", "names starting with _"),
    ("(lambda: 1)()", "Lambda"),
    ("open('/etc/passwd')", "can only call"),
    ("x.upper()", "can only call"),
    ("2 ** 1000", "Pow"),
    ("[1 for _ in range(3)]", "names starting with _"),
    ("'a' + ", "is not a valid expression"),
    ("x" * 3000, "longer than"),
    ("sum(" * 200 + ")" * 200, "is not a valid expression|too complex"),
])
def test_refused(source, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source)


def test_attribute_reads_only_work_on_rows():
    with pytest.raises(ExpressionError, match="only be read from a row"):
        evaluate("name.upper", name="x")


def test_huge_repetition_is_stopped():
    with pytest.raises(ExpressionError, match="too long"):
        evaluate("'a' * n", n=10 ** 9)
