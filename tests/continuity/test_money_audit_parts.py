"""The money audit checks each priced document against its lines: an order's and a
shipment's subtotal and tax are their lines' (delivery's tax included), each line's gross
is its amount with its tax, and a child order bills exactly its shipments' charges."""

import datetime
from decimal import Decimal

import pytest

from continuity.models import Occurrence, OccurrenceLine, OccurrenceStatus
from continuity.money_audit import FindingKind, money_audit
from customers.models import Customer
from orders.delivery import DeliveryChargeKind, DeliveryMode
from orders.models import SalesOrder, SalesOrderLine
from orders.tax.models import TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate

pytestmark = pytest.mark.django_db

PARTS_KINDS = {FindingKind.PRICE_PARTS_MISMATCH, FindingKind.CHILD_ORDER_TOTAL}


def seattle():
    """Seattle, WA at 10.25 % on goods and delivery; Standard 5.95, free from 50.00 (the
    demo's, created here if the demo data does not have them)."""
    for code, kind in (("STANDARD", TaxGroupKind.STANDARD), ("DELIVERY", TaxGroupKind.DELIVERY)):
        group, _created = TaxGroup.objects.get_or_create(
            kind=kind, is_default=True, defaults={"code": code, "name_en": code, "name_fr": code}
        )
        place, _created = TaxJurisdiction.objects.get_or_create(
            country="US", region="WA", postal_prefix="981", defaults={"name": "Seattle, WA"}
        )
        TaxRate.objects.get_or_create(
            jurisdiction=place,
            group=group,
            defaults={"rate": Decimal("10.25"), "effective_from": datetime.date(2000, 1, 1)},
        )
    if not DeliveryMode.objects.filter(is_default=True).exists():
        DeliveryMode.objects.create(
            code="STD",
            name_en="Standard",
            name_fr="Standard",
            is_default=True,
            charge_kind=DeliveryChargeKind.PER_ORDER,
            amount=Decimal("5.95"),
            free_above=Decimal("50.00"),
        )


def parts_findings() -> list[tuple[str, str]]:
    audit = money_audit(source="test", save=False)
    return sorted(
        (finding["kind"], finding["subject"])
        for finding in audit.findings
        if finding["kind"] in PARTS_KINDS
    )


def test_taxed_books_as_the_services_leave_them_have_no_finding(sell, today):
    seattle()
    order = sell()
    assert order.customer == Customer.objects.get(account_number="004021")
    # Each line keeps the rate, the tax and the place that taxed it.
    first = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]
    assert [
        (line.tax_rate, line.tax_amount, line.tax_jurisdiction, line.gross_amount)
        for line in first.lines.order_by("line_number")
    ] == [
        (Decimal("10.2500"), Decimal("1.84"), "Seattle, WA", Decimal("19.83")),
        (Decimal("10.2500"), Decimal("1.02"), "Seattle, WA", Decimal("11.01")),
    ]
    assert (first.amount, first.delivery_tax_amount, first.tax_jurisdiction) == (
        Decimal("37.40"),
        Decimal("0.61"),
        "Seattle, WA",
    )
    order_line = SalesOrderLine.objects.get(order=order)
    assert (order_line.tax_amount, order_line.tax_jurisdiction, order_line.gross_amount) == (
        Decimal("2.86"),
        "Seattle, WA",
        Decimal("30.84"),
    )
    # Tax and delivery were charged, so the check below is not of untaxed books: the first
    # box, 17.99 + 9.99 = 27.98 (under 50.00: Standard delivery 5.95), taxed per line at
    # 10.25 %: 1.843975 -> 1.84, 1.023975 -> 1.02, delivery 0.609875 -> 0.61.
    assert (order.subtotal, order.delivery_amount, order.tax_amount, order.amount_due) == (
        Decimal("27.98"),
        Decimal("5.95"),
        Decimal("3.47"),
        Decimal("37.40"),
    )
    assert parts_findings() == []


def test_lines_that_do_not_add_up_to_their_document_are_found(sell):
    seattle()
    order = sell()
    first = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]
    second = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[1]
    # A line whose tax is a cent short of what its shipment says (the gross follows it,
    # so only the parts are wrong), and an order line with a gross that is not its amount
    # with its tax.
    line = OccurrenceLine.objects.filter(occurrence=first).order_by("line_number")[0]
    OccurrenceLine.objects.filter(pk=line.pk).update(
        tax_amount=line.tax_amount - Decimal("0.01"),
        gross_amount=line.gross_amount - Decimal("0.01"),
    )
    order_line = SalesOrderLine.objects.get(order=order)
    SalesOrderLine.objects.filter(pk=order_line.pk).update(gross_amount=order_line.amount)
    # A second shipment's subtotal moved with its total (the database's own check holds).
    Occurrence.objects.filter(pk=second.pk).update(
        subtotal=second.subtotal + 1, amount=second.amount + 1
    )

    assert parts_findings() == [
        (FindingKind.PRICE_PARTS_MISMATCH, f"sales order {order.pk}"),
        (FindingKind.PRICE_PARTS_MISMATCH, f"shipment {first.pk} ({OccurrenceStatus.PAID})"),
        (
            FindingKind.PRICE_PARTS_MISMATCH,
            f"shipment {second.pk} ({OccurrenceStatus.SCHEDULED})",
        ),
    ]


def test_a_child_order_that_does_not_bill_its_shipments_charges_is_found(sell):
    from continuity.child_orders import child_orders_create
    from core.actors import Actor

    seattle()
    order = sell()
    first = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]
    result = child_orders_create(
        groups=[[first.pk]], run_date=first.ship_date, actor=Actor.job("test")
    )
    assert result.created_orders == 1
    child = SalesOrder.objects.get(number=result.order_numbers[0])
    first.refresh_from_db()
    assert (child.total, child.subtotal, child.delivery_amount, child.tax_amount) == (
        first.amount,
        first.subtotal,
        first.delivery_amount,
        first.tax_amount,
    )
    assert parts_findings() == []

    # Its delivery dropped, with the total that holds it (the database's check holds).
    SalesOrder.objects.filter(pk=child.pk).update(
        delivery_amount=0, total=child.total - child.delivery_amount
    )

    assert parts_findings() == [(FindingKind.CHILD_ORDER_TOTAL, f"sales order {child.number}")]
