"""Every bundled report against the same answer computed here, independently, from the
records themselves, on generated data, on SQLite and PostgreSQL; drill-down, the API
and definition checks."""

from __future__ import annotations

from collections import defaultdict
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from openapi_spec_validator import validate

from apploom.demo import load_demo
from apploom.engine import clock
from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import DefinitionError
from apploom.engine.query.filters import Query, parse_params
from apploom.engine.reports.service import drill_params
from apploom.web import create_app
from apploom.web.reports import table
from tests.helpers import BACKENDS, PG_URL, Api, bundled_plugins, make_runtime, pg_schema

SOLD = ("draft", "cancelled")
FOUR = Decimal("0.0001")
AGES = [("days_0_30", 30), ("days_31_60", 60), ("days_61_90", 90), ("over_90", 10**6)]


@pytest.fixture(scope="module", params=BACKENDS)
def business(request, tmp_path_factory):
    """A generated business, once per database for the whole module."""
    folder = tmp_path_factory.mktemp(request.param)
    with ExitStack() as cleanup:
        url = (
            cleanup.enter_context(pg_schema(PG_URL))
            if request.param == "postgresql"
            else f"sqlite:///{folder / 'year.db'}"
        )
        rt = make_runtime(url, folder / "instance")
        cleanup.callback(rt.close)
        admin = load_demo(rt, orders=160, days=120)
        for item in rt.records.list(admin, "wms.item", Query(limit=2)).data:
            rt.records.update(
                admin, "wms.item", item["id"], {"reorder_point": 100000}, version=item["version"]
            )  # two items far below it
        yield rt, admin


def everything(rt, user, ref):
    return rt.records.list(user, ref, Query(limit=500)).data + [
        r
        for offset in range(500, 100_000, 500)
        for r in rt.records.list(user, ref, Query(limit=500, offset=offset)).data
    ]


def run(rt, user, name, params=None):
    app, _, report = name.partition(".")
    return rt.reports.run(user, rt.reports.find(app, report), params or {})


def sold(rt, user):
    return [o for o in everything(rt, user, "oms.order") if o["status"] not in SOLD]


def money(values) -> Decimal:
    return sum((Decimal(v) for v in values), Decimal("0.00"))


def test_revenue_orders_and_average_order_value(business):
    rt, user = business
    orders = sold(rt, user)
    revenue = money(o["total"] for o in orders)
    assert run(rt, user, "oms.revenue").totals == {"revenue": revenue, "orders": len(orders)}
    assert run(rt, user, "oms.average_order_value").totals["average"] == (
        revenue / len(orders)
    ).quantize(Decimal("0.01"))


