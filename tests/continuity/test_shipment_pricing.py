"""Money with tax and delivery, end to end (issue 13): a continuity program sold through the
order services and charged by the payment job, with the real tax tables, the simulator as
the gateway and no mock of our code.

What is charged is stored with its parts and never computed again: a rate changed after
submit (ended and replaced, or edited in place) changes no paid shipment, payment or child
order; a shipment not charged yet is taxed again at its charge, and when its ship-to
changes. A refund of a skipped or cancelled shipment is its whole charge (lines, delivery
and tax), once. A program billed up front charges each shipment's own delivery and tax.

Seattle, WA is taxed at 10.25 % (goods and delivery), Washington elsewhere at 6.5 %,
France at 20 % (5.5 % reduced), prices with tax in euros; Standard delivery is 5.95, free
at or above 50.00 of goods before tax (tests.factories.tax_tables_seattle_and_france)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from continuity.charging import charges_prepare
from continuity.models import Occurrence, PaymentAllocation, Subscription
from continuity.refunds import occurrences_refund_due
from continuity.subscription_actions.cancel import subscription_cancel
from continuity.subscription_actions.card_and_ship_to import (
    change_ship_to_preview,
    subscription_change_ship_to,
)
from continuity.subscription_actions.shipments import subscription_skip_shipment
from core.actors import Actor
from core.models import AuditEntry
from customers.models import Customer
from customers.services import address_add
from orders.models import SalesOrderLine, TaxRate
from payments.models import Payment
from tests.batch.conftest import days
from tests.batch.test_reliability import set_amount_to_zero
from tests.continuity.test_subscription_actions import run_child_orders, run_payments
from tests.factories import DeliveryModeFactory, continuity_item, tax_tables_seattle_and_france

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("pricing-test")
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
    return tables


def shipments(order) -> list[Occurrence]:
    return list(Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence"))


def stored(occurrence: Occurrence) -> tuple:
    """A shipment's charge as stored: its parts, then each line's tax."""
    occurrence.refresh_from_db()
    return (
        str(occurrence.subtotal),
        str(occurrence.delivery_amount),
        str(occurrence.delivery_tax_rate),
        str(occurrence.delivery_tax_amount),
        str(occurrence.tax_amount),
        str(occurrence.amount),
        occurrence.tax_jurisdiction,
        [
            (str(line.amount), str(line.tax_rate), str(line.tax_amount), str(line.gross_amount))
            for line in occurrence.lines.order_by("line_number")
        ],
    )


def order_parts(order) -> tuple:
    order.refresh_from_db()
    return tuple(
        str(a)
        for a in (
            order.subtotal,
            order.delivery_amount,
            order.delivery_tax_amount,
            order.tax_amount,
            order.total,
        )
    )


def sales_of(order) -> list[tuple]:
    return list(
        Payment.objects.filter(sales_order=order, operation="sale")
        .order_by("pk")
        .values_list("occurrence__sequence", "status", "amount")
    )


def allocations_of(order) -> list[tuple]:
    return list(
        PaymentAllocation.objects.filter(occurrence__subscription__parent_order=order)
        .order_by("occurrence__sequence", "pk")
        .values_list("occurrence__sequence", "amount")
    )


def refunds_of(occurrence) -> list[tuple]:
    return list(
        Payment.objects.filter(occurrence=occurrence, operation="refund")
        .order_by("pk")
        .values_list("status", "amount")
    )


def repriced(occurrence) -> list[dict]:
    return [
        entry.details
        for entry in AuditEntry.objects.filter(
            action="shipment_repriced", object_id=str(occurrence.pk)
        ).order_by("pk")
    ]


# 88000 (Wellness club) to Karen Berg, 1420 Pine Street, Seattle, WA 98101, each shipment
# 0013 at 17.99 and 0015 at 9.99, goods 27.98 < 50.00, Standard delivery 5.95:
#   17.99 x 0.1025 = 1.843975 -> 1.84 (gross 19.83); 9.99 x 0.1025 = 1.023975 -> 1.02
#   (11.01); delivery 5.95 x 0.1025 = 0.609875 -> 0.61. Tax 3.47; 27.98 + 5.95 + 3.47 =
#   37.40.
SEATTLE_SHIPMENT = (
    "27.98",
    "5.95",
    "10.2500",
    "0.61",
    "3.47",
    "37.40",
    "Seattle, WA",
    [("17.99", "10.2500", "1.84", "19.83"), ("9.99", "10.2500", "1.02", "11.01")],
)
# The same at 10.35 %: 17.99 x 0.1035 = 1.861965 -> 1.86; 9.99 x 0.1035 = 1.033965 -> 1.03;
# 5.95 x 0.1035 = 0.615825 -> 0.62. Tax 3.51; 27.98 + 5.95 + 3.51 = 37.44.
SEATTLE_AT_1035 = (
    "27.98",
    "5.95",
    "10.3500",
    "0.62",
    "3.51",
    "37.44",
    "Seattle, WA",
    [("17.99", "10.3500", "1.86", "19.85"), ("9.99", "10.3500", "1.03", "11.02")],
)
# Shipped to Spokane, WA 99201 (Washington, 6.5 %): 17.99 x 0.065 = 1.16935 -> 1.17;
# 9.99 x 0.065 = 0.64935 -> 0.65; 5.95 x 0.065 = 0.38675 -> 0.39. Tax 2.21;
# 27.98 + 5.95 + 2.21 = 36.14.
SPOKANE_SHIPMENT = (
    "27.98",
    "5.95",
    "6.5000",
    "0.39",
    "2.21",
    "36.14",
    "Washington",
    [("17.99", "6.5000", "1.17", "19.16"), ("9.99", "6.5000", "0.65", "10.64")],
)


def change_seattle_rates(tables, *, last_day: datetime.date) -> None:
    """The administrator's rate change, both ways: Seattle's 10.25 % ends on `last_day`
    and 10.35 % follows the next day; then the old rate is also edited in place to 12 %,
    as a careless administrator might, over the days already charged."""
    old = TaxRate.objects.filter(jurisdiction=tables.seattle, effective_to__isnull=True)
    assert old.count() == 2  # goods (Standard) and delivery
    for rate in old:
        rate.effective_to = last_day
        rate.save(update_fields=["effective_to"])
        TaxRate.objects.create(
            jurisdiction=tables.seattle,
            group=rate.group,
            rate=D("10.35"),
            effective_from=last_day + days(1),
        )
    TaxRate.objects.filter(jurisdiction=tables.seattle, rate=D("10.25")).update(rate=D("12"))


def test_a_rate_change_after_submit_changes_nothing_charged_and_retaxes_the_next_charge(
    tables, sell, today
):
    order = sell()
    first, second, third = shipments(order)[:3]

    # Due at submit: the first shipment, 37.40 (above), charged once and allocated whole.
    assert order_parts(order) == ("27.98", "5.95", "0.61", "3.47", "37.40")
    assert order.amount_due == D("37.40")
    assert stored(first) == SEATTLE_SHIPMENT
    assert sales_of(order) == [(None, "approved", D("37.40"))]
    assert allocations_of(order) == [(1, D("37.40"))]
    # The shipments not charged yet are priced the same, for now.
    assert stored(second) == SEATTLE_SHIPMENT

    change_seattle_rates(tables, last_day=today + days(10))

    # Nothing charged moves: the paid shipment, its sale, its allocation, the order.
    assert stored(first) == SEATTLE_SHIPMENT
    assert sales_of(order) == [(None, "approved", D("37.40"))]
    assert allocations_of(order) == [(1, D("37.40"))]
    assert order_parts(order) == ("27.98", "5.95", "0.61", "3.47", "37.40")
    assert order.amount_due == D("37.40")

    # The first shipment's child order is made from what was charged, not from the
    # tables (which now say 12 % on its ship date).
    run_child_orders(today)
    first.refresh_from_db()
    child = first.child_order
    assert order_parts(child) == ("27.98", "5.95", "0.61", "3.47", "37.40")
    assert (child.delivery_tax_rate, child.tax_jurisdiction) == (D("10.2500"), "Seattle, WA")
    assert [
        (str(line.amount), str(line.tax_rate), str(line.tax_amount), str(line.gross_amount))
        for line in SalesOrderLine.objects.filter(order=child).order_by("line_number")
    ] == SEATTLE_SHIPMENT[-1]
    assert stored(first)[:-1] == SEATTLE_SHIPMENT[:-1]

    # The second shipment, a month on, is charged at the rate of its ship date: 37.44.
    assert second.ship_date > today + days(10)
    run_payments(second.ship_date - days(5))
    assert stored(second) == SEATTLE_AT_1035
    assert sales_of(order) == [(None, "approved", D("37.40")), (2, "approved", D("37.44"))]
    assert allocations_of(order) == [(1, D("37.40")), (2, D("37.44"))]
    assert repriced(second) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]
    # ... and what was charged before still stands.
    assert stored(first)[:-1] == SEATTLE_SHIPMENT[:-1]
    assert order_parts(child) == ("27.98", "5.95", "0.61", "3.47", "37.40")
    # The third is taxed again at its own charge, not before.
    assert stored(third) == SEATTLE_SHIPMENT
    assert repriced(third) == []

    # The customer moves to Spokane: the shipments not charged yet are taxed for it now;
    # the paid second keeps the tax it was charged (and so does its sale).
    spokane = address_add(
        customer=order.customer,
        kind="shipping",
        street="500 Main Avenue",
        city="Spokane",
        state="WA",
        postal_code="99201",
        is_default=False,
        actor=ACTOR,
    )
    subscription = Subscription.objects.get(parent_order=order)
    preview = change_ship_to_preview(subscription_id=subscription.pk, address_id=spokane.pk)
    assert [(e.what, e.occurrence.sequence, e.before, e.amount) for e in preview.effects] == [
        ("ship_to", 2, None, None),
        ("ship_to_repriced", 3, D("37.40"), D("36.14")),
        ("ship_to_repriced", 4, D("37.40"), D("36.14")),
    ]
    subscription_change_ship_to(
        subscription_id=subscription.pk, address_id=spokane.pk, actor=ACTOR, reason_code="MOVED"
    )

    assert stored(second) == SEATTLE_AT_1035
    for later in shipments(order)[2:]:
        assert stored(later) == SPOKANE_SHIPMENT
        assert repriced(later) == [{"from": "37.40", "to": "36.14", "why": "ship_to"}]
    run_payments(third.ship_date - days(5))
    assert sales_of(order)[-1] == (3, "approved", D("36.14"))
    assert repriced(third) == [{"from": "37.40", "to": "36.14", "why": "ship_to"}]
    assert stored(first)[:-1] == SEATTLE_SHIPMENT[:-1]
    assert stored(second) == SEATTLE_AT_1035


# --- Refunds: the whole charge, once ------------------------------------------------------


def test_a_skipped_paid_shipment_is_refunded_its_whole_charge_once(tables, sell):
    order = sell()
    first = shipments(order)[0]

    subscription_skip_shipment(
        subscription_id=first.subscription_id, actor=ACTOR, reason_code="TRAVEL"
    )

    # 27.98 of goods + 5.95 delivery + 3.47 tax: the sale, whole.
    assert refunds_of(first) == [("approved", D("37.40"))]
    assert Payment.objects.get(sales_order=order, operation="sale").status == "refunded"
    # Asked again, nothing more is owed.
    assert occurrences_refund_due(subscription_ids=[first.subscription_id], actor=ACTOR) == []
    assert refunds_of(first) == [("approved", D("37.40"))]


def test_cancel_refunds_the_paid_shipment_what_it_was_charged_not_todays_price(tables, sell, today):
    order = sell()
    run_child_orders(today)  # the first ships
    second = shipments(order)[1]
    change_seattle_rates(tables, last_day=today + days(10))
    run_payments(second.ship_date - days(5))  # charged at 10.35 %: 37.44
    # The rate is edited once more after the charge: the refund is what was charged.
    TaxRate.objects.filter(jurisdiction=tables.seattle, rate=D("10.35")).update(rate=D("15"))

    subscription_cancel(subscription_id=second.subscription_id, actor=ACTOR, reason_code="PRICE")

    assert refunds_of(second) == [("approved", D("37.44"))]
    assert stored(second) == SEATTLE_AT_1035
    assert occurrences_refund_due(subscription_ids=[second.subscription_id], actor=ACTOR) == []
    # The shipped first is not refunded; every refund is within its sale.
    assert refunds_of(shipments(order)[0]) == []
    for sale in Payment.objects.filter(sales_order=order, operation="sale"):
        refunded = sum(
            Payment.objects.filter(original=sale, status="approved").values_list(
                "amount", flat=True
            ),
            D(0),
        )
        assert refunded <= sale.amount


@pytest.mark.parametrize(
    "customer_number, currency, price, rate, parts",
    [
        # 49.99 x 0.1025 = 5.123975 -> 5.12; delivery 5.95 -> 0.61; 49.99 + 5.95 + 5.73 =
        # 61.67.
        ("004021", "USD", "49.99", "10.2500", ("49.99", "5.95", "0.61", "5.73", "61.67")),
        # Goods 50.00: delivery free (a 0.00 line, its tax 0.00); 50.00 x 0.1025 = 5.125
        # -> 5.13 (a half cent rounds up); 55.13.
        ("004021", "USD", "50.00", "10.2500", ("50.00", "0.00", "0.00", "5.13", "55.13")),
        # Bellevue, WA 98004 (Washington, 6.5 %): 19.99 x 0.065 = 1.29935 -> 1.30; 5.95 x
        # 0.065 = 0.38675 -> 0.39; 19.99 + 5.95 + 1.69 = 27.63.
        ("004022", "USD", "19.99", "6.5000", ("19.99", "5.95", "0.39", "1.69", "27.63")),
        # Lyon (France, 20 %), euros with tax: 33.33 / 1.2 = 27.775 -> 27.78 HT (a half
        # cent rounds up), TVA 5.55; 27.78 < 50.00, delivery 5.95 TTC: 4.96 HT, TVA 0.99;
        # total TTC 33.33 + 5.95 = 39.28, TVA 6.54.
        ("004023", "EUR", "33.33", "20.0000", ("33.33", "5.95", "0.99", "6.54", "39.28")),
    ],
)
def test_a_skipped_paid_shipment_of_any_program_refunds_exactly_its_charge(
    tables, sell, customer_number, currency, price, rate, parts
):
    customer = Customer.objects.get(account_number=customer_number)
    customer.currency = currency
    customer.save(update_fields=["currency"])
    item = continuity_item(repeat_count=2, price=D(price))

    order = sell(item_number=item.item_number, customer=customer)
    first = shipments(order)[0]
    assert order_parts(order) == parts
    charged = D(parts[-1])
    # The shipment holds the parts the order charged: (subtotal, delivery, delivery tax
    # rate, delivery tax, tax, amount).
    assert stored(first)[:6] == (parts[0], parts[1], rate, *parts[2:])
    assert sales_of(order) == [(None, "approved", charged)]

    subscription_skip_shipment(
        subscription_id=first.subscription_id, actor=ACTOR, reason_code="TRAVEL"
    )
    occurrences_refund_due(subscription_ids=[first.subscription_id], actor=ACTOR)

    assert refunds_of(first) == [("approved", charged)]
    assert Payment.objects.get(operation="refund", occurrence=first).currency == currency


# --- Bill up front -----------------------------------------------------------------------


def test_a_program_billed_up_front_charges_each_shipments_own_delivery_and_tax(tables, sell):
    # 88001 (Tea club, 3 months paid up front): each shipment 2 x 0015 at 10.50 = 21.00 <
    # 50.00, so each has Standard's 5.95. 21.00 x 0.1025 = 2.1525 -> 2.15 (gross 23.15);
    # 5.95 -> 0.61. A shipment: 21.00 + 5.95 + 2.76 = 29.71; three: 89.13.
    order = sell(item_number="88001")

    assert order_parts(order) == ("63.00", "17.85", "1.83", "8.28", "89.13")
    assert order.amount_due == D("89.13")
    tea = ("21.00", "5.95", "10.2500", "0.61", "2.76", "29.71", "Seattle, WA")
    assert [stored(o) for o in shipments(order)] == [
        (*tea, [("21.00", "10.2500", "2.15", "23.15")]),
    ] * 3
    assert [o.status for o in shipments(order)] == ["paid"] * 3
    assert sales_of(order) == [(None, "approved", D("89.13"))]
    # One sale, each shipment its whole charge: 29.71 x 3 = 89.13, to the cent.
    assert allocations_of(order) == [(1, D("29.71")), (2, D("29.71")), (3, D("29.71"))]
    assert sum(amount for _, amount in allocations_of(order)) == sales_of(order)[0][2]

    # Cancelled before anything ships: each shipment's whole charge back, the sale whole.
    subscription = Subscription.objects.get(parent_order=order)
    subscription_cancel(subscription_id=subscription.pk, actor=ACTOR, reason_code="PRICE")
    assert [refunds_of(o) for o in shipments(order)] == [[("approved", D("29.71"))]] * 3
    assert Payment.objects.get(sales_order=order, operation="sale").status == "refunded"
    assert occurrences_refund_due(subscription_ids=[subscription.pk], actor=ACTOR) == []


# --- Nothing is charged without its tax -------------------------------------------------


def test_a_shipment_that_cannot_be_taxed_at_its_charge_is_not_charged(tables, sell, today):
    order = sell()
    second = shipments(order)[1]
    # Seattle's rates end before the second ship date, and none follows.
    TaxRate.objects.filter(jurisdiction=tables.seattle).update(effective_to=today + days(3))

    run = run_payments(second.ship_date - days(5))

    assert (run.selected_count, run.succeeded_count, run.error_count) == (1, 0, 1)
    second.refresh_from_db()
    assert (second.status, second.payment_id) == ("scheduled", None)
    assert stored(second) == SEATTLE_SHIPMENT
    assert repriced(second) == []
    assert sales_of(order) == [(None, "approved", D("37.40"))]
    assert allocations_of(order) == [(1, D("37.40"))]


def test_a_ship_to_where_the_goods_cannot_be_taxed_is_refused_and_nothing_changes(tables, sell):
    from orders.models import TaxJurisdiction
    from orders.tax.provider import TaxUnavailable

    order = sell()
    # Oregon is a jurisdiction without rates: its goods cannot be taxed.
    TaxJurisdiction.objects.create(name="Oregon", country="US", region="OR")
    portland = address_add(
        customer=order.customer,
        kind="shipping",
        street="301 Oak Road",
        city="Portland",
        state="OR",
        postal_code="97204",
        is_default=False,
        actor=ACTOR,
    )
    subscription = Subscription.objects.get(parent_order=order)
    before = [stored(o) for o in shipments(order)]

    with pytest.raises(TaxUnavailable):
        subscription_change_ship_to(
            subscription_id=subscription.pk,
            address_id=portland.pk,
            actor=ACTOR,
            reason_code="MOVED",
        )

    subscription.refresh_from_db()
    assert subscription.ship_to_id != portland.pk
    assert [stored(o) for o in shipments(order)] == before
    assert AuditEntry.objects.filter(action="shipment_repriced").count() == 0
    assert sales_of(order) == [(None, "approved", D("37.40"))]


# --- A slice's new prices, written together ------------------------------------------------


def repriced_writes(queries) -> list[str]:
    return [
        query["sql"].split(" AS target")[0]
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE") and "FROM unnest(" in query["sql"]
    ]


def test_a_slices_new_prices_are_written_in_two_statements_and_charged(tables, sell, today):
    """Three shipments taxed again in one slice (continuity.charging.prepare): their new
    parts, their lines' tax and their audit entries are written together, one UPDATE of
    the shipments and one of their lines, and each sale charges the stored new amount."""
    orders = [sell() for _ in range(3)]
    seconds = [shipments(order)[1] for order in orders]
    change_seattle_rates(tables, last_day=today + days(10))

    with CaptureQueriesContext(connection) as queries:
        preparation = charges_prepare(
            occurrence_ids=[second.pk for second in seconds],
            run_date=seconds[0].ship_date - days(5),
            actor=ACTOR,
        )

    assert repriced_writes(queries) == [
        "UPDATE continuity_occurrence",
        "UPDATE continuity_occurrenceline",
    ]
    assert sorted(charge.payment.amount for charge in preparation.prepared) == [D("37.44")] * 3
    for order, second in zip(orders, seconds, strict=True):
        assert stored(second) == SEATTLE_AT_1035
        assert repriced(second) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]
        assert sales_of(order)[-1] == (2, "pending", D("37.44"))


def test_a_shipment_that_raises_in_a_repriced_slice_leaves_the_others_priced_once(
    tables, sell, today
):
    """The slice's savepoint is undone when one of its shipments raises (a shipment of
    zero, which no sale may carry), and the shipments are prepared again one by one from
    fresh rows: the others are taxed again once, stored with the amount their sales
    charge, with one audit entry each; the broken one is reported and gets no sale."""
    orders = [sell() for _ in range(3)]
    seconds = [shipments(order)[1] for order in orders]
    change_seattle_rates(tables, last_day=today + days(10))
    broken = seconds[1]
    set_amount_to_zero(broken)

    preparation = charges_prepare(
        occurrence_ids=[second.pk for second in seconds],
        run_date=seconds[0].ship_date - days(5),
        actor=ACTOR,
    )

    assert [(result.occurrence_id, result.outcome) for result in preparation.results] == [
        (broken.pk, "error")
    ]
    assert not Payment.objects.filter(occurrence=broken).exists()
    assert repriced(broken) == []
    assert sorted(charge.occurrence_id for charge in preparation.prepared) == sorted(
        [seconds[0].pk, seconds[2].pk]
    )
    for index in (0, 2):
        assert stored(seconds[index]) == SEATTLE_AT_1035
        assert repriced(seconds[index]) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]
        assert sales_of(orders[index])[-1] == (2, "pending", D("37.44"))
