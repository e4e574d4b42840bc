"""A new version's fields and formulas reach the records already there: a field added
with a default takes it, a formula added or changed is computed for every old record and
its rows, and nothing else about them changes. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source
from tests.helpers import make_runtime, reopen

BEFORE = """
app: till
label: Till
entities:
  sale:
    label: Sale
    fields:
      note: {type: text}
      sold_on: {type: date}
      lines: {type: table, of: sale_line}
      total: {type: money, formula: "sum(l.amount for l in lines)"}
  sale_line:
    label: Sale line
    fields:
      qty: {type: integer, required: true}
      price: {type: money, required: true}
      amount: {type: money, formula: "qty * price"}
"""
AFTER = (
    BEFORE.replace(
        '      total: {type: money, formula: "sum(l.amount for l in lines)"}\n',
        "      fee: {type: money, default: 5}\n"
        "      sold_at: {type: datetime, required: true, default: now, fill: sold_on}\n"
        "      channel: {type: text}\n"
        '      total: {type: money, formula: "sum(l.amount for l in lines) + fee"}\n'
        '      net: {type: money, formula: "total - fee"}\n',
    )
    .replace(
        "      sold_on: {type: date}\n",
        '      sold_on: {type: date, formula: "local_date(sold_at)"}\n',
    )
    .replace(
        '      amount: {type: money, formula: "qty * price"}\n',
        '      amount: {type: money, formula: "qty * price"}\n'
        '      tax: {type: money, formula: "round_half_up(amount * 13 / 113, 2)"}\n',
    )
)


@pytest.fixture
def till(database_url, tmp_path):
    rt = make_runtime(database_url, tmp_path / "till", [Source("till.yaml", BEFORE)])
    yield rt
    rt.close()


def test_old_records_take_new_defaults_and_formulas(till):
    sale = till.records.create(
        SYSTEM_USER,
        "till.sale",
        {
            "sold_on": "2026-11-30",
            "lines": [{"qty": 2, "price": "56.50"}, {"qty": 1, "price": "9.99"}],
        },
    )
    assert sale["total"] == "122.99"
    rt = reopen(till, [Source("till.yaml", AFTER)])
    try:
        again = rt.records.get(SYSTEM_USER, "till.sale", sale["id"])
        assert again["fee"] == "5.00"  # the new field's default
        assert again["channel"] is None  # no default: empty, as before
        assert again["sold_at"] == "2026-11-29T16:00:00Z"  # its fill: the day's start, Shanghai
        assert again["sold_on"] == "2026-11-30"  # typed before it became a formula: kept
        assert (again["total"], again["net"]) == ("127.99", "122.99")
        assert [line["tax"] for line in again["lines"]] == ["13.00", "1.15"]
        assert again["version"] == sale["version"]  # computed, not changed by anyone
        assert [h["action"] for h in rt.records.history(SYSTEM_USER, "till.sale", sale["id"])] == [
            "create"
        ]
    finally:
        rt.close()
