"""Each shipment's money against its status: what was captured and refunded for it, what
is owed back, and the sales in flight for it."""

from __future__ import annotations

from django.db import connection

from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    CHARGE_KEPT,
    NOT_SENT,
    Occurrence,
    PaymentAllocation,
)
from continuity.money_audit.findings import Finding, FindingKind, cents, shipment_subject
from continuity.refunds import refunds_owed
from payments.models import (
    CAPTURED_STATUSES,
    UNANSWERED_STATUSES,
    Payment,
    PaymentOperation,
    PaymentStatus,
)

# Each shipment with what was captured for it (allocations of captured sales), what was
# refunded for it (approved refunds), its sales awaiting an answer, and how many sales
# still hold money for it (an allocation not wholly refunded). One pass of grouped
# subqueries joined to the shipments, not correlated subqueries: the audit reads the
# whole book every night and at the end of every payment run. Only shipments that some
# check could find wrong come back; the checks themselves are in shipment_findings.
_SHIPMENT_MONEY_SQL = """
WITH captured AS (
    SELECT a.occurrence_id, SUM(a.amount) AS total
    FROM {allocation} a JOIN {payment} p ON p.id = a.payment_id
    WHERE p.status IN ({captured})
    GROUP BY a.occurrence_id
), refunded AS (
    SELECT occurrence_id, SUM(amount) AS total
    FROM {payment}
    WHERE operation = %s AND status = %s AND occurrence_id IS NOT NULL
    GROUP BY occurrence_id
), unanswered AS (
    SELECT occurrence_id, COUNT(*) AS total
    FROM {payment}
    WHERE operation = %s AND status IN ({unanswered}) AND occurrence_id IS NOT NULL
    GROUP BY occurrence_id
), refunded_per_sale AS (
    SELECT original_id, occurrence_id, SUM(amount) AS total
    FROM {payment}
    WHERE operation = %s AND status = %s AND occurrence_id IS NOT NULL
    GROUP BY original_id, occurrence_id
), holding AS (
    SELECT a.occurrence_id, COUNT(*) AS total
    FROM {allocation} a
    JOIN {payment} p ON p.id = a.payment_id
    LEFT JOIN refunded_per_sale r
        ON r.original_id = a.payment_id AND r.occurrence_id = a.occurrence_id
    WHERE p.status IN ({captured}) AND a.amount > COALESCE(r.total, 0)
    GROUP BY a.occurrence_id
)
SELECT o.id, o.status, o.amount,
       COALESCE(c.total, 0), COALESCE(r.total, 0), COALESCE(u.total, 0), COALESCE(h.total, 0)
FROM {occurrence} o
LEFT JOIN captured c ON c.occurrence_id = o.id
LEFT JOIN refunded r ON r.occurrence_id = o.id
LEFT JOIN unanswered u ON u.occurrence_id = o.id
LEFT JOIN holding h ON h.occurrence_id = o.id
WHERE c.occurrence_id IS NOT NULL OR r.occurrence_id IS NOT NULL
   OR u.occurrence_id IS NOT NULL OR o.status IN ({expects_money})
ORDER BY o.id
"""


def _shipments_withcents():
    """(id, status, amount, captured, refunded, unanswered sales, sales holding money) of
    every shipment that has money or should have some."""

    def marks(values) -> str:
        return ", ".join(["%s"] * len(values))

    captured, unanswered = list(CAPTURED_STATUSES), list(UNANSWERED_STATUSES)
    # A shipment with no money at all is right unless its status says it has some: a
    # kept charge (net must be its amount) or a charge in flight (a sale must exist).
    expects_money = sorted({*CHARGE_KEPT, *CHARGE_IN_FLIGHT})
    sql = _SHIPMENT_MONEY_SQL.format(
        allocation=PaymentAllocation._meta.db_table,
        payment=Payment._meta.db_table,
        occurrence=Occurrence._meta.db_table,
        captured=marks(captured),
        unanswered=marks(unanswered),
        expects_money=marks(expects_money),
    )
    refund, approved, sale = PaymentOperation.REFUND, PaymentStatus.APPROVED, PaymentOperation.SALE
    params = [
        *captured,
        refund,
        approved,
        sale,
        *unanswered,
        refund,
        approved,
        *captured,
        *expects_money,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for pk, status, amount, captured_amount, refunded, in_flight, holding in cursor:
            yield (
                pk,
                status,
                cents(amount),
                cents(captured_amount),
                cents(refunded),
                int(in_flight),
                int(holding),
            )


def shipment_findings(checked) -> list[Finding]:
    checked["shipments"] = Occurrence.objects.count()
    net_wrong, not_owed, two_live, in_flight_wrong = [], [], [], []
    owed = None  # read once, and only when a shipment not sent still holds money
    for pk, status, amount, captured, refunded, unanswered, holding in _shipments_withcents():
        net = captured - refunded
        subject = shipment_subject(pk, status)
        if (
            (status in CHARGE_KEPT and net != amount)
            or (status in AWAITING_CHARGE | CHARGE_IN_FLIGHT and net != 0)
            or (status in NOT_SENT and net < 0)
        ):
            net_wrong.append(
                Finding(
                    FindingKind.SHIPMENT_NET_MISMATCH,
                    subject,
                    f"amount {amount}, captured {captured}, refunded {refunded}",
                    occurrence=pk,
                )
            )
        if status in NOT_SENT and net > 0:
            if owed is None:
                owed = set(refunds_owed().values_list("occurrence_id", flat=True))
            if pk not in owed:
                not_owed.append(
                    Finding(
                        FindingKind.REFUND_NOT_OWED,
                        subject,
                        f"captured {captured}, refunded {refunded}",
                        occurrence=pk,
                    )
                )
        # More than one sale holding the shipment's money or in flight for it.
        if holding > 1 or (holding >= 1 and unanswered >= 1) or unanswered > 1:
            two_live.append(
                Finding(
                    FindingKind.TWO_LIVE_SALES,
                    subject,
                    f"{holding} sale(s) holding money, {unanswered} in flight",
                    occurrence=pk,
                )
            )
        if (status in CHARGE_IN_FLIGHT) != (unanswered > 0) or unanswered > 1:
            in_flight_wrong.append(
                Finding(
                    FindingKind.IN_FLIGHT_MISMATCH,
                    subject,
                    f"{unanswered} sale(s) awaiting their answer",
                    occurrence=pk,
                )
            )
    return [*net_wrong, *not_owed, *two_live, *in_flight_wrong]
