"""Payments and receivables: an order's payment status follows its payments, never
typed, through all five states; a refund takes back at most what was paid, also when
two are sent at once; a wrong payment is voided, never edited; a return's refund is
paid out as a payment bound to it; receivables aged by order date match the same
figures computed here; the customer statement's running balance; who may do what; the
API's document. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from apploom.engine import clock
from apploom.engine.access.permissions import SYSTEM_USER as ADMIN
from apploom.engine.errors import Conflict, Forbidden, ValidationFailed
from apploom.engine.query.filters import Query, parse_where
from apploom.web import create_app
from tests.helpers import Api, browser

ORDER, PAYMENT, RETURN = "oms.order", "oms.payment", "oms.return"
ROLES = ("sales", "service", "warehouse", "manager")
TODAY = date(2026, 6, 30)


@pytest.fixture
def staff(runtime):
    """A user of each role, named after it."""
    for role in ROLES:
        runtime.users.create(role, [role], "password1234")
    return {role: runtime.users.get(role) for role in ROLES}


def pay(rt, order, amount, method="alipay", user=ADMIN, **more) -> dict:
    data = {"order": order["id"], "amount": amount, "method": method, **more}
    return rt.records.create(user, PAYMENT, data)


def standing(rt, order) -> tuple[str, str]:
    """The order's payment status and paid figure, as stored."""
    found = rt.records.get(ADMIN, ORDER, order["id"])
    return found["payment_status"], found["paid"]


def refused(call) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value.fields


def test_the_payment_status_follows_payments_and_refunds_through_every_state(runtime, shop):
    rt = runtime
    order = rt.records.create(ADMIN, ORDER, shop.order())
    assert order["total"] == "293.00" and standing(rt, order) == ("unpaid", "0.00")
    pay(rt, order, "100.00")
    assert standing(rt, order) == ("partially_paid", "100.00")
    pay(rt, order, "193.00", "wechat_pay")
    assert standing(rt, order) == ("paid", "293.00")
    pay(rt, order, "-50.00", "wechat_pay")
    assert standing(rt, order) == ("partially_refunded", "243.00")
    pay(rt, order, "-243.00")
    assert standing(rt, order) == ("refunded", "0.00")
    steps = [
        entry["changes"]["payment_status"][1]
        for entry in rt.records.history(ADMIN, ORDER, order["id"])
        if "payment_status" in entry["changes"]
    ]
    assert steps == ["unpaid", "partially_paid", "paid", "partially_refunded", "refunded"]
    typed = {"payment_status": "paid", "paid": "293.00"}
    assert refused(lambda: rt.records.update(ADMIN, ORDER, order["id"], typed, version=5)) == {
        "payment_status": "is read-only",
        "paid": "is read-only",
    }  # a version per payment


def test_a_refund_takes_back_at_most_what_was_paid(runtime, shop):
    rt = runtime
    order = rt.records.create(ADMIN, ORDER, shop.order())
    number = order["number"]
    assert refused(lambda: pay(rt, order, "-1.00")) == {
        "amount": f"{number} has nothing paid to refund"
    }
    pay(rt, order, "100.00")
    assert refused(lambda: pay(rt, order, "-100.01")) == {
        "amount": f"may take back at most 100.00, what {number} has paid"
    }
    assert refused(lambda: pay(rt, order, "0")) == {
        "amount": "must not be zero (a refund is negative)"
    }
    assert refused(lambda: pay(rt, order, "1.00", void_reason="early")) == {
        "void_reason": "is given when the payment is voided"
    }
    assert rt.records.list(ADMIN, PAYMENT).total == 1
    assert standing(rt, order) == ("partially_paid", "100.00")
    rt.transitions.take(ADMIN, ORDER, order["id"], "cancel")
    assert refused(lambda: pay(rt, order, "1.00")) == {
        "order": f"{number} is cancelled: it takes refunds only"
    }
    pay(rt, order, "-100.00")  # the money of a cancelled order goes back
    assert standing(rt, order) == ("refunded", "0.00")


def test_two_refunds_at_once_take_back_no_more_than_was_paid(runtime, shop):
    rt = runtime
    order = rt.records.create(ADMIN, ORDER, shop.order())
    pay(rt, order, "293.00")

    def refund(_) -> str:
        try:
            pay(rt, order, "-200.00")
        except ValidationFailed as exc:
            return exc.fields["amount"]
        return "made"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(refund, range(2)))
    assert outcomes == ["made", f"may take back at most 93.00, what {order['number']} has paid"]
    assert standing(rt, order) == ("partially_refunded", "93.00")


