"""The demo's delivery modes and tax tables, through the order services: the amounts an
agent reads out before Submit and the card is charged, worked out by hand.

The rounding rule (docs/tax.md): tax per line, rounded half up to the cent; prices
without tax: tax = round(net x rate / 100); prices with tax: net = round(gross / (1 +
rate / 100)), tax = gross - net. The order's tax is the sum of its lines'.

Item 88000 (Wellness club) charges its first shipment at submit: 0013 at 17.99 and 0015
(tea, reduced rate) at 9.99, goods 27.98, below Standard's free threshold of 50.00.
"""

from decimal import Decimal

import pytest

from continuity.models import Occurrence
from core.dates import business_date
from customers.models import Customer
from devdata.demo import demo_data_load
from orders.models import SalesOrder, SalesOrderStatus
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_delivery_mode_set,
    sales_order_line_add,
    sales_order_payment_set,
    sales_order_submit,
)
from payments.models import Payment, PaymentStatus
from payments.services import card_add

pytestmark = pytest.mark.django_db

GOOD_CARD = "4111 1111 1111 1111"
KAREN_BERG = "004021"  # Seattle, WA 98101, USD
KAREN_HOLM = "004022"  # Bellevue, WA 98004, USD
KAREN_LAURENT = "004023"  # Lyon 69003, France, EUR (prices with TVA)
KARENNA_ORTIZ = "004024"  # Portland, OR 97204, USD


@pytest.fixture
def priced(demo):
    """The demo data with its delivery modes and tax tables, whether the session loaded
    them or not (demo_data_load(pricing=False)): a load adds only what is missing."""
    demo_data_load(pricing=True)


def completed_order(actor, account, items, *, delivery_mode=None) -> SalesOrder:
    """An order of `items` (item numbers) to the customer, completed: the summary the
    agent reads before taking the payment."""
    customer = Customer.objects.get(account_number=account)
    order = sales_order_create(customer=customer, actor=actor)
    for item_number in items:
        sales_order_line_add(order_id=order.pk, item_number=item_number, actor=actor)
    if delivery_mode is not None:
        sales_order_delivery_mode_set(order_id=order.pk, code=delivery_mode, actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    return SalesOrder.objects.get(pk=order.pk)


def submitted(actor, order: SalesOrder) -> Payment:
    """Pay the order by Visa and submit it; returns the sale it took."""
    card = card_add(
        customer=order.customer,
        card_number=GOOD_CARD,
        expiry_month=12,
        expiry_year=business_date().year + 2,
        security_code="737",
        name_on_card=order.customer.full_name,
        actor=actor,
    )
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor)
    sales_order_submit(order_id=order.pk, actor=actor)
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.SUBMITTED
    return Payment.objects.get(sales_order=order, occurrence=None)


def totals(order: SalesOrder) -> dict:
    return {
        "currency": order.currency,
        "prices_include_tax": order.prices_include_tax,
        "jurisdiction": order.tax_jurisdiction,
        "subtotal": order.subtotal,
        "delivery": order.delivery_amount,
        "delivery_tax_rate": order.delivery_tax_rate,
        "delivery_tax": order.delivery_tax_amount,
        "tax": order.tax_amount,
        "total": order.total,
        "amount_due": order.amount_due,
    }


def shipment_lines(line) -> list[tuple]:
    """The first paid shipment's goods lines as the order line keeps them."""
    (shipment,) = line.paid_shipments
    return [
        (Decimal(tax["net"]), Decimal(tax["rate"]), Decimal(tax["tax"]), Decimal(tax["gross"]))
        for tax in shipment["lines"]
    ]


