"""Each priced document against its lines: a sales order's and a shipment's stored parts
(subtotal, tax, delivery) are what their lines add up to, each line's gross is its amount
with its tax as the document's prices say, and a child order bills exactly the charges
of the shipments it fulfils (orders.priced). The database checks that a total is its
parts; it cannot check parts against lines, so the audit does."""

from __future__ import annotations

from django.db import connection

from continuity.models import Occurrence, OccurrenceLine
from continuity.money_audit.findings import Finding, FindingKind, cents, shipment_subject
from orders.models import (
    Invoice,
    InvoiceLine,
    SalesOrder,
    SalesOrderKind,
    SalesOrderLine,
    SalesOrderStatus,
)

# Amounts are compared rounded to the cent: exact on PostgreSQL's numeric, and what makes
# SQLite's sums (floats, in `make run`) compare as money.
# Documents whose lines do not add up to their parts: the sum of the lines' amounts is
# the subtotal, the lines' tax with the delivery's is the tax, and no line's gross is
# other than its amount (prices with tax) or its amount plus its tax (prices without).
_PARTS_SQL = """
WITH sums AS (
    SELECT l.{document}_id AS id,
           SUM(l.amount) AS subtotal,
           SUM(l.tax_amount) AS tax,
           SUM(CASE WHEN ROUND(l.gross_amount, 2) <> ROUND(l.amount
                         + CASE WHEN d.prices_include_tax THEN 0 ELSE l.tax_amount END, 2)
                    THEN 1 ELSE 0 END) AS wrong_gross
    FROM {lines} l JOIN {documents} d ON d.id = l.{document}_id
    GROUP BY l.{document}_id
)
SELECT d.id, d.subtotal, d.tax_amount, d.delivery_tax_amount,
       COALESCE(s.subtotal, 0), COALESCE(s.tax, 0), COALESCE(s.wrong_gross, 0)
FROM {documents} d LEFT JOIN sums s ON s.id = d.id
WHERE ROUND(d.subtotal, 2) <> ROUND(COALESCE(s.subtotal, 0), 2)
   OR ROUND(d.tax_amount, 2) <> ROUND(COALESCE(s.tax, 0) + d.delivery_tax_amount, 2)
   OR COALESCE(s.wrong_gross, 0) > 0
ORDER BY d.id
"""

# Child orders whose total, subtotal, delivery or tax is not the sum of their shipments'.
_CHILD_ORDER_SQL = """
WITH shipments AS (
    SELECT child_order_id AS id, SUM(amount) AS total, SUM(subtotal) AS subtotal,
           SUM(delivery_amount) AS delivery, SUM(tax_amount) AS tax
    FROM {occurrences}
    WHERE child_order_id IS NOT NULL
    GROUP BY child_order_id
)
SELECT o.id, o.number, o.total, COALESCE(s.total, 0)
FROM {orders} o LEFT JOIN shipments s ON s.id = o.id
WHERE o.kind = %s AND o.status <> %s
  AND (ROUND(o.total, 2) <> ROUND(COALESCE(s.total, 0), 2)
       OR ROUND(o.subtotal, 2) <> ROUND(COALESCE(s.subtotal, 0), 2)
       OR ROUND(o.delivery_amount, 2) <> ROUND(COALESCE(s.delivery, 0), 2)
       OR ROUND(o.tax_amount, 2) <> ROUND(COALESCE(s.tax, 0), 2))
ORDER BY o.id
"""


def _parts_mismatches(documents, lines, document: str):
    sql = _PARTS_SQL.format(
        documents=documents._meta.db_table, lines=lines._meta.db_table, document=document
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        yield from cursor.fetchall()


def _detail(subtotal, tax, delivery_tax, lines_subtotal, lines_tax, wrong_gross) -> str:
    subtotal, tax, delivery_tax, lines_subtotal, lines_tax = (
        cents(value) for value in (subtotal, tax, delivery_tax, lines_subtotal, lines_tax)
    )
    return (
        f"subtotal {subtotal}, its lines {lines_subtotal}; tax {tax}, its lines "
        f"{lines_tax} and delivery {delivery_tax}; {wrong_gross} line(s) with a wrong gross"
    )


def price_parts_findings(checked) -> list[Finding]:
    findings = []
    for pk, *amounts in _parts_mismatches(SalesOrder, SalesOrderLine, "order"):
        findings.append(
            Finding(FindingKind.PRICE_PARTS_MISMATCH, f"sales order {pk}", _detail(*amounts))
        )
    for pk, *amounts in _parts_mismatches(Invoice, InvoiceLine, "invoice"):
        findings.append(
            Finding(FindingKind.PRICE_PARTS_MISMATCH, f"invoice {pk}", _detail(*amounts))
        )
    shipments = list(_parts_mismatches(Occurrence, OccurrenceLine, "occurrence"))
    statuses = dict(
        Occurrence.objects.filter(pk__in=[row[0] for row in shipments]).values_list("pk", "status")
    )
    for pk, *amounts in shipments:
        findings.append(
            Finding(
                FindingKind.PRICE_PARTS_MISMATCH,
                shipment_subject(pk, statuses.get(pk, "")),
                _detail(*amounts),
                occurrence=pk,
            )
        )
    sql = _CHILD_ORDER_SQL.format(
        occurrences=Occurrence._meta.db_table, orders=SalesOrder._meta.db_table
    )
    with connection.cursor() as cursor:
        # A cancelled child order no longer names its shipments (orders.fulfilment).
        cursor.execute(
            sql, [SalesOrderKind.CONTINUITY_CHILD.value, SalesOrderStatus.CANCELLED.value]
        )
        for _pk, number, total, shipments_total in cursor.fetchall():
            findings.append(
                Finding(
                    FindingKind.CHILD_ORDER_TOTAL,
                    f"sales order {number}",
                    f"total {cents(total)}, its shipments' charges {cents(shipments_total)}",
                )
            )
    checked["priced_documents"] = "orders, shipments, child orders and invoices against their lines"
    return findings
