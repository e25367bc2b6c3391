"""Worked examples by hand for the two demo jurisdictions (issue 13): Seattle, WA, 10.25 %,
prices without tax (USD), and France, TVA 20 % and 5.5 %, prices with tax (EUR); first as
documents (orders.pricing), then as orders a customer is charged for (orders.services).

Each amount below is computed in the comments by the rule of docs/tax.md: per line,
rounded half up to the cent; exclusive: tax = round(net x rate), gross = net + tax;
inclusive: net = round(gross / (1 + rate)), tax = gross - net."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from customers.models import Address, Customer
from orders.models import Item, SalesOrderLine
from orders.pricing import GoodsLine, document_price
from orders.services import sales_order_delivery_mode_set
from payments.models import Payment
from tests.factories import DeliveryModeFactory, tax_tables_seattle_and_france

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 12, 7)
D = Decimal


@pytest.fixture
def tables(demo):
    tables = tax_tables_seattle_and_france()
    DeliveryModeFactory(
        code="STANDARD",
        name_en="Standard",
        name_fr="Standard",
        amount=D("5.95"),
        free_above=D("50.00"),
        is_default=True,
    )
    DeliveryModeFactory(code="COLIS", name_en="Parcel", name_fr="Colis", amount=D("4.90"))
    return tables


def seattle() -> Address:
    return Address(country="US", state="WA", postal_code="98101", city="Seattle")


def paris() -> Address:
    return Address(country="FR", state="", postal_code="75011", city="Paris")


def parts(price) -> list[tuple]:
    lines = [*price.lines, price.delivery_tax] if price.delivery_tax else list(price.lines)
    return [(t.key, str(t.net), str(t.tax), str(t.gross), str(t.rate)) for t in lines]


def totals(price) -> tuple[str, ...]:
    return tuple(str(a) for a in (price.subtotal, price.delivery, price.tax, price.total))


# --- Seattle, WA: 10.25 %, prices exclude tax ---------------------------------------------


def test_seattle_two_lines_and_standard_delivery(tables):
    price = document_price(
        goods=[GoodsLine("1", D("17.99"), 1), GoodsLine("2", D("9.99"), 1)],
        ship_to=seattle(),
        delivery_mode=None,  # the default: Standard 5.95, goods 27.98 < 50.00
        currency="USD",
        on_date=DAY,
    )

    # 17.99 x 0.1025 = 1.843975 -> 1.84; 9.99 x 0.1025 = 1.023975 -> 1.02;
    # 5.95 x 0.1025 = 0.609875 -> 0.61. Tax 1.84 + 1.02 + 0.61 = 3.47;
    # total 17.99 + 9.99 + 5.95 + 3.47 = 37.40.
    assert parts(price) == [
        ("1", "17.99", "1.84", "19.83", "10.2500"),
        ("2", "9.99", "1.02", "11.01", "10.2500"),
        ("delivery", "5.95", "0.61", "6.56", "10.2500"),
    ]
    assert totals(price) == ("27.98", "5.95", "3.47", "37.40")
    assert price.jurisdiction == "Seattle, WA"


def test_seattle_free_delivery_at_fifty_is_a_line_of_nothing(tables):
    price = document_price(
        goods=[GoodsLine("1", D("25.00"), 1), GoodsLine("2", D("25.00"), 1)],
        ship_to=seattle(),
        delivery_mode=None,
        currency="USD",
        on_date=DAY,
    )

    # Goods 50.00 >= 50.00: delivery 0.00, its tax 0.00. 25.00 x 0.1025 = 2.5625 -> 2.56
    # a line; tax 5.12; total 50.00 + 5.12 = 55.12.
    assert parts(price) == [
        ("1", "25.00", "2.56", "27.56", "10.2500"),
        ("2", "25.00", "2.56", "27.56", "10.2500"),
        ("delivery", "0.00", "0.00", "0.00", "10.2500"),
    ]
    assert totals(price) == ("50.00", "0.00", "5.12", "55.12")


def test_seattle_order_of_the_wellness_club_is_due_with_its_delivery_and_tax(tables, sell):
    # Karen Berg ships to 1420 Pine Street, Seattle, WA 98101; 88000's first shipment is
    # 0013 at 17.99 and 0015 at 9.99, paid at submit with its Standard delivery.
    order = sell()

    # As the document above: 27.98 + 5.95 + 3.47 = 37.40, charged once.
    assert (order.subtotal, order.delivery_amount, order.tax_amount, order.total) == (
        D("27.98"),
        D("5.95"),
        D("3.47"),
        D("37.40"),
    )
    assert (order.delivery_tax_rate, order.delivery_tax_amount) == (D("10.2500"), D("0.61"))
    assert (order.amount_due, order.tax_jurisdiction, order.prices_include_tax) == (
        D("37.40"),
        "Seattle, WA",
        False,
    )
    [line] = SalesOrderLine.objects.filter(order=order)
    # The program line carries its paid shipment's goods tax: 1.84 + 1.02.
    assert (line.amount, line.tax_rate, line.tax_amount, line.gross_amount) == (
        D("27.98"),
        D("10.2500"),
        D("2.86"),
        D("30.84"),
    )
    assert list(Payment.objects.filter(sales_order=order).values_list("operation", "amount")) == [
        ("sale", D("37.40"))
    ]


# --- France: TVA 20 % and 5.5 %, prices include tax (EUR) ---------------------------------


def test_france_the_docs_example_with_tva_inside_each_price(tables):
    price = document_price(
        goods=[GoodsLine("1", D("17.99"), 1), GoodsLine("2", D("9.99"), 1, tax_group="RED")],
        ship_to=paris(),
        delivery_mode=_mode("COLIS"),
        currency="EUR",
        on_date=DAY,
    )

    # 17.99 / 1.20 = 14.991667 -> 14.99 HT, TVA 17.99 - 14.99 = 3.00;
    # 9.99 / 1.055 = 9.469194 -> 9.47 HT, TVA 0.52;
    # 4.90 / 1.20 = 4.083333 -> 4.08 HT, TVA 0.82.
    # TVA 3.00 + 0.52 + 0.82 = 4.34; total TTC 17.99 + 9.99 + 4.90 = 32.88 (HT 28.54).
    assert parts(price) == [
        ("1", "14.99", "3.00", "17.99", "20.0000"),
        ("2", "9.47", "0.52", "9.99", "5.5000"),
        ("delivery", "4.08", "0.82", "4.90", "20.0000"),
    ]
    assert totals(price) == ("27.98", "4.90", "4.34", "32.88")
    assert price.jurisdiction == "France"


def test_france_free_delivery_counts_the_goods_as_the_shelf_prices_them(tables):
    # docs/delivery.md: free at or above 50.00 of goods as priced, before delivery: in
    # France, tax included ("livraison offerte dès 50 EUR d'achat" is read TTC). 49.99 TTC
    # is under it, so Standard's 5.95 TTC is charged: 49.99 / 1.20 = 41.658333 -> 41.66 HT,
    # TVA 8.33; 5.95 / 1.20 = 4.958333 -> 4.96 HT, TVA 0.99. TVA 8.33 + 0.99 = 9.32; total
    # TTC 49.99 + 5.95 = 55.94.
    price = document_price(
        goods=[GoodsLine("1", D("49.99"), 1)],
        ship_to=paris(),
        delivery_mode=None,
        currency="EUR",
        on_date=DAY,
    )

    assert parts(price) == [
        ("1", "41.66", "8.33", "49.99", "20.0000"),
        ("delivery", "4.96", "0.99", "5.95", "20.0000"),
    ]
    assert totals(price) == ("49.99", "5.95", "9.32", "55.94")


def test_france_goods_of_fifty_ttc_ship_free(tables):
    # 50.00 TTC reaches the threshold (41.67 HT, TVA 8.33: 50.00 / 1.20 = 41.666667 ->
    # 41.67); delivery is free, a line of nothing.
    price = document_price(
        goods=[GoodsLine("1", D("50.00"), 1)],
        ship_to=paris(),
        delivery_mode=None,
        currency="EUR",
        on_date=DAY,
    )

    assert parts(price) == [
        ("1", "41.67", "8.33", "50.00", "20.0000"),
        ("delivery", "0.00", "0.00", "0.00", "20.0000"),
    ]
    assert totals(price) == ("50.00", "0.00", "8.33", "50.00")


def _mode(code):
    from orders.delivery import DeliveryMode

    return DeliveryMode.objects.get(code=code)


@pytest.fixture
def laurent(tables):
    """Karen Laurent, 12 rue des Lilas, 69003 Lyon (FR), buying in euros; the herbal tea
    (0015) is food, at the reduced rate."""
    customer = Customer.objects.get(account_number="004023")
    customer.currency = "EUR"
    customer.save(update_fields=["currency"])
    Item.objects.filter(item_number="0015").update(tax_group=tables.reduced)
    return customer


def test_france_order_of_the_wellness_club_in_euros(laurent, sell):
    order = sell(customer=laurent)

    # The first shipment: 0013 at 17.99 TTC (20 %), 0015 at 9.99 TTC (5.5 %), goods
    # 27.98 TTC, 14.99 + 9.47 = 24.46 HT < 50.00: Standard's 5.95 TTC.
    # 17.99 -> 14.99 HT + 3.00 TVA; 9.99 -> 9.47 HT + 0.52 TVA;
    # 5.95 / 1.20 = 4.958333 -> 4.96 HT + 0.99 TVA.
    # TVA 3.00 + 0.52 + 0.99 = 4.51; total TTC 27.98 + 5.95 = 33.93 (HT 29.42).
    assert (order.currency, order.prices_include_tax, order.tax_jurisdiction) == (
        "EUR",
        True,
        "France",
    )
    assert (order.subtotal, order.delivery_amount, order.tax_amount, order.total) == (
        D("27.98"),
        D("5.95"),
        D("4.51"),
        D("33.93"),
    )
    assert (order.delivery_tax_rate, order.delivery_tax_amount, order.amount_due) == (
        D("20.0000"),
        D("0.99"),
        D("33.93"),
    )
    [line] = SalesOrderLine.objects.filter(order=order)
    # Two rates on one program line: no single rate; its TVA 3.00 + 0.52, its gross the
    # price with tax.
    assert (line.amount, line.tax_rate, line.tax_amount, line.gross_amount) == (
        D("27.98"),
        None,
        D("3.52"),
        D("27.98"),
    )
    assert list(
        Payment.objects.filter(sales_order=order).values_list("operation", "amount", "currency")
    ) == [("sale", D("33.93"), "EUR")]


def test_france_parcel_delivery_chosen_at_order_entry(laurent, actor):
    from orders.services import (
        sales_order_complete,
        sales_order_create,
        sales_order_line_add,
    )

    order = sales_order_create(customer=laurent, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0015", actor=actor)
    sales_order_delivery_mode_set(order_id=order.pk, code="colis", actor=actor)
    order = sales_order_complete(order_id=order.pk, actor=actor)

    # 0013 at 19.99 TTC: 19.99 / 1.20 = 16.658333 -> 16.66 HT, TVA 3.33.
    # 0015 at 12.00 TTC: 12.00 / 1.055 = 11.374408 -> 11.37 HT, TVA 0.63.
    # Parcel 4.90 TTC: 4.083333 -> 4.08 HT, TVA 0.82.
    # TVA 3.33 + 0.63 + 0.82 = 4.78; total TTC 19.99 + 12.00 + 4.90 = 36.89.
    lines = SalesOrderLine.objects.filter(order=order).order_by("line_number")
    assert [
        (str(x.amount), str(x.tax_rate), str(x.tax_amount), str(x.gross_amount)) for x in lines
    ] == [
        ("19.99", "20.0000", "3.33", "19.99"),
        ("12.00", "5.5000", "0.63", "12.00"),
    ]
    assert (order.subtotal, order.delivery_amount, order.delivery_tax_amount) == (
        D("31.99"),
        D("4.90"),
        D("0.82"),
    )
    assert (order.tax_amount, order.total, order.amount_due) == (D("4.78"), D("36.89"), D("36.89"))
