"""A report's chart drawn from the real data as its studio form changes, before anything
is saved; and the dashboard's tiles, rearranged, previewed as a diff."""

from __future__ import annotations

import html
import json
import re

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.versions import applied
from apploom.web import create_app
from tests.helpers import Shop, browser

FORM = {  # top_customers as its form shows it, drawn as bars by channel
    "report_label_en": "Top customers",
    "report_label_zh": "大客户",
    "report_chart": "bar",
    "report_rows": "channel",
    "report_where": "{status: {not_in: [draft, cancelled]}}",
    "report_sort": "-revenue",
    "m_revenue_kind": "sum",
    "m_revenue_of": "total",
    "m_revenue_format": "money",
    "m_revenue_label_en": "Revenue",
    "m_revenue_label_zh": "销售额",
    "m_orders_kind": "count",
    "m_orders_of": "*",
}


@pytest.fixture
def studio(runtime):
    runtime.users.create("boss", ["admin"], "password1234")
    shop = Shop(runtime)
    for channel in ("web", "store", "web", "phone"):
        order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order(channel=channel))
        if channel != "phone":  # a draft: the report leaves it out
            runtime.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    boss = browser(create_app(runtime=runtime), "boss")
    boss.get("/lang/zh?next=/")
    return boss


def drawn(answer) -> dict:
    found = re.search(r'data-chart="([^"]+)"', answer.get_data(as_text=True))
    assert found, answer.get_data(as_text=True)
    return json.loads(html.unescape(found.group(1)))


def test_the_chart_follows_the_form_and_the_data_without_saving(runtime, studio):
    page = studio.get("/studio/oms/reports/top_customers").get_data(as_text=True)
    assert 'hx-post="/studio/oms/reports/top_customers/chart"' in page
    assert '<option value="customer" selected>客户</option>' in page
    assert '<option value="order_date.month" >下单日期（按月）</option>' in page
    by_channel = drawn(studio.post("/studio/oms/reports/top_customers/chart", data=FORM))
    assert by_channel["type"] == "bar" and by_channel["labels"] == ["线上商城", "门店"]
    assert [s["label"] for s in by_channel["series"]] == ["销售额"]
    assert by_channel["series"][0]["data"] == [586.0, 293.0]  # two web orders, one in store
    as_line = drawn(
        studio.post(
            "/studio/oms/reports/top_customers/chart",
            data={**FORM, "report_chart": "line", "report_rows": "customer"},
        )
    )
    assert as_line["type"] == "line" and as_line["labels"] == ["张三"]
    as_table = studio.post(
        "/studio/oms/reports/top_customers/chart", data={**FORM, "report_chart": "table"}
    ).get_data(as_text=True)
    assert 'class="dense striped report-table"' in as_table and "data-chart" not in as_table
    wrong = studio.post(
        "/studio/oms/reports/top_customers/chart", data={**FORM, "report_rows": "nothing"}
    ).get_data(as_text=True)
    assert 'class="flash error"' in wrong and "nothing" in wrong
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "oms")) == 1  # drawing saves nothing


def test_the_dashboard_rearranged_is_previewed_as_a_diff(studio):
    page = studio.get("/studio/oms/dashboard").get_data(as_text=True)
    assert page.count('class="tile-card"') == 9
    assert 'data-tile="sales_by_month" data-width="3"' in page
    places = {f"t{i}_place": str(i + 2) for i in range(9)} | {"t8_place": "1"}
    widths = {f"t{i}_width": "1" for i in range(9)} | {"t8_width": "2"}
    shown = html.unescape(
        studio.post("/studio/oms/dashboard", data={**places, **widths}).get_data(as_text=True)
    )
    assert "   tiles:\n+    - {report: receivables, width: 2}\n     - {report: revenue}\n" in shown
    assert "-    - {report: receivables}\n" in shown and "+    - {report: top_items}\n" in shown