def test_a_wrong_payment_is_voided_with_its_reason_never_edited_or_deleted(runtime, shop, staff):
    rt, manager = runtime, staff["manager"]
    order = rt.records.create(ADMIN, ORDER, shop.order())
    first = pay(rt, order, "293.00", user=staff["sales"])
    reason = {"void_reason": "typed twice"}
    with pytest.raises(Forbidden):
        rt.transitions.take(staff["sales"], PAYMENT, first["id"], "void", reason)
    assert refused(lambda: rt.transitions.take(manager, PAYMENT, first["id"], "void")) == {
        "void_reason": "is needed to take 'Void'"
    }
    edit = {"amount": "290.00"}
    assert refused(
        lambda: rt.records.update(manager, PAYMENT, first["id"], edit, version=first["version"])
    ) == {"amount": "cannot change while the Payment is Recorded"}
    with pytest.raises(Forbidden):
        rt.records.update(staff["sales"], PAYMENT, first["id"], {"note": "x"}, version=1)
    with pytest.raises(Conflict):
        rt.records.delete(manager, PAYMENT, first["id"])
    refund = pay(rt, order, "-93.00")
    assert refused(lambda: rt.transitions.take(manager, PAYMENT, first["id"], "void", reason)) == {
        "amount": f"without it {order['number']} has refunded 93.00 more than it paid: "
        "void those refunds first"
    }
    rt.transitions.take(manager, PAYMENT, refund["id"], "void", {"void_reason": "not sent"})
    assert standing(rt, order) == ("paid", "293.00")
    voided = rt.transitions.take(manager, PAYMENT, first["id"], "void", reason)
    assert (voided["status"], voided["void_reason"]) == ("void", "typed twice")
    assert standing(rt, order) == ("unpaid", "0.00")


def test_an_orders_new_total_and_customer_carry_over_to_its_payments(runtime, shop):
    rt = runtime
    order = rt.records.create(ADMIN, ORDER, shop.order())
    made = pay(rt, order, "293.00")
    assert made["customer"] == shop.customer["id"] and standing(rt, order) == ("paid", "293.00")
    order = rt.records.get(ADMIN, ORDER, order["id"])  # a new version, paid
    kept = [{"id": line["id"]} for line in order["lines"]]
    more = {"item": shop.cup["id"], "qty": 1, "price": "12.50"}
    order = rt.records.update(
        ADMIN, ORDER, order["id"], {"lines": [*kept, more]}, version=order["version"]
    )
    assert (order["total"], order["payment_status"]) == ("305.50", "partially_paid")
    order = rt.records.update(ADMIN, ORDER, order["id"], {"lines": kept}, version=order["version"])
    assert order["payment_status"] == "paid"
    rt.records.update(
        ADMIN, ORDER, order["id"], {"customer": shop.other["id"]}, version=order["version"]
    )
    assert rt.records.get(ADMIN, PAYMENT, made["id"])["customer"] == shop.other["id"]


def delivered(rt, shop, method="wechat_pay") -> dict:
    """An order paid in full by ``method``, shipped and delivered."""
    order = rt.records.create(ADMIN, ORDER, shop.order())
    pay(rt, order, order["total"], method)
    for step, data in (("confirm", None), ("pick", None), ("ship", {"carrier": "sf"})):
        order = rt.transitions.take(ADMIN, ORDER, order["id"], step, data)
    return rt.transitions.take(ADMIN, ORDER, order["id"], "deliver")


def back(rt, shop, order, item, **more) -> dict:
    """A return of one of ``item`` from ``order``, its goods received."""
    rma = rt.records.create(
        ADMIN,
        RETURN,
        {
            "order": order["id"],
            "reason": "damaged",
            "warehouse": shop.warehouse["id"],
            "lines": [{"item": item["id"], "qty": 1}],
            **more,
        },
    )
    return rt.transitions.take(ADMIN, RETURN, rma["id"], "receive")


