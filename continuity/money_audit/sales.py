"""Sales against their refunds and the shipments they pay, and each order against the
sale taken at submit."""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from continuity.models import PaymentAllocation
from continuity.money_audit.findings import Finding, FindingKind, grouped_sum
from orders.models import SalesOrder, SalesOrderStatus
from payments.models import (
    CAPTURED_STATUSES,
    LIVE_REVERSAL_STATUSES,
    Payment,
    PaymentMethodKind,
    PaymentOperation,
    PaymentStatus,
)

# --- Sales and their refunds --------------------------------------------------------------


def sale_findings() -> list[Finding]:
    findings = []
    refunded = grouped_sum(
        Payment.objects.filter(
            original_id=OuterRef("pk"),
            operation=PaymentOperation.REFUND,
            status=PaymentStatus.APPROVED,
        ),
        "original_id",
    )
    allocated = grouped_sum(
        PaymentAllocation.objects.filter(payment_id=OuterRef("pk")), "payment_id"
    )
    sales = Payment.objects.filter(operation=PaymentOperation.SALE).annotate(
        refunded=refunded, allocated=allocated
    )
    for pk, key, amount, total in sales.filter(refunded__gt=F("amount")).values_list(
        "pk", "idempotency_key", "amount", "refunded"
    ):
        findings.append(
            Finding(
                FindingKind.REFUNDS_EXCEED_SALE,
                f"payment {pk} ({key})",
                f"amount {amount}, refunded {total}",
                payment=pk,
            )
        )
    for pk, key, amount, total in sales.filter(allocated__gt=F("amount")).values_list(
        "pk", "idempotency_key", "amount", "allocated"
    ):
        findings.append(
            Finding(
                FindingKind.ALLOCATIONS_EXCEED_SALE,
                f"payment {pk} ({key})",
                f"amount {amount}, allocated to shipments {total}",
                payment=pk,
            )
        )
    twice = (
        Payment.objects.filter(
            operation=PaymentOperation.REFUND,
            occurrence__isnull=False,
            status__in=LIVE_REVERSAL_STATUSES,
        )
        .values("original_id", "occurrence_id")
        .annotate(count=Count("pk"))
        .filter(count__gt=1)
        .order_by("original_id", "occurrence_id")
    )
    for row in twice:
        findings.append(
            Finding(
                FindingKind.TWO_REFUNDS_FOR_SHIPMENT,
                f"payment {row['original_id']}, shipment {row['occurrence_id']}",
                f"{row['count']} refunds given or in flight",
                occurrence=row["occurrence_id"],
                payment=row["original_id"],
            )
        )
    return findings


# --- The sale taken at submit -------------------------------------------------------------


def order_sale_findings() -> list[Finding]:
    """An open order has taken no money; a submitted order paid by card has exactly one
    captured sale of its amount due."""
    findings = []
    order_sales = Payment.objects.filter(
        sales_order_id=OuterRef("pk"),
        operation=PaymentOperation.SALE,
        occurrence__isnull=True,
        status__in=CAPTURED_STATUSES,
    )
    captured_count = Coalesce(
        Subquery(
            order_sales.order_by()
            .values("sales_order_id")
            .annotate(count=Count("pk"))
            .values("count")
        ),
        0,
    )
    matching = Exists(order_sales.filter(amount=OuterRef("amount_due")))
    orders = SalesOrder.objects.annotate(captured=captured_count, matching=matching)
    for number, count in orders.filter(status=SalesOrderStatus.OPEN, captured__gt=0).values_list(
        "number", "captured"
    ):
        findings.append(
            Finding(
                FindingKind.ORDER_SALE_MISMATCH,
                f"sales order {number}",
                f"open, with {count} sale(s) that took money",
            )
        )
    paid_by_card = orders.filter(
        status=SalesOrderStatus.SUBMITTED,
        payment_method__kind=PaymentMethodKind.CARD,
        amount_due__gt=0,
    ).filter(~Q(captured=1) | Q(matching=False))
    for number, count, due in paid_by_card.values_list("number", "captured", "amount_due"):
        findings.append(
            Finding(
                FindingKind.ORDER_SALE_MISMATCH,
                f"sales order {number}",
                f"submitted with {due} due and {count} sale(s) that took money"
                + ("" if count != 1 else ", of another amount"),
            )
        )
    return findings
