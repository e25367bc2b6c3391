"""Each shipment's money against its status: what was captured and refunded for it, what
is owed back, and the sales in flight for it."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    CHARGE_KEPT,
    NOT_SENT,
    Occurrence,
    PaymentAllocation,
)
from continuity.money_audit.findings import (
    Finding,
    FindingKind,
    grouped_sum,
    shipment_subject,
)
from continuity.refunds import refunds_owed
from payments.models import (
    CAPTURED_STATUSES,
    UNANSWERED_STATUSES,
    Payment,
    PaymentOperation,
    PaymentStatus,
)


def _shipments_with_money():
    """Every shipment with what was captured for it (approved allocations), what was
    refunded for it (approved refunds), and its sales in flight and holding money."""
    allocations = PaymentAllocation.objects.filter(
        occurrence_id=OuterRef("pk"), payment__status__in=CAPTURED_STATUSES
    )
    refunds = Payment.objects.filter(
        occurrence_id=OuterRef("pk"),
        operation=PaymentOperation.REFUND,
        status=PaymentStatus.APPROVED,
    )
    unanswered_sales = Payment.objects.filter(
        occurrence_id=OuterRef("pk"),
        operation=PaymentOperation.SALE,
        status__in=UNANSWERED_STATUSES,
    )
    return Occurrence.objects.annotate(
        captured=grouped_sum(allocations, "occurrence_id"),
        refunded=grouped_sum(refunds, "occurrence_id"),
        unanswered=Coalesce(
            Subquery(
                unanswered_sales.order_by()
                .values("occurrence_id")
                .annotate(count=Count("pk"))
                .values("count")
            ),
            0,
        ),
    )


def shipment_findings(checked) -> list[Finding]:
    findings = []
    shipments = _shipments_with_money()
    checked["shipments"] = Occurrence.objects.count()
    wrong = shipments.annotate(net=F("captured") - F("refunded")).filter(
        Q(status__in=CHARGE_KEPT) & ~Q(net=F("amount"))
        | Q(status__in=[*AWAITING_CHARGE, *CHARGE_IN_FLIGHT]) & ~Q(net=0)
        | Q(status__in=NOT_SENT) & Q(net__lt=0)
    )
    for pk, status, amount, captured, refunded in wrong.values_list(
        "pk", "status", "amount", "captured", "refunded"
    ):
        findings.append(
            Finding(
                FindingKind.SHIPMENT_NET_MISMATCH,
                shipment_subject(pk, status),
                f"amount {amount}, captured {captured}, refunded {refunded}",
                occurrence=pk,
            )
        )
    owed = set(refunds_owed().values_list("occurrence_id", flat=True))
    kept = shipments.annotate(net=F("captured") - F("refunded")).filter(
        status__in=NOT_SENT, net__gt=0
    )
    for pk, status, captured, refunded in kept.values_list("pk", "status", "captured", "refunded"):
        if pk not in owed:
            findings.append(
                Finding(
                    FindingKind.REFUND_NOT_OWED,
                    shipment_subject(pk, status),
                    f"captured {captured}, refunded {refunded}",
                    occurrence=pk,
                )
            )
    # More than one sale holding the shipment's money or in flight for it.
    holding = (
        PaymentAllocation.objects.filter(
            occurrence_id=OuterRef("pk"), payment__status__in=CAPTURED_STATUSES
        )
        .annotate(
            refunded=grouped_sum(
                Payment.objects.filter(
                    original_id=OuterRef("payment_id"),
                    occurrence_id=OuterRef("occurrence_id"),
                    operation=PaymentOperation.REFUND,
                    status=PaymentStatus.APPROVED,
                ),
                "original_id",
            )
        )
        .filter(amount__gt=F("refunded"))
        .order_by()
        .values("occurrence_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    doubled = shipments.annotate(holding=Coalesce(Subquery(holding), 0)).filter(
        Q(holding__gt=1) | Q(holding__gte=1, unanswered__gte=1) | Q(unanswered__gt=1)
    )
    for pk, status, count, unanswered in doubled.values_list(
        "pk", "status", "holding", "unanswered"
    ):
        findings.append(
            Finding(
                FindingKind.TWO_LIVE_SALES,
                shipment_subject(pk, status),
                f"{count} sale(s) holding money, {unanswered} in flight",
                occurrence=pk,
            )
        )
    mismatched = shipments.filter(
        Q(status__in=CHARGE_IN_FLIGHT) & ~Q(unanswered=1)
        | ~Q(status__in=CHARGE_IN_FLIGHT) & Q(unanswered__gt=0)
    )
    for pk, status, unanswered in mismatched.values_list("pk", "status", "unanswered"):
        findings.append(
            Finding(
                FindingKind.IN_FLIGHT_MISMATCH,
                shipment_subject(pk, status),
                f"{unanswered} sale(s) awaiting their answer",
                occurrence=pk,
            )
        )
    return findings
