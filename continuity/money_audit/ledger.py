"""Our books against the gateway's ledger: every request the gateway approved is a
payment of ours that says so, and the other way round."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db.models import Q

from continuity.money_audit.findings import Finding, FindingKind
from payments.gateways import get_gateway
from payments.gateways.base import GatewayError, LedgerEntry, LedgerUnavailable
from payments.models import Payment, PaymentOperation, PaymentStatus

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


def ledger_findings(since, checked) -> list[Finding]:
    gateway = get_gateway()
    # Both questions to the gateway answer or the ledger is not compared at all: a
    # half-read ledger would report our payments as unknown to it.
    try:
        ledger: dict[str, LedgerEntry] = {
            entry.idempotency_key: entry for entry in gateway.ledger(since=since)
        }
        ours = {row[1]: row for row in _ours(since=since)}
        # Keys of either side that the other side's window left out.
        missing_ours = [key for key in ledger if key not in ours]
        ours.update({row[1]: row for row in _ours(missing_ours)})
        missing_ledger = [key for key in ours if key not in ledger]
        ledger.update(
            {entry.idempotency_key: entry for entry in gateway.ledger(keys=missing_ledger)}
        )
    except LedgerUnavailable:
        checked["ledger"] = "unavailable"
        return []
    except GatewayError as error:
        checked["ledger"] = f"failed: {error}"
        return []
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