def test_a_returns_refund_is_paid_out_as_a_payment_bound_to_it(runtime, shop):
    rt = runtime
    order = delivered(rt, shop)
    rma = back(rt, shop, order, shop.cup)
    number = rma["number"]
    assert refused(lambda: pay(rt, order, "-12.50", rma=rma["id"])) == {
        "rma": f"{number} is not refunded yet: its Refund step pays it out"
    }
    rt.transitions.take(ADMIN, RETURN, rma["id"], "refund", {"refund_amount": "12.50"})
    bound = Query(conditions=parse_where({"rma": rma["id"]}))
    [refund] = rt.records.list(ADMIN, PAYMENT, bound).data
    assert (refund["amount"], refund["method"]) == ("-12.50", "wechat_pay")  # as it was paid
    assert (refund["order"], refund["customer"]) == (order["id"], shop.customer["id"])
    assert standing(rt, order) == ("partially_refunded", "280.50")
    assert refused(lambda: pay(rt, order, "-0.01", rma=rma["id"])) == {
        "amount": f"may take back at most 0.00: {number} refunds 12.50"
    }
    assert refused(lambda: pay(rt, order, "12.50", rma=rma["id"])) == {
        "amount": f"refunds {number}: it must be negative"
    }
    rt.transitions.take(ADMIN, PAYMENT, refund["id"], "void", {"void_reason": "paid in cash"})
    pay(rt, order, "-12.50", "cash", rma=rma["id"])  # recorded again, the right way
    assert standing(rt, order) == ("partially_refunded", "280.50")
    other = delivered(rt, shop, "alipay")
    assert refused(lambda: pay(rt, other, "-1.00", rma=rma["id"])) == {
        "rma": f"{number} is a return of another order"
    }
    pot = back(rt, shop, order, shop.pot, refund_method="bank_transfer")
    rt.transitions.take(ADMIN, RETURN, pot["id"], "refund", {"refund_amount": "268.00"})
    [refund] = rt.records.list(
        ADMIN, PAYMENT, Query(conditions=parse_where({"rma": pot["id"]}))
    ).data
    assert (refund["amount"], refund["method"]) == ("-268.00", "bank_transfer")
    assert standing(rt, order) == ("partially_refunded", "12.50")


def test_who_may_record_void_and_read_payments(runtime, shop, staff):
    rt = runtime
    order = rt.records.create(ADMIN, ORDER, shop.order())
    with pytest.raises(Forbidden):
        pay(rt, order, "10.00", user=staff["warehouse"])
    with pytest.raises(Forbidden):
        rt.records.list(staff["warehouse"], PAYMENT)
    made = pay(rt, order, "100.00", user=staff["sales"])
    pay(rt, order, "-20.00", user=staff["service"])  # service pays refunds
    assert rt.records.list(staff["service"], PAYMENT).total == 2
    noted = rt.records.update(
        staff["manager"], PAYMENT, made["id"], {"note": "deposit"}, version=made["version"]
    )
    assert noted["note"] == "deposit"
    seen = rt.records.get(staff["warehouse"], ORDER, order["id"])
    assert (seen["payment_status"], seen["paid"]) == ("partially_refunded", "80.00")


def age_bucket(age: int) -> str:
    if age <= 30:
        return "days_0_30"
    if age <= 60:
        return "days_31_60"
    return "days_61_90" if age <= 90 else "over_90"


def test_receivables_age_by_order_date_as_computed_here(runtime, shop):
    """Orders at the edges of every bucket, for two customers; paid, refunded, draft and
    cancelled ones owe nothing; the report against the same rows summed in Python."""
    rt = runtime
    with clock.at(datetime(2026, 6, 30, 12, tzinfo=timezone.utc)):
        for n, age in enumerate([0, 30, 31, 60, 61, 90, 91, 200]):
            for customer in (shop.customer, shop.other):
                data = shop.order(
                    customer=customer["id"],
                    ordered_at=(TODAY - timedelta(days=age)).isoformat(),
                    lines=[{"item": shop.cup["id"], "qty": n + 1, "price": "12.50"}],
                )
                order = rt.records.create(ADMIN, ORDER, data)
                if customer is shop.other and n % 3 == 0:
                    continue  # a draft owes nothing yet
                order = rt.transitions.take(ADMIN, ORDER, order["id"], "confirm")
                if n % 2:
                    pay(rt, order, "5.00")  # partly paid
                if n == 2:
                    pay(rt, order, order["total"])  # paid up
                if n == 5 and customer is shop.customer:
                    pay(rt, order, "-5.00")  # refunded
                if n == 7 and customer is shop.other:
                    rt.transitions.take(ADMIN, ORDER, order["id"], "cancel")
        by_customer = rt.reports.run(ADMIN, rt.reports.find("oms", "receivables_by_customer"), {})
        overall = rt.reports.run(ADMIN, rt.reports.find("oms", "receivables"), {})
    expected: dict = defaultdict(lambda: defaultdict(Decimal))
    for order in rt.records.list(ADMIN, ORDER, Query(limit=500)).data:
        if order["status"] in ("draft", "cancelled"):
            continue
        if order["payment_status"] not in ("unpaid", "partially_paid"):
            continue
        owed = Decimal(order["total"]) - Decimal(order["paid"])
        figures = expected[order["customer"]]
        figures["outstanding"] += owed
        figures[age_bucket((TODAY - date.fromisoformat(order["order_date"])).days)] += owed
        figures["orders"] += 1
    got = {
        row["keys"][0]: {name: value for name, value in row["values"].items() if value is not None}
        for row in by_customer.rows
    }
    assert got == {customer: dict(figures) for customer, figures in expected.items()}
    assert len(got[shop.customer["id"]]) == 6  # every bucket, outstanding and orders
    outstanding = [row["values"]["outstanding"] for row in by_customer.rows]
    assert outstanding == sorted(outstanding, reverse=True)
    for name, total in overall.totals.items():
        assert total == sum(figures.get(name, 0) for figures in expected.values())


