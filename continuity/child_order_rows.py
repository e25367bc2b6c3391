"""The rows of new child orders: each order, its lines (copies of its shipments' lines)
and the shipments' new status, written in bulk (raw SQL on PostgreSQL, the ORM on
SQLite). continuity.child_orders decides what to write and holds the locks."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.db import connection

from continuity.models import Occurrence, OccurrenceLine, OccurrenceStatus
from core.money import ZERO
from core.sql_arrays import array_literal
from orders.models import SalesOrder, SalesOrderKind, SalesOrderLine, SalesOrderStatus

if TYPE_CHECKING:
    from continuity.child_orders import _PaidShipment


def created_status(release: bool) -> SalesOrderStatus:
    return SalesOrderStatus.RELEASED if release else SalesOrderStatus.SUBMITTED


def group_price(group: list[_PaidShipment]) -> dict:
    """A child order's price parts: the sums of its shipments' (one shipment, or those
    consolidated into it); rate, basis, jurisdiction and mode of the first."""
    first = group[0]
    return {
        "subtotal": sum((shipment.subtotal for shipment in group), ZERO),
        "delivery_amount": sum((shipment.delivery_amount for shipment in group), ZERO),
        "delivery_tax_rate": first.delivery_tax_rate,
        "delivery_tax_amount": sum((shipment.delivery_tax_amount for shipment in group), ZERO),
        "tax_amount": sum((shipment.tax_amount for shipment in group), ZERO),
        "prices_include_tax": first.prices_include_tax,
        "tax_jurisdiction": first.tax_jurisdiction,
        "delivery_mode_id": first.delivery_mode_id,
    }


def price_columns(groups: list[list[_PaidShipment]]) -> dict:
    """group_price of every group, as the arrays the PostgreSQL insert unnests (each an
    array literal, core.sql_arrays)."""
    prices = [group_price(group) for group in groups]
    return {
        "subtotals": array_literal(price["subtotal"] for price in prices),
        "deliveries": array_literal(price["delivery_amount"] for price in prices),
        "delivery_tax_rates": array_literal(price["delivery_tax_rate"] for price in prices),
        "delivery_taxes": array_literal(price["delivery_tax_amount"] for price in prices),
        "taxes": array_literal(price["tax_amount"] for price in prices),
        "include_tax": array_literal(price["prices_include_tax"] for price in prices),
        "jurisdictions": array_literal(price["tax_jurisdiction"] for price in prices),
        "delivery_modes": array_literal(price["delivery_mode_id"] for price in prices),
    }


def child_orders_insert_postgresql(
    groups: list[list[_PaidShipment]],
    *,
    numbers: list[str],
    run_date: datetime.date,
    now: datetime.datetime,
    source_reference: str,
    release: bool,
) -> list[int]:
    """Orders, lines and the shipments' new status in three statements; returns the
    order ids in the order of `groups`.

    Raw SQL because through the ORM about 80 % of a chunk's time went to building the
    statements in Python (bulk_create prepares every value of every row, bulk_update
    writes a CASE WHEN per row): one worker made about 2,600 child orders a second, and
    makes twice that this way (docs/benchmarks.md). The rows go in as arrays, one per
    column, that unnest() turns back into rows (each array one literal: core.sql_arrays);
    the lines are copied by the database.
    """
    orders_table = SalesOrder._meta.db_table
    lines_table = SalesOrderLine._meta.db_table
    occurrences_table = Occurrence._meta.db_table
    occurrence_lines_table = OccurrenceLine._meta.db_table
    with connection.cursor() as cursor:
        # Columns left out (method of payment, card, creator, ...) are NULL: the
        # shipments were paid by their own charges.
        cursor.execute(
            f"""
            INSERT INTO {orders_table} (
                number, customer_id, kind, status, parent_id, ship_to_id, currency, total,
                amount_due, order_date, requested_ship_date, submitted_at, completed_at,
                source_reference, created_at, subtotal, delivery_amount, delivery_tax_rate,
                delivery_tax_amount, tax_amount, prices_include_tax, tax_jurisdiction,
                delivery_mode_id, released_at
            )
            SELECT
                new.number, new.customer_id, %(kind)s, %(status)s, new.parent_id,
                new.ship_to_id, new.currency, new.total,
                0, %(run_date)s, new.requested_ship_date, %(now)s, %(now)s,
                %(source_reference)s, %(now)s, new.subtotal, new.delivery_amount,
                new.delivery_tax_rate, new.delivery_tax_amount, new.tax_amount,
                new.prices_include_tax, new.tax_jurisdiction, new.delivery_mode_id,
                %(released_at)s
            FROM unnest(
                %(numbers)s::varchar[], %(customers)s::bigint[], %(parents)s::bigint[],
                %(ship_tos)s::bigint[], %(currencies)s::varchar[], %(totals)s::numeric[],
                %(ship_dates)s::date[], %(subtotals)s::numeric[], %(deliveries)s::numeric[],
                %(delivery_tax_rates)s::numeric[], %(delivery_taxes)s::numeric[],
                %(taxes)s::numeric[], %(include_tax)s::boolean[], %(jurisdictions)s::varchar[],
                %(delivery_modes)s::bigint[]
            ) AS new(
                number, customer_id, parent_id, ship_to_id, currency, total,
                requested_ship_date, subtotal, delivery_amount, delivery_tax_rate,
                delivery_tax_amount, tax_amount, prices_include_tax, tax_jurisdiction,
                delivery_mode_id
            )
            RETURNING number, id
            """,
            {
                "kind": SalesOrderKind.CONTINUITY_CHILD.value,
                "status": created_status(release).value,
                "released_at": now if release else None,
                "run_date": run_date,
                "now": now,
                "source_reference": source_reference,
                "numbers": array_literal(numbers),
                "customers": array_literal(group[0].customer_id for group in groups),
                "parents": array_literal(group[0].parent_order_id for group in groups),
                "ship_tos": array_literal(group[0].ship_to_id for group in groups),
                "currencies": array_literal(group[0].currency for group in groups),
                "totals": array_literal(
                    sum((shipment.amount for shipment in group), ZERO) for group in groups
                ),
                "ship_dates": array_literal(
                    min(shipment.ship_date for shipment in group) for group in groups
                ),
                **price_columns(groups),
            },
        )
        ids_by_number = dict(cursor.fetchall())
        order_ids = [ids_by_number[number] for number in numbers]
        shipment_ids, shipment_orders, positions = [], [], []
        for order_id, group in zip(order_ids, groups, strict=True):
            for position, shipment in enumerate(group):
                shipment_ids.append(shipment.pk)
                shipment_orders.append(order_id)
                positions.append(position)
        # Each order's lines are its shipments' lines, numbered in shipment order, each
        # pointing at the occurrence line it fulfils (unique: never two child orders).
        cursor.execute(
            f"""
            INSERT INTO {lines_table} (
                order_id, line_number, item_id, quantity, unit_price, amount,
                occurrence_line_id, tax_group, tax_rate, tax_amount, tax_jurisdiction,
                gross_amount, paid_shipments
            )
            SELECT
                shipment.order_id,
                row_number() OVER (
                    PARTITION BY shipment.order_id ORDER BY shipment.position, line.line_number
                ),
                line.item_id, line.quantity, line.unit_price, line.amount, line.id,
                line.tax_group, line.tax_rate, line.tax_amount, line.tax_jurisdiction,
                line.gross_amount, '[]'::jsonb
            FROM unnest(%s::bigint[], %s::bigint[], %s::integer[])
                AS shipment(occurrence_id, order_id, position)
            JOIN {occurrence_lines_table} AS line ON line.occurrence_id = shipment.occurrence_id
            """,
            [array_literal(shipment_ids), array_literal(shipment_orders), array_literal(positions)],
        )
        cursor.execute(
            f"""
            UPDATE {occurrences_table} AS occurrence
            SET status = %s, child_order_id = shipment.order_id
            FROM unnest(%s::bigint[], %s::bigint[]) AS shipment(occurrence_id, order_id)
            WHERE occurrence.id = shipment.occurrence_id
            """,
            [
                OccurrenceStatus.CHILD_CREATED.value,
                array_literal(shipment_ids),
                array_literal(shipment_orders),
            ],
        )
    return order_ids


def child_orders_insert_orm(
    groups: list[list[_PaidShipment]],
    *,
    numbers: list[str],
    run_date: datetime.date,
    now: datetime.datetime,
    source_reference: str,
    release: bool,
) -> list[int]:
    """The same writes through the ORM, for SQLite (`make run`)."""
    orders = SalesOrder.objects.bulk_create(
        [
            SalesOrder(
                number=number,
                customer_id=group[0].customer_id,
                kind=SalesOrderKind.CONTINUITY_CHILD,
                status=created_status(release),
                released_at=now if release else None,
                parent_id=group[0].parent_order_id,
                ship_to_id=group[0].ship_to_id,
                currency=group[0].currency,
                total=sum((shipment.amount for shipment in group), ZERO),
                amount_due=ZERO,  # paid by the shipments' own charges
                **group_price(group),
                order_date=run_date,
                requested_ship_date=min(shipment.ship_date for shipment in group),
                submitted_at=now,
                completed_at=now,
                source_reference=source_reference,
            )
            for number, group in zip(numbers, groups, strict=True)
        ]
    )
    lines_by_occurrence: dict[int, list[OccurrenceLine]] = {}
    for line in OccurrenceLine.objects.filter(
        occurrence_id__in=[shipment.pk for group in groups for shipment in group]
    ).order_by("occurrence_id", "line_number"):
        lines_by_occurrence.setdefault(line.occurrence_id, []).append(line)
    SalesOrderLine.objects.bulk_create(
        [
            SalesOrderLine(
                order=order,
                line_number=number,
                item_id=line.item_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                occurrence_line=line,
                tax_group=line.tax_group,
                tax_jurisdiction=line.tax_jurisdiction,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
                gross_amount=line.gross_amount,
            )
            for order, group in zip(orders, groups, strict=True)
            for number, line in enumerate(
                (line for shipment in group for line in lines_by_occurrence[shipment.pk]),
                start=1,
            )
        ]
    )
    for order, group in zip(orders, groups, strict=True):
        Occurrence.objects.filter(pk__in=[shipment.pk for shipment in group]).update(
            status=OccurrenceStatus.CHILD_CREATED, child_order=order
        )
    return [order.pk for order in orders]
