from __future__ import annotations

import datetime
from dataclasses import asdict

from django.utils import timezone

from continuity.models import MoneyAudit
from continuity.money_audit.child_orders import child_order_findings
from continuity.money_audit.invoices import invoice_findings
from continuity.money_audit.ledger import ledger_findings
from continuity.money_audit.parts import price_parts_findings
from continuity.money_audit.sales import order_sale_findings, sale_findings
from continuity.money_audit.shipments import shipment_findings


def money_audit(
    *, source: str, ledger_since: datetime.datetime | None = None, save: bool = True
) -> MoneyAudit:
    """Run every check; return (and save, unless told) the audit with its findings."""
    started = timezone.now()
    checked: dict[str, int | str] = {}
    findings = [
        *ledger_findings(ledger_since, checked),
        *shipment_findings(checked),
        *sale_findings(),
        *child_order_findings(),
        *order_sale_findings(),
        *price_parts_findings(checked),
        *invoice_findings(checked),
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
