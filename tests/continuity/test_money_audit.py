"""The money audit finds what is planted: shipments whose money does not match their
status, a shipment held by two sales, a charge in flight with no sale; and
`audit_money` says so with exit code 1 (0 when the books are right, 2 on bad input)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from continuity.models import Occurrence, OccurrenceStatus, PaymentAllocation
from continuity.money_audit import FindingKind, money_audit
from payments.models import Payment, PaymentOperation

pytestmark = pytest.mark.django_db

SHIPMENT_KINDS = {
    FindingKind.SHIPMENT_NET_MISMATCH,
    FindingKind.REFUND_NOT_OWED,
    FindingKind.TWO_LIVE_SALES,
    FindingKind.IN_FLIGHT_MISMATCH,
}


def shipment_findings() -> list[tuple[str, str, str]]:
    audit = money_audit(source="test", save=False)
    return [
        (finding["kind"], finding["subject"], finding["detail"])
        for finding in audit.findings
        if finding["kind"] in SHIPMENT_KINDS
    ]


def test_books_as_the_services_leave_them_have_no_finding(sell):
    sell()
    out = io.StringIO()

    call_command("audit_money", "--no-save", stdout=out)

    assert out.getvalue().startswith("Money audit: 0 finding(s); ")


def test_planted_discrepancies_are_each_found_once(sell):
    order = sell()
    first, second, third = Occurrence.objects.filter(subscription__parent_order=order).order_by(
        "sequence"
    )[:3]
    sale = Payment.objects.get(sales_order=order, operation=PaymentOperation.SALE)
    amount = first.amount
    # A second captured sale that also pays the first shipment.
    double = Payment.objects.get(pk=sale.pk)
    double.pk = None
    double.idempotency_key = f"{sale.idempotency_key}-planted"
    double.occurrence = first  # a shipment's sale, on the same order
    double.save()
    PaymentAllocation.objects.create(occurrence=first, payment=double, amount=amount)
    # A shipment marked paid by a sale that pays nothing of it, and one charging with no
    # sale.
    Occurrence.objects.filter(pk=second.pk).update(status=OccurrenceStatus.PAID, payment=sale)
    Occurrence.objects.filter(pk=third.pk).update(status=OccurrenceStatus.CHARGING)

    assert shipment_findings() == [
        (
            FindingKind.SHIPMENT_NET_MISMATCH,
            f"shipment {first.pk} (paid)",
            f"amount {amount}, captured {amount * 2}, refunded 0.00",
        ),
        (
            FindingKind.SHIPMENT_NET_MISMATCH,
            f"shipment {second.pk} (paid)",
            f"amount {second.amount}, captured 0.00, refunded 0.00",
        ),
        (
            FindingKind.TWO_LIVE_SALES,
            f"shipment {first.pk} (paid)",
            "2 sale(s) holding money, 0 in flight",
        ),
        (
            FindingKind.IN_FLIGHT_MISMATCH,
            f"shipment {third.pk} (charging)",
            "0 sale(s) awaiting their answer",
        ),
    ]
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^5 discrepancy\(ies\) in the books\.$") as refusal:
        call_command("audit_money", "--no-save", stdout=out)
    assert refusal.value.returncode == 1
    assert f"shipment {third.pk} (charging)" in out.getvalue()


def test_a_second_live_sale_in_flight_for_a_paid_shipment_is_found(sell):
    order = sell()
    first = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]
    sale = Payment.objects.get(sales_order=order, operation=PaymentOperation.SALE)
    in_flight = Payment.objects.get(pk=sale.pk)
    in_flight.pk = None
    in_flight.idempotency_key = f"{sale.idempotency_key}-in-flight"
    in_flight.status = "pending"
    in_flight.occurrence = first
    in_flight.save()

    assert shipment_findings() == [
        (
            FindingKind.TWO_LIVE_SALES,
            f"shipment {first.pk} (paid)",
            "1 sale(s) holding money, 1 in flight",
        ),
        (
            FindingKind.IN_FLIGHT_MISMATCH,
            f"shipment {first.pk} (paid)",
            "1 sale(s) awaiting their answer",
        ),
    ]


def test_the_audit_reads_the_whole_book_in_the_same_queries_whatever_its_size(sell):
    """Set-wise reads: ten times the subscriptions, the same statements (no query per
    shipment or sale), and each shipment's money in one grouped pass, not a subquery
    correlated to each shipment row."""

    def audit_statements() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert money_audit(source="test", save=False).finding_count == 0
        return [query["sql"] for query in captured.captured_queries]

    sell()
    small = audit_statements()
    for _ in range(9):
        sell()
    large = audit_statements()

    assert len(large) == len(small)
    shipment_money = [sql for sql in large if sql.lstrip().startswith("WITH captured AS")]
    assert len(shipment_money) == 1
    assert '"continuity_occurrence"."id"' not in shipment_money[0]
