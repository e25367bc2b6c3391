"""Each order's invoices against the order: together they never bill more than it, an
order invoiced or completed (but a parent order) is billed exactly, and a child order's
invoices never apply more than its shipments' charges paid, net of their refunds
(orders.fulfilment)."""

from __future__ import annotations

from django.db import connection

from continuity.models import Occurrence, PaymentAllocation
from continuity.money_audit.findings import Finding, FindingKind, cents
from orders.models import Invoice, SalesOrder, SalesOrderKind, SalesOrderStatus
from payments.models import Payment, PaymentOperation, PaymentStatus

_SQL = """
WITH billed AS (
    SELECT order_id AS id, SUM(total) AS total, SUM(payment_applied) AS applied
    FROM {invoices} GROUP BY order_id
), paid AS (
    -- Net of the approved refunds of each sale for its shipment: a sale refunded (a
    -- cancel) before a reactivation charged the shipment again paid nothing.
    SELECT shipment.child_order_id AS id,
           SUM(allocation.amount - COALESCE((
               SELECT SUM(refund.amount) FROM {payments} refund
               WHERE refund.original_id = allocation.payment_id
                 AND refund.occurrence_id = allocation.occurrence_id
                 AND refund.operation = %s AND refund.status = %s
           ), 0)) AS total
    FROM {allocations} allocation
    JOIN {occurrences} shipment ON shipment.id = allocation.occurrence_id
    WHERE shipment.child_order_id IS NOT NULL
    GROUP BY shipment.child_order_id
)
SELECT o.number, o.total, COALESCE(b.total, 0), COALESCE(b.applied, 0), COALESCE(p.total, 0)
FROM {orders} o
LEFT JOIN billed b ON b.id = o.id
LEFT JOIN paid p ON p.id = o.id
WHERE ROUND(COALESCE(b.total, 0), 2) > ROUND(o.total, 2)
   OR (o.status IN (%s, %s) AND o.kind <> %s
       AND ROUND(COALESCE(b.total, 0), 2) <> ROUND(o.total, 2))
   OR (o.kind = %s AND ROUND(COALESCE(b.applied, 0), 2) > ROUND(COALESCE(p.total, 0), 2))
ORDER BY o.id
"""


def invoice_findings(checked) -> list[Finding]:
    sql = _SQL.format(
        invoices=Invoice._meta.db_table,
        allocations=PaymentAllocation._meta.db_table,
        occurrences=Occurrence._meta.db_table,
        orders=SalesOrder._meta.db_table,
        payments=Payment._meta.db_table,
    )
    findings = []
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                PaymentOperation.REFUND.value,
                PaymentStatus.APPROVED.value,
                SalesOrderStatus.INVOICED.value,
                SalesOrderStatus.COMPLETED.value,
                # A parent order completes when its program is over: its child orders
                # are what is invoiced.
                SalesOrderKind.CONTINUITY_PARENT.value,
                SalesOrderKind.CONTINUITY_CHILD.value,
            ],
        )
        for number, total, billed, applied, paid in cursor.fetchall():
            findings.append(
                Finding(
                    FindingKind.INVOICES_MISMATCH,
                    f"sales order {number}",
                    f"total {cents(total)}, invoiced {cents(billed)}; payment applied "
                    f"{cents(applied)}, its shipments' charges {cents(paid)}",
                )
            )
    checked["invoices"] = Invoice.objects.count()
    return findings