def test_karen_bergs_seed_order_in_seattle_before_submit_and_charged(priced, actor):
    order = completed_order(actor, KAREN_BERG, ["88000"])

    # Seattle, WA, 10.25 %, prices without tax:
    #   17.99 x 10.25 % = 1.843975 -> 1.84
    #    9.99 x 10.25 % = 1.023975 -> 1.02 (tea: Washington has no reduced rate)
    #   Standard delivery (27.98 < 50.00): 5.95 x 10.25 % = 0.609875 -> 0.61
    #   tax 1.84 + 1.02 + 0.61 = 3.47; total 27.98 + 5.95 + 3.47 = 37.40
    assert totals(order) == {
        "currency": "USD",
        "prices_include_tax": False,
        "jurisdiction": "Seattle, WA",
        "subtotal": Decimal("27.98"),
        "delivery": Decimal("5.95"),
        "delivery_tax_rate": Decimal("10.2500"),
        "delivery_tax": Decimal("0.61"),
        "tax": Decimal("3.47"),
        "total": Decimal("37.40"),
        "amount_due": Decimal("37.40"),
    }
    (line,) = order.lines.all()
    assert (line.amount, line.tax_rate, line.tax_amount, line.gross_amount) == (
        Decimal("27.98"),
        Decimal("10.2500"),
        Decimal("2.86"),
        Decimal("30.84"),
    )
    assert shipment_lines(line) == [
        (Decimal("17.99"), Decimal("10.2500"), Decimal("1.84"), Decimal("19.83")),
        (Decimal("9.99"), Decimal("10.2500"), Decimal("1.02"), Decimal("11.01")),
    ]

    sale = submitted(actor, order)

    assert (sale.status, sale.amount, sale.currency) == (
        PaymentStatus.APPROVED,
        Decimal("37.40"),
        "USD",
    )
    first = Occurrence.objects.get(subscription__parent_order=order, sequence=1)
    assert (first.amount, first.subtotal, first.delivery_amount, first.tax_amount) == (
        Decimal("37.40"),
        Decimal("27.98"),
        Decimal("5.95"),
        Decimal("3.47"),
    )
    assert first.payment_id == sale.pk


def test_express_delivery_typed_in_lower_case(priced, actor):
    order = completed_order(actor, KAREN_BERG, ["88000"], delivery_mode="exp")

    # Express is 14.95 whatever the goods: 14.95 x 10.25 % = 1.532375 -> 1.53
    # tax 1.84 + 1.02 + 1.53 = 4.39; total 27.98 + 14.95 + 4.39 = 47.32
    assert order.delivery_mode.code == "EXP"
    assert totals(order) | {"jurisdiction": None} == {
        "currency": "USD",
        "prices_include_tax": False,
        "jurisdiction": None,
        "subtotal": Decimal("27.98"),
        "delivery": Decimal("14.95"),
        "delivery_tax_rate": Decimal("10.2500"),
        "delivery_tax": Decimal("1.53"),
        "tax": Decimal("4.39"),
        "total": Decimal("47.32"),
        "amount_due": Decimal("47.32"),
    }
    assert submitted(actor, order).amount == Decimal("47.32")


def test_karen_laurents_order_in_france_prices_with_tva(priced, actor):
    order = completed_order(actor, KAREN_LAURENT, ["88000"])

    # France, prices in EUR with TVA included (TTC); net = round(gross / (1 + rate)):
    #   17.99 at 20 %:  17.99 / 1.20  = 14.991667 -> 14.99 HT, TVA 17.99 - 14.99 = 3.00
    #    9.99 at 5.5 %:  9.99 / 1.055 =  9.469194 ->  9.47 HT, TVA  9.99 -  9.47 = 0.52
    #   Standard delivery (27.98 < 50.00) 5.95 at 20 %: 5.95 / 1.20 = 4.958333 -> 4.96 HT,
    #   TVA 0.99
    #   TVA 3.00 + 0.52 + 0.99 = 4.51, inside the total 27.98 + 5.95 = 33.93 TTC
    assert totals(order) == {
        "currency": "EUR",
        "prices_include_tax": True,
        "jurisdiction": "France",
        "subtotal": Decimal("27.98"),
        "delivery": Decimal("5.95"),
        "delivery_tax_rate": Decimal("20.0000"),
        "delivery_tax": Decimal("0.99"),
        "tax": Decimal("4.51"),
        "total": Decimal("33.93"),
        "amount_due": Decimal("33.93"),
    }
    (line,) = order.lines.all()
    # The program line mixes two rates: it shows none (its shipment's lines have them).
    assert (line.tax_rate, line.tax_amount, line.gross_amount) == (
        None,
        Decimal("3.52"),
        Decimal("27.98"),
    )
    assert shipment_lines(line) == [
        (Decimal("14.99"), Decimal("20.0000"), Decimal("3.00"), Decimal("17.99")),
        (Decimal("9.47"), Decimal("5.5000"), Decimal("0.52"), Decimal("9.99")),
    ]

    sale = submitted(actor, order)

    assert (sale.amount, sale.currency) == (Decimal("33.93"), "EUR")
    first = Occurrence.objects.get(subscription__parent_order=order, sequence=1)
    assert (first.amount, first.currency, first.tax_amount) == (
        Decimal("33.93"),
        "EUR",
        Decimal("4.51"),
    )


