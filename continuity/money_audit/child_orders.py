"""Each shipment's lines against the lines of its child order."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from continuity.models import OccurrenceLine, OccurrenceStatus
from continuity.money_audit.findings import Finding, FindingKind, shipment_subject
from orders.models import SalesOrderLine


def child_order_findings() -> list[Finding]:
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
                shipment_subject(occurrence_id, status),
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
