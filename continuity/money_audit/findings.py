"""What the audit reports, and the query pieces its checks share."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from core.money import CENT, ZERO

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
    PRICE_PARTS_MISMATCH = "price_parts_mismatch"
    CHILD_ORDER_TOTAL = "child_order_total"
    INVOICES_MISMATCH = "invoices_mismatch"

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
        PRICE_PARTS_MISMATCH: _(
            "A document's lines do not add up to its subtotal, tax and delivery"
        ),
        CHILD_ORDER_TOTAL: _("A child order does not bill its shipments' charges"),
        INVOICES_MISMATCH: _("An order's invoices do not bill it, or apply more than paid it"),
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


def finding_label(kind: str) -> str:
    return str(FindingKind.LABELS.get(kind, kind))


def grouped_sum(queryset, by: str):
    return Coalesce(
        Subquery(
            queryset.order_by().values(by).annotate(total=Sum("amount")).values("total"),
            output_field=MONEY,
        ),
        Value(ZERO, output_field=MONEY),
    )


def shipment_subject(occurrence_id: int, status: str) -> str:
    return f"shipment {occurrence_id} ({status})"


def cents(value) -> Decimal:
    # PostgreSQL answers sums as Decimal; SQLite (the embedded default) as a float or an
    # int, whose shortest text is the amount it summed. Cents either way, as the
    # findings print them.
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(CENT)