class Rows(HTMLParser):
    """The cells of a page's statement table, row by row, as text."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self.inside = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.inside = "statement" in (dict(attrs).get("class") or "")
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_data(self, data):
        if self.inside and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data.strip()


def on(day: int):
    """The engine's clock at noon on a day of June 2026."""
    return clock.at(datetime(2026, 6, day, 12, tzinfo=timezone.utc))


def test_the_customer_statement_runs_the_balance_over_orders_returns_and_payments(
    runtime, shop, staff
):
    rt = runtime
    with on(1):
        first = delivered(rt, shop)
    with on(10):
        rma = back(rt, shop, first, shop.cup)
        rt.transitions.take(ADMIN, RETURN, rma["id"], "refund", {"refund_amount": "12.50"})
    two_cups = [{"item": shop.cup["id"], "qty": 2, "price": "12.50"}]
    with on(20):
        second = rt.records.create(ADMIN, ORDER, shop.order(lines=two_cups))
        rt.transitions.take(ADMIN, ORDER, second["id"], "confirm")
    with on(25):
        pay(rt, second, "10.00", "bank_transfer", reference="BT-0625")
    with on(26):
        rt.records.create(ADMIN, ORDER, shop.order())  # a draft: not charged yet
        cancelled = rt.records.create(ADMIN, ORDER, shop.order(lines=two_cups))
        pay(rt, cancelled, "5.00", "cash")
        rt.transitions.take(ADMIN, ORDER, cancelled["id"], "cancel")
        pay(rt, cancelled, "-5.00", "cash")  # its deposit back
    app = create_app(runtime=rt)
    sales = browser(app, "sales")
    customer = shop.customer["id"]
    page = sales.get(f"/a/crm/customer/{customer}").get_data(as_text=True)
    assert f'href="/a/oms/statement/{customer}"' in page
    never_paid = sales.get(f"/a/crm/customer/{shop.other['id']}").get_data(as_text=True)
    assert f'href="/a/oms/statement/{shop.other["id"]}"' in never_paid  # the panel shows anyway

    def statement(**period) -> list[list[str]]:
        response = sales.get(f"/a/oms/statement/{customer}", query_string=period)
        assert response.status_code == 200
        return Rows(response.get_data(as_text=True)).rows

    payments = {p["amount"]: p["number"] for p in rt.records.list(ADMIN, PAYMENT).data}
    head, opening, *lines, closing = statement(**{"from": "2026-06-01", "to": "2026-06-30"})
    assert opening[-1] == "CN¥0.00"
    assert [(row[0], row[1], row[4], row[5], row[6]) for row in lines] == [
        ("Jun 1, 2026", first["number"], "CN¥293.00", "", "CN¥293.00"),
        ("Jun 1, 2026", payments["293.00"], "", "CN¥293.00", "CN¥0.00"),
        ("Jun 10, 2026", rma["number"], "-CN¥12.50", "", "-CN¥12.50"),  # the goods back
        ("Jun 10, 2026", payments["-12.50"], "", "-CN¥12.50", "CN¥0.00"),  # the money back
        ("Jun 20, 2026", second["number"], "CN¥25.00", "", "CN¥25.00"),
        ("Jun 25, 2026", payments["10.00"], "", "CN¥10.00", "CN¥15.00"),
        ("Jun 26, 2026", payments["5.00"], "", "CN¥5.00", "CN¥10.00"),
        ("Jun 26, 2026", payments["-5.00"], "", "-CN¥5.00", "CN¥15.00"),
    ]
    assert closing[-3:] == ["CN¥305.50", "CN¥290.50", "CN¥15.00"]
    with on(30):
        owed = rt.reports.run(ADMIN, rt.reports.find("oms", "receivables"), {})
    assert owed.totals["outstanding"] == Decimal("15.00")  # what the statement ends on
    _, opening, *lines, closing = statement(**{"from": "2026-06-22", "to": "2026-06-25"})
    assert (opening[-1], len(lines), closing[-1]) == ("CN¥25.00", 1, "CN¥15.00")
    bad = sales.get(f"/a/oms/statement/{customer}?from=June")
    assert bad.status_code == 422 and "from: must be a day (YYYY-MM-DD)" in bad.get_data(True)
    warehouse = browser(app, "warehouse").get(f"/a/oms/statement/{customer}")
    assert warehouse.status_code == 403  # payments are not theirs to read