def test_revenue_within_the_viewers_dates_and_channels(business):
    rt, user = business
    orders = sold(rt, user)
    days = sorted(o["order_date"] for o in orders)
    low, high = days[len(days) // 4], days[3 * len(days) // 4]
    chosen = [
        o for o in orders if low <= o["order_date"] <= high and o["channel"] in ("web", "store")
    ]
    found = run(rt, user, "oms.revenue", {"from": low, "to": high, "channel": "web,store"})
    assert found.totals == {"revenue": money(o["total"] for o in chosen), "orders": len(chosen)}


def test_backorder_rate(business):
    rt, user = business
    orders = sold(rt, user)
    late = [o for o in orders if o["was_backordered"]]
    found = run(rt, user, "oms.backorder_rate").totals
    assert (found["orders"], found["backordered"]) == (len(orders), len(late))
    assert abs(found["rate"] - Decimal(len(late)) / len(orders)) <= FOUR


def test_sales_by_month_and_channel(business):
    rt, user = business
    expected = defaultdict(lambda: Decimal("0.00"))
    for o in sold(rt, user):
        expected[(o["order_date"][:7], o["channel"])] += Decimal(o["total"])
    found = run(rt, user, "oms.sales_by_month")
    cells = {
        (row["keys"][0], found.columns[i][0]): values["revenue"]
        for row in found.rows
        for i, values in row["cells"].items()
    }
    assert cells == dict(expected)
    assert [row["keys"][0] for row in found.rows] == sorted({m for m, _ in expected})


def test_a_report_names_its_options_in_the_language_asked_for(business):
    """Rows and pivot columns by a choice read as the definition labels its options."""
    rt, user = business
    options = {o.value: o.label for o in rt.records.entity("oms.order").fields["channel"].options}
    report = rt.reports.find("oms", "sales_by_month")
    for lang in ("en", "zh"):
        found = rt.reports.run(user, report, {}, lang)
        assert found.column_labels == [options[keys[0]].get(lang) for keys in found.columns]
    methods = {o.value: o.label for o in rt.records.entity("oms.payment").fields["method"].options}
    by_method = rt.reports.run(user, rt.reports.find("oms", "payments_by_method"), {}, "zh")
    assert [row["labels"][0] for row in by_method.rows] == [
        methods[row["keys"][0]].zh for row in by_method.rows
    ]


def test_top_customers(business):
    rt, user = business
    revenue, count = defaultdict(lambda: Decimal("0.00")), defaultdict(int)
    for o in sold(rt, user):
        revenue[o["customer"]] += Decimal(o["total"])
        count[o["customer"]] += 1
    best = sorted(revenue, key=lambda c: (-revenue[c], c))[:10]
    found = run(rt, user, "oms.top_customers")
    assert [
        (row["keys"][0], row["values"]["revenue"], row["values"]["orders"]) for row in found.rows
    ] == [(c, revenue[c], count[c]) for c in best]
    assert found.totals == {
        "revenue": sum(revenue.values()),  # all, not the top 10
        "orders": sum(count.values()),
    }
    names = rt.records.titles(user, "crm.customer", set(best))
    assert [row["labels"][0] for row in found.rows] == [names[c] for c in best]


def test_top_items_read_through_the_lines_order(business):
    rt, user = business
    revenue, units = defaultdict(lambda: Decimal("0.00")), defaultdict(int)
    for o in sold(rt, user):
        for line in o["lines"]:
            revenue[line["item"]] += Decimal(line["amount"])
            units[line["item"]] += line["qty"]
    best = sorted(revenue, key=lambda i: (-revenue[i], i))[:10]
    found = run(rt, user, "oms.top_items")
    assert [
        (row["keys"][0], row["values"]["revenue"], row["values"]["units"]) for row in found.rows
    ] == [(i, revenue[i], units[i]) for i in best]


def test_processing_time_by_month(business):
    rt, user = business
    hours = defaultdict(list)
    for o in everything(rt, user, "oms.order"):
        if o["shipped_at"]:
            hours[o["shipped_at"][:7]].append(Decimal(o["hours_to_ship"]))
    found = run(rt, user, "oms.processing_time")
    assert [row["keys"][0] for row in found.rows] == sorted(hours)
    every = [h for spent in hours.values() for h in spent]
    assert found.totals["shipped"] == len(every) and found.totals["slowest"] == max(every)
    assert abs(found.totals["hours"] - sum(every) / len(every)) <= FOUR
    for row in found.rows:
        spent = hours[row["keys"][0]]
        assert row["values"]["shipped"] == len(spent)
        assert row["values"]["slowest"] == max(spent)
        assert abs(row["values"]["hours"] - sum(spent) / len(spent)) <= FOUR


def test_receivables_by_customer_and_age(business):
    """What each customer owes on orders unpaid or partly paid, by the age of the order
    date: 0-30, 31-60, 61-90 and more than 90 days."""
    rt, user = business
    now = datetime.now(timezone.utc)
    owed: dict = defaultdict(lambda: defaultdict(Decimal))
    for o in sold(rt, user):
        if o["payment_status"] in ("unpaid", "partially_paid"):
            age = (clock.local(now).date() - date.fromisoformat(o["order_date"])).days
            bucket = next(n for n, top in AGES if age <= top)
            for name in ("outstanding", bucket):
                owed[o["customer"]][name] += Decimal(o["total"]) - Decimal(o["paid"])
            owed[o["customer"]]["orders"] += 1
    assert len({name for figures in owed.values() for name in figures}) > 3  # of two ages
    with clock.at(now):
        found = run(rt, user, "oms.receivables_by_customer")
        overall = run(rt, user, "oms.receivables")
    assert {
        row["keys"][0]: {k: v for k, v in row["values"].items() if v is not None}
        for row in found.rows
    } == {customer: dict(figures) for customer, figures in owed.items()}
    assert found.totals == overall.totals
    assert overall.totals["outstanding"] == sum(f["outstanding"] for f in owed.values())


def test_payments_by_method(business):
    rt, user = business
    expected: dict = defaultdict(lambda: defaultdict(Decimal))
    for p in everything(rt, user, "oms.payment"):
        if p["status"] == "recorded":
            amount = Decimal(p["amount"])
            figures = expected[p["method"]]
            figures["received" if amount > 0 else "refunded"] += amount
            figures["net"] += amount
            figures["payments"] += 1
    found = run(rt, user, "oms.payments_by_method")
    assert {
        row["keys"][0]: {k: v for k, v in row["values"].items() if v is not None}
        for row in found.rows
    } == {method: dict(figures) for method, figures in expected.items()}
    received = [row["values"]["received"] for row in found.rows]
    assert received == sorted(received, reverse=True)
    assert [row["keys"][0] for row in found.rows][:2] in (
        ["alipay", "wechat_pay"],
        ["wechat_pay", "alipay"],
    )  # how most customers pay


def test_the_demo_pays_its_orders(business):
    """Most orders paid in full, some open and a few in part; refunded returns paid back
    by a payment bound to them; each order's figures are its payments'."""
    rt, user = business
    paid: dict = defaultdict(Decimal)
    refunded: dict = defaultdict(Decimal)
    bound: dict = defaultdict(Decimal)
    for p in everything(rt, user, "oms.payment"):
        amount = Decimal(p["amount"])
        paid[p["order"]] += amount
        if amount < 0:
            refunded[p["order"]] -= amount
        if p["rma"] is not None:
            bound[p["rma"]] -= amount
    status = defaultdict(int)
    for o in everything(rt, user, "oms.order"):
        assert Decimal(o["paid"]) == paid[o["id"]], o["number"]
        status[o["payment_status"]] += 1
        if refunded[o["id"]]:
            assert o["payment_status"] in ("partially_refunded", "refunded"), o["number"]
    assert status["paid"] > status["unpaid"] > 0 and status["partially_paid"] > 0
    for rma in everything(rt, user, "oms.return"):
        if rma["status"] == "refunded":
            assert bound[rma["id"]] == Decimal(rma["refund_amount"]), rma["number"]


def stock_rows(rt, user):
    return rt.balances.rows(user, "stock", limit=100_000)[0]


def test_stock_on_hand_and_value_per_warehouse(business):
    rt, user = business
    cost = {i["id"]: Decimal(i["cost"] or 0) for i in everything(rt, user, "wms.item")}
    expected = defaultdict(lambda: [0, 0, Decimal("0.00")])
    for row in stock_rows(rt, user):
        figures = expected[row["warehouse"]]
        figures[0] += row["on_hand"]
        figures[1] += row["reserved"]
        figures[2] += row["on_hand"] * cost[row["item"]]
    found = run(rt, user, "wms.stock_by_warehouse")
    assert {
        row["keys"][0]: [row["values"][m] for m in ("on_hand", "reserved", "value")]
        for row in found.rows
    } == {k: v for k, v in expected.items()}
    total = run(rt, user, "wms.stock_value").totals
    assert total["value"] == sum((v[2] for v in expected.values()), Decimal("0.00"))


def test_items_below_their_reorder_point(business):
    rt, user = business
    point = {i["id"]: i["reorder_point"] for i in everything(rt, user, "wms.item")}
    available = defaultdict(int)
    for row in stock_rows(rt, user):
        available[row["item"]] += row["available"]
    low = sorted((a, i) for i, a in available.items() if a < point[i])
    found = run(rt, user, "wms.below_reorder_point")
    assert [(row["values"]["available"], row["keys"][0]) for row in found.rows] == low
    assert len(low) >= 2


def test_pipeline_and_new_customers(business):
    rt, user = business
    stages = defaultdict(lambda: [0, Decimal("0.00")])
    for o in everything(rt, user, "crm.opportunity"):
        stages[o["stage"]][0] += 1
        stages[o["stage"]][1] += Decimal(o["amount"] or 0)
    found = run(rt, user, "crm.pipeline")
    assert {
        row["keys"][0]: [row["values"]["deals"], row["values"]["amount"]] for row in found.rows
    } == {k: v for k, v in stages.items()}
    months = defaultdict(int)
    for c in everything(rt, user, "crm.customer"):
        months[c["created_at"][:7]] += 1
    assert {
        row["keys"][0]: row["values"]["customers"]
        for row in run(rt, user, "crm.new_customers").rows
    } == dict(months)


def test_a_cell_drills_down_to_the_records_behind_it(business):
    rt, user = business
    found = run(rt, user, "oms.sales_by_month")
    first = found.rows[0]
    column = next(iter(first["cells"]))
    params = drill_params(found, first["keys"] + list(found.columns[column]), {})
    behind = rt.records.list(user, "oms.order", parse_params({**params, "limit": "500"}))
    assert money(o["total"] for o in behind.data) == first["cells"][column]["revenue"]
    customers = run(rt, user, "oms.top_customers")
    params = drill_params(customers, customers.rows[0]["keys"], {})
    assert (
        rt.records.list(user, "oms.order", parse_params(params)).total
        == customers.rows[0]["values"]["orders"]
    )
    with create_app(runtime=rt).test_request_context():
        link = table(customers, {})["rows"][0]["cells"][1]["link"]
    assert link.startswith("/a/oms/order?") and f"customer={customers.rows[0]['keys'][0]}" in link


def test_time_buckets_read_alike_on_every_database(business):
    rt, user = business
    order = everything(rt, user, "oms.order")[0]
    day = datetime.fromisoformat(order["order_date"]).date()
    report = rt.reports.find("oms", "sales_by_month")
    for bucket, expected in (
        ("day", day.isoformat()),
        ("week", (day - timedelta(days=day.weekday())).isoformat()),
        ("month", day.isoformat()[:7]),
        ("quarter", f"{day.year}-Q{(day.month + 2) // 3}"),
        ("year", str(day.year)),
    ):
        by = replace(report, rows=(f"order_date.{bucket}",), columns=(), where={})
        keys = [
            row["keys"][0]
            for row in rt.reports.run(
                user, by, {"from": day.isoformat(), "to": day.isoformat()}
            ).rows
        ]
        assert keys == [expected], bucket


def test_the_api_answers_a_report_with_the_viewers_filters(sqlite_runtime):
    load_demo(sqlite_runtime, orders=40, days=30)
    sqlite_runtime.users.create("sue2", ["sales"], "password1234")
    app = create_app(runtime=sqlite_runtime)
    api = Api(app.test_client(), sqlite_runtime.users.create_token("sue2"))
    answer = api.get("/api/v1/reports/oms/top_customers?channel=web")
    assert answer.status_code == 200
    body = answer.json
    assert body["report"] == "oms.top_customers" and body["measures"][0]["name"] == "revenue"
    assert len(body["rows"]) <= 10 and set(body["rows"][0]["values"]) == {"revenue", "orders"}
    pivot = api.get("/api/v1/reports/oms/sales_by_month").json
    assert pivot["columns"] and "columns" in pivot["rows"][0]
    assert api.get("/api/v1/reports/oms/nope").status_code == 400
    assert api.get("/api/v1/reports/oms/revenue?from=yesterday").status_code == 400
    document = app.test_client().get("/api/v1/openapi.json").json
    validate(document)
    assert "/reports/oms/sales_by_month" in document["paths"]
    warehouse = Api(app.test_client(), sqlite_runtime.users.create_token("warehouse"))
    assert warehouse.get("/api/v1/reports/crm/pipeline").status_code == 403


BAD = """
app: shop
entities:
  sale:
    fields: {amount: {type: money}, day: {type: date}, note: {type: text}}
reports:
  broken:
    entity: sale
    rows: [note.month, amount.city]
    measures:
      total: {sum: "amount * note2"}
      share: {ratio: [total, nothing]}
      old: {count: "*", where: {note: {older_than_days: 30}, amount: {contains: "1"}}}
    sort: [-size]
    having: "total > limit"
"""


def test_report_definitions_are_checked():
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("shop.yaml", BAD)], bundled_plugins().types)
    text = str(caught.value)
    for message in (
        "'note.month': only dates and times group by",
        "'amount.city': 'amount' is not a ref",
        "'note2' is not a field",
        "'nothing' is not another measure",
        "'size' is not a group or a measure",
        "'limit' is not a measure",
        "'note': 'older_than_days' does not work on text fields",
        "'amount': 'contains' does not work on money fields",
    ):
        assert message in text
    assert load_apps(
        bundled_sources(),
        bundled_plugins().types,
        frozenset(bundled_plugins().actions) | frozenset(BUILTIN_ACTIONS),
    )
