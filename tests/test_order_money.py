"""An order's money through the API: line and order discounts, the shipping fee, tax with
prices tax-inclusive (as Chinese shops write them) or exclusive, each line's tax rate from
its item, and the totals exact to the cent. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.test_journey import Shop

CENT = Decimal("0.01")


@pytest.fixture
def shop(runtime):
    return Shop(runtime)


def item(shop, sku, price, tax_rate):
    return shop.rt.records.create(
        SYSTEM_USER,
        "wms.item",
        {"sku": sku, "name": sku.title(), "price": price, "tax_rate": tax_rate},
    )["id"]


def post(shop, lines, **order):
    return shop.api["sales"].post(
        "/api/v1/oms/order",
        json={"customer": shop.customer, "channel": "web", **order, "lines": lines},
    )


def test_shopifys_sample_order_totals_to_its_figures(shop):
    """Shopify's documented orders/create webhook: two lines at 199.00, 5.00 off the first,
    10.00 shipping, no tax (taxes_included false); subtotal_price 393.00, total_price 403.00."""
    ipod = item(shop, "IPOD2008GREEN", "199.00", "0")
    response = post(
        shop,
        [
            {"item": ipod, "qty": 1, "price": "199.00", "discount": "5.00"},
            {"item": ipod, "qty": 1, "price": "199.00"},
        ],
        currency="USD",
        prices_include_tax=False,
        shipping_fee="10.00",
    )
    assert response.status_code == 201, response.json
    order = response.json
    assert [line["amount"] for line in order["lines"]] == ["194.00", "199.00"]
    assert order["subtotal"] == "393.00"  # Shopify's subtotal_price
    assert order["tax"] == "0.00"  # total_tax
    assert order["total"] == "403.00"  # total_price
    assert order["net_sales"] == "393.00"
    assert order["currency"] == "USD"


def expected_tax(lines, order_discount, inclusive):
    """Tax worked out independently: each line's share of the order discount taken off,
    then its rate, rounded half up to the cent line by line."""
    subtotal = sum(qty * price - discount for qty, price, discount, _ in lines)
    tax = Decimal(0)
    for qty, price, discount, rate in lines:
        amount = qty * price - discount
        taxable = amount - order_discount * amount / subtotal
        tax += (taxable * rate / ((100 + rate) if inclusive else 100)).quantize(CENT, ROUND_HALF_UP)
    return subtotal, tax


@pytest.mark.parametrize("inclusive", [True, False], ids=["tax-inclusive", "tax-exclusive"])
def test_discounts_fee_and_tax_in_both_tax_modes(shop, inclusive):
    tea = item(shop, "TEA-250G", "115.50", "13")
    book = item(shop, "BOOK-CHA", "36.00", "9")
    response = post(
        shop,
        [
            {"item": tea, "qty": 2},  # price and tax rate from the catalogue
            {"item": book, "qty": 3, "discount": "6.00"},
        ],
        prices_include_tax=inclusive,
        discount="20.00",
        shipping_fee="8.00",
    )
    assert response.status_code == 201, response.json
    order = response.json
    tea_line, book_line = order["lines"]
    assert (tea_line["price"], tea_line["tax_rate"]) == ("115.50", "13.00")
    assert (book_line["amount"], book_line["tax_rate"]) == ("102.00", "9.00")

    lines = [
        (2, Decimal("115.50"), Decimal(0), Decimal(13)),
        (3, Decimal("36.00"), Decimal(6), Decimal(9)),
    ]
    subtotal, tax = expected_tax(lines, Decimal(20), inclusive)
    total = subtotal - 20 + 8 + (0 if inclusive else tax)
    assert order["subtotal"] == str(subtotal) == "333.00"
    assert order["tax"] == str(tax)
    assert order["total"] == str(total)
    assert order["net_sales"] == str(total - tax - 8)
    assert order["currency"] == "CNY" and order["prices_include_tax"] is inclusive


def test_inclusive_tax_is_the_part_of_the_price_that_is_tax(shop):
    """113.00 at 13 % holds 13.00 of tax; at 9 %, 109.00 holds 9.00."""
    a = item(shop, "A-113", "113.00", "13")
    b = item(shop, "B-109", "109.00", "9")
    order = post(shop, [{"item": a, "qty": 1}, {"item": b, "qty": 1}]).json
    assert (order["tax"], order["total"], order["net_sales"]) == ("22.00", "222.00", "200.00")


def test_a_discount_larger_than_what_it_comes_off_is_refused_by_name(shop):
    tea = item(shop, "TEA-50G", "30.00", "13")
    too_much = post(shop, [{"item": tea, "qty": 1, "discount": "31.00"}])
    assert too_much.status_code == 422
    assert too_much.json["error"]["fields"] == {"lines.0.amount": "must be at least 0"}
    over = post(shop, [{"item": tea, "qty": 1}], discount="30.01")
    assert over.status_code == 422
    assert over.json["error"]["fields"] == {"total": "must be at least 0"}
    negative = post(shop, [{"item": tea, "qty": 1}], shipping_fee="-1")
    assert negative.status_code == 422 and "shipping_fee" in negative.json["error"]["fields"]