def test_the_orders_home_shows_receivables_and_links_the_other_reports(runtime, shop, staff):
    order = runtime.records.create(ADMIN, ORDER, shop.order())
    runtime.transitions.take(ADMIN, ORDER, order["id"], "confirm")
    pay(runtime, order, "93.00")
    app = create_app(runtime=runtime)
    sales = browser(app, "sales").get("/a/oms").get_data(as_text=True)
    assert "Receivables" in sales and "200.00" in sales  # the tile: what is still owed
    for name in ("receivables_by_customer", "payments_by_method"):
        assert f'href="/a/oms/reports/{name}"' in sales
    warehouse = browser(app, "warehouse").get("/a/oms").get_data(as_text=True)
    assert 'href="/a/oms/reports/receivables_by_customer"' in warehouse
    assert "payments_by_method" not in warehouse  # payments are not theirs to read
    page = browser(app, "sales").get("/a/oms/reports/receivables_by_customer")
    assert page.status_code == 200 and "张三" in page.get_data(as_text=True)


def test_the_api_documents_payments_and_refuses_the_warehouse(runtime, staff):
    client = create_app(runtime=runtime).test_client()
    doc = client.get("/api/v1/openapi.json").json
    payment = doc["components"]["schemas"]["oms_payment"]["properties"]
    assert payment["customer"]["readOnly"] is True and payment["rma"]["title"] == "Return"
    assert payment["method"]["enum"] == ["cash", "bank_transfer", "alipay", "wechat_pay", "card"]
    order = doc["components"]["schemas"]["oms_order"]["properties"]
    assert order["paid"]["readOnly"] is True and order["payment_status"]["readOnly"] is True
    for path in ("/oms/payment", "/oms/payment/{id}/transitions/void"):
        assert path in doc["paths"]
    for name in ("receivables", "receivables_by_customer", "payments_by_method"):
        assert f"/reports/oms/{name}" in doc["paths"]
    warehouse = Api(client, runtime.users.create_token("warehouse"))
    answer = warehouse.post("/api/v1/oms/payment", json={"order": 1, "amount": "1.00"})
    assert answer.status_code == 403


def test_a_payment_after_midnight_in_hangzhou_is_on_that_days_statement(runtime, shop, staff):
    rt = runtime
    with on(30):
        order = rt.records.create(ADMIN, ORDER, shop.order())
        rt.transitions.take(ADMIN, ORDER, order["id"], "confirm")
    with clock.at(datetime(2026, 6, 30, 17, 0, tzinfo=timezone.utc)):  # 01:00 on 1 July there
        pay(rt, order, "50.00", "bank_transfer")
    sales = browser(create_app(runtime=rt), "sales")

    def statement(since: str, until: str) -> list[list[str]]:
        url = f"/a/oms/statement/{shop.customer['id']}?from={since}&to={until}"
        return Rows(sales.get(url).get_data(as_text=True)).rows[2:-1]

    june = statement("2026-06-01", "2026-06-30")
    assert [(row[0], row[4], row[5]) for row in june] == [("Jun 30, 2026", "CN¥293.00", "")]
    july = statement("2026-07-01", "2026-07-31")
    assert [(row[0], row[4], row[5]) for row in july] == [("Jul 1, 2026", "", "CN¥50.00")]