def test_regular_items_at_50_or_more_ship_free_on_a_0_00_delivery_line(priced, actor):
    order = completed_order(actor, KAREN_BERG, ["0013", "0014", "0015"])

    # Goods 19.99 + 24.50 + 12.00 = 56.49 >= 50.00: Standard delivery is free, and still
    # a line of the order, 0.00 taxed at 10.25 % = 0.00.
    #   19.99 x 10.25 % = 2.048975 -> 2.05
    #   24.50 x 10.25 % = 2.51125  -> 2.51
    #   12.00 x 10.25 % = 1.23
    #   tax 5.79; total 56.49 + 0.00 + 5.79 = 62.28
    assert totals(order) == {
        "currency": "USD",
        "prices_include_tax": False,
        "jurisdiction": "Seattle, WA",
        "subtotal": Decimal("56.49"),
        "delivery": Decimal("0.00"),
        "delivery_tax_rate": Decimal("10.2500"),
        "delivery_tax": Decimal("0.00"),
        "tax": Decimal("5.79"),
        "total": Decimal("62.28"),
        "amount_due": Decimal("62.28"),
    }
    assert [line.tax_amount for line in order.lines.order_by("line_number")] == [
        Decimal("2.05"),
        Decimal("2.51"),
        Decimal("1.23"),
    ]
    assert submitted(actor, order).amount == Decimal("62.28")


def test_one_item_short_of_50_pays_standard_delivery(priced, actor):
    order = completed_order(actor, KAREN_BERG, ["0013", "0014"])

    # Goods 19.99 + 24.50 = 44.49 < 50.00: delivery 5.95.
    #   2.05 + 2.51 + 0.61 (delivery) = 5.17; total 44.49 + 5.95 + 5.17 = 55.61
    assert (order.delivery_amount, order.tax_amount, order.total) == (
        Decimal("5.95"),
        Decimal("5.17"),
        Decimal("55.61"),
    )


def test_bellevue_is_taxed_at_its_own_rate_not_seattles(priced, actor):
    order = completed_order(actor, KAREN_HOLM, ["88000"])

    # Bellevue, WA 98004, 10.1 %:
    #   17.99 x 10.1 % = 1.81699 -> 1.82;  9.99 x 10.1 % = 1.00899 -> 1.01
    #   delivery 5.95 x 10.1 % = 0.60095 -> 0.60
    #   tax 3.43; total 27.98 + 5.95 + 3.43 = 37.36
    assert (order.tax_jurisdiction, order.delivery_tax_amount, order.tax_amount) == (
        "Bellevue, WA",
        Decimal("0.60"),
        Decimal("3.43"),
    )
    assert order.total == Decimal("37.36")


def test_where_the_demo_retailer_collects_no_tax_only_delivery_is_added(priced, actor):
    order = completed_order(actor, KARENNA_ORTIZ, ["88000"])

    # Portland, OR: no jurisdiction, no tax; total 27.98 + 5.95 = 33.93.
    assert totals(order) | {"delivery_tax_rate": None} == {
        "currency": "USD",
        "prices_include_tax": False,
        "jurisdiction": "",
        "subtotal": Decimal("27.98"),
        "delivery": Decimal("5.95"),
        "delivery_tax_rate": None,
        "delivery_tax": Decimal("0.00"),
        "tax": Decimal("0.00"),
        "total": Decimal("33.93"),
        "amount_due": Decimal("33.93"),
    }
