"""The change pipeline: balances hear of a change before rules, and only named stages."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.records.pipeline import STAGES, ChangePipeline


def test_stages_run_in_the_declared_order_whatever_order_they_are_attached_in():
    heard = []
    pipeline = ChangePipeline()
    pipeline.attach("rules", lambda conn, change: heard.append("rules") or False)
    pipeline.attach("balances", lambda conn, change: heard.append("balances") or True)
    assert pipeline.run(None, None) is True
    assert heard == list(STAGES) == ["balances", "rules"]


def test_an_unknown_or_second_stage_is_refused():
    pipeline = ChangePipeline()
    with pytest.raises(ValueError, match="the stages are: balances, rules"):
        pipeline.attach("audit", lambda conn, change: False)
    pipeline.attach("rules", lambda conn, change: False)
    with pytest.raises(ValueError, match="attached already"):
        pipeline.attach("rules", lambda conn, change: False)


def test_rules_read_the_balance_the_same_change_moved(sqlite_runtime):
    """A receipt's rule sees the stock the receipt just added: balances come first."""
    rt = sqlite_runtime
    seen = []
    balances = rt.balances.on_change

    def recording(conn, change):
        seen.append("balances")
        return balances(conn, change)

    def rules(conn, change):
        if change.entity.qualified == "wms.stock_move":
            stock = rt.records.tables["wms_stock"]
            seen.append(conn.execute(stock.select()).mappings().first()["on_hand"])
        return False

    rt.records.pipeline = ChangePipeline()
    rt.records.pipeline.attach("rules", rules)
    rt.records.pipeline.attach("balances", recording)
    item = rt.records.create(
        SYSTEM_USER, "wms.item", {"sku": "CUP-1", "name": "Cup", "price": "12.50"}
    )
    store = rt.records.create(SYSTEM_USER, "wms.warehouse", {"code": "SH", "name": "Shanghai"})
    rt.records.create(
        SYSTEM_USER,
        "wms.stock_move",
        {"item": item["id"], "kind": "receipt", "warehouse": store["id"], "qty": 7},
    )
    assert seen[-2:] == ["balances", 7]
