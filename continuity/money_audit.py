"""The money audit: our books against themselves and against the gateway's ledger.

Every check is one of the invariants of docs/money.md, written as a query over the whole
database (the ledger part over a window of time), so that the audit finds what no single
service would notice: money taken that no row of ours records, a shipment paid twice, a
refund given twice, a cancelled shipment whose money was kept. A finding is one line; an
empty audit is the only good one.

It runs from `manage.py audit_money`, nightly from beat, and at the end of every payment
run; each run is saved as a MoneyAudit whose findings the payment exceptions page shows.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    CHARGE_KEPT,
    NOT_SENT,
    MoneyAudit,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    PaymentAllocation,
)
from continuity.refunds import refunds_owed
from core.money import ZERO
from orders.models import SalesOrder, SalesOrderLine, SalesOrderStatus
from payments.gateways import get_gateway
from payments.gateways.base import GatewayError, LedgerEntry, LedgerUnavailable
from payments.models import (
    CAPTURED_STATUSES,
    UNANSWERED_STATUSES,
    Payment,
    PaymentMethodKind,
    PaymentOperation,
    PaymentStatus,
)

MONEY = DecimalField(max_digits=14, decimal_places=2)


class FindingKind:
    """The kinds of discrepancy, each with the sentence the page and the command show."""

    LEDGER_WITHOUT_PAYMENT = "ledger_without_payment"
    LEDGER_MISMATCH = "ledger_mismatch"
    APPROVED_NOT_AT_GATEWAY = "approved_not_at_gateway"
    DECLINED_BUT_APPROVED = "declined_but_approved"
    TWO_LIVE_SALES = "two_live_sales"
    REFUNDS_EXCEED_SALE = "refunds_exceed_sale"
    TWO_REFUNDS_FOR_SHIPMENT = "two_refunds_for_shipment"
    ALLOCATIONS_EXCEED_SALE = "allocations_exceed_sale"
    SHIPMENT_NET_MISMATCH = "shipment_net_mismatch"
    REFUND_NOT_OWED = "refund_not_owed"
    CHILD_ORDER_LINES = "child_order_lines"
    IN_FLIGHT_MISMATCH = "in_flight_mismatch"
    ORDER_SALE_MISMATCH = "order_sale_mismatch"

    LABELS = {
        LEDGER_WITHOUT_PAYMENT: _("The gateway approved a request no payment of ours records"),
        LEDGER_MISMATCH: _("The gateway and our payment disagree on what was asked"),
        APPROVED_NOT_AT_GATEWAY: _("Our payment is approved but the gateway did not approve it"),
        DECLINED_BUT_APPROVED: _("Our payment is declined but the gateway approved it"),
        TWO_LIVE_SALES: _("A shipment holds more than one sale"),
        REFUNDS_EXCEED_SALE: _("Refunds of a sale exceed it"),
        TWO_REFUNDS_FOR_SHIPMENT: _("A sale refunded one shipment more than once"),
        ALLOCATIONS_EXCEED_SALE: _("A sale pays for more than its amount"),
        SHIPMENT_NET_MISMATCH: _("A shipment's money does not match its status"),
        REFUND_NOT_OWED: _("A charged shipment that will not be sent is not listed as owed"),
        CHILD_ORDER_LINES: _("A shipment's child order lines are wrong"),
        IN_FLIGHT_MISMATCH: _("A shipment's charge in flight does not match its sale"),
        ORDER_SALE_MISMATCH: _("An order's sale does not match the order"),
    }


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str
    occurrence: int | None = None
    payment: int | None = None

    def line(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


def money_audit(
    *, source: str, ledger_since: datetime.datetime | None = None, save: bool = True
) -> MoneyAudit:
    """Run every check; return (and save, unless told) the audit with its findings."""
    started = timezone.now()
    checked: dict[str, int | str] = {}
    findings = [
        *_ledger_findings(ledger_since, checked),
        *_shipment_findings(checked),
        *_sale_findings(),
        *_child_order_findings(),
        *_order_sale_findings(),
    ]
    audit = MoneyAudit(
        source=source[:60],
        started_at=started,
        finished_at=timezone.now(),
        ledger_since=ledger_since,
        finding_count=len(findings),
        findings=[asdict(finding) for finding in findings],
        checked=checked,
    )
    if save:
        audit.save()
    return audit


def money_audit_latest() -> MoneyAudit | None:
    return MoneyAudit.objects.order_by("-id").first()


# --- Our books against the gateway's ledger ----------------------------------------------

# Our statuses that say the gateway approved the request.
_APPROVED_BY_GATEWAY = {
    PaymentOperation.SALE: {PaymentStatus.APPROVED, PaymentStatus.REFUNDED, PaymentStatus.VOIDED},
    PaymentOperation.REFUND: {PaymentStatus.APPROVED},
    PaymentOperation.VOID: {PaymentStatus.APPROVED},
}


def _ours(keys: Iterable[str] | None = None, *, since=None) -> Iterator[tuple]:
    payments = Payment.objects.order_by()
    if keys is not None:
        keys = list(keys)
        for start in range(0, len(keys), 5000):
            yield from _payment_rows(
                payments.filter(idempotency_key__in=keys[start : start + 5000])
            )
        return
    if since is not None:
        payments = payments.filter(Q(created_at__gte=since) | Q(answered_at__gte=since))
    yield from _payment_rows(payments)


def _payment_rows(payments) -> Iterator[tuple]:
    yield from payments.values_list(
        "pk", "idempotency_key", "operation", "amount", "currency", "status"
    ).iterator(chunk_size=5000)


def _ledger_findings(since, checked) -> list[Finding]:
    gateway = get_gateway()
    try:
        ledger: dict[str, LedgerEntry] = {
            entry.idempotency_key: entry for entry in gateway.ledger(since=since)
        }
    except LedgerUnavailable:
        checked["ledger"] = "unavailable"
        return []
    except GatewayError as error:
        checked["ledger"] = f"failed: {error}"
        return []
    ours = {row[1]: row for row in _ours(since=since)}
    # Keys of either side that the other side's window left out.
    missing_ours = [key for key in ledger if key not in ours]
    ours.update({row[1]: row for row in _ours(missing_ours)})
    missing_ledger = [key for key in ours if key not in ledger]
    ledger.update({entry.idempotency_key: entry for entry in gateway.ledger(keys=missing_ledger)})
    checked["ledger_entries"] = len(ledger)
    checked["payments"] = len(ours)
    findings = []
    for key, entry in ledger.items():
        row = ours.get(key)
        if row is None:
            if entry.approved:
                findings.append(
                    Finding(
                        FindingKind.LEDGER_WITHOUT_PAYMENT,
                        f"key {key}",
                        f"{entry.operation} of {entry.amount} {entry.currency} "
                        f"(reference {entry.reference})",
                    )
                )
            continue
        pk, _key, operation, amount, currency, status = row
        if (operation, amount, currency) != (entry.operation, entry.amount, entry.currency):
            findings.append(
                Finding(
                    FindingKind.LEDGER_MISMATCH,
                    f"payment {pk} ({key})",
                    f"ours: {operation} {amount} {currency}; gateway: {entry.operation} "
                    f"{entry.amount} {entry.currency}",
                    payment=pk,
                )
            )
        if entry.approved and status == PaymentStatus.DECLINED:
            findings.append(
                Finding(
                    FindingKind.DECLINED_BUT_APPROVED,
                    f"payment {pk} ({key})",
                    f"the gateway approved {entry.amount} {entry.currency}, reference "
                    f"{entry.reference}",
                    payment=pk,
                )
            )
    for key, (pk, _key, operation, amount, currency, status) in ours.items():
        entry = ledger.get(key)
        if status in _APPROVED_BY_GATEWAY[operation] and not (entry and entry.approved):
            findings.append(
                Finding(
                    FindingKind.APPROVED_NOT_AT_GATEWAY,
                    f"payment {pk} ({key})",
                    f"ours: {operation} {amount} {currency} {status}; gateway: "
                    + ("declined" if entry else "never seen"),
                    payment=pk,
                )
            )
    return findings


# --- Shipments ----------------------------------------------------------------------------


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
        captured=_grouped_sum(allocations, "occurrence_id"),
        refunded=_grouped_sum(refunds, "occurrence_id"),
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


def _grouped_sum(queryset, by: str):
    return Coalesce(
        Subquery(
            queryset.order_by().values(by).annotate(total=Sum("amount")).values("total"),
            output_field=MONEY,
        ),
        Value(ZERO, output_field=MONEY),
    )


def _shipment_subject(occurrence_id: int, status: str) -> str:
    return f"shipment {occurrence_id} ({status})"


def _shipment_findings(checked) -> list[Finding]:
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
                _shipment_subject(pk, status),
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
                    _shipment_subject(pk, status),
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
            refunded=_grouped_sum(
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
                _shipment_subject(pk, status),
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
                _shipment_subject(pk, status),
                f"{unanswered} sale(s) awaiting their answer",
                occurrence=pk,
            )
        )
    return findings


# --- Sales and their refunds --------------------------------------------------------------


def _sale_findings() -> list[Finding]:
    findings = []
    refunded = _grouped_sum(
        Payment.objects.filter(
            original_id=OuterRef("pk"),
            operation=PaymentOperation.REFUND,
            status=PaymentStatus.APPROVED,
        ),
        "original_id",
    )
    allocated = _grouped_sum(
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
            status__in=[*UNANSWERED_STATUSES, PaymentStatus.APPROVED],
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


# --- Child orders -------------------------------------------------------------------------


def _child_order_findings() -> list[Finding]:
    """A shipment whose child order is created has each of its lines on exactly one line
    of that order; no other shipment has a line on any child order."""
    findings = []
    on_its_order = SalesOrderLine.objects.filter(
        occurrence_line_id=OuterRef("pk"), order_id=OuterRef("occurrence__child_order_id")
    )
    on_any_order = SalesOrderLine.objects.filter(occurrence_line_id=OuterRef("pk"))
    lines = OccurrenceLine.objects.annotate(
        on_its_order=Exists(on_its_order), on_any_order=Exists(on_any_order)
    ).filter(
        Q(occurrence__status=OccurrenceStatus.CHILD_CREATED, on_its_order=False)
        | ~Q(occurrence__status=OccurrenceStatus.CHILD_CREATED) & Q(on_any_order=True)
    )
    for occurrence_id, status, line_number in lines.values_list(
        "occurrence_id", "occurrence__status", "line_number"
    ).order_by("occurrence_id", "line_number"):
        findings.append(
            Finding(
                FindingKind.CHILD_ORDER_LINES,
                _shipment_subject(occurrence_id, status),
                f"line {line_number} "
                + (
                    "is on no line of its child order"
                    if status == OccurrenceStatus.CHILD_CREATED
                    else "is on a child order line but has no child order"
                ),
                occurrence=occurrence_id,
            )
        )
    return findings


# --- The sale taken at submit -------------------------------------------------------------


def _order_sale_findings() -> list[Finding]:
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


def finding_label(kind: str) -> str:
    return str(FindingKind.LABELS.get(kind, kind))
