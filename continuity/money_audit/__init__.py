"""The money audit: our books against themselves and against the gateway's ledger.

Every check is one of the invariants of docs/money.md, written as a query over the whole
database (the ledger part over a window of time), so that the audit finds what no single
service would notice: money taken that no row of ours records, a shipment paid twice, a
refund given twice, a cancelled shipment whose money was kept. A finding is one line; an
empty audit is the only good one.

It runs from `manage.py audit_money`, nightly from beat, and at the end of every payment
run; each run is saved as a MoneyAudit whose findings the payment exceptions page shows.
"""

from continuity.money_audit.audit import money_audit, money_audit_latest
from continuity.money_audit.findings import Finding, FindingKind, finding_label

__all__ = ["Finding", "FindingKind", "finding_label", "money_audit", "money_audit_latest"]
