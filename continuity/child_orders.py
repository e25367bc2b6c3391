"""Create continuity child orders: each paid shipment becomes a sales order of its own
(a child of the order that sold the program), written in bulk under the shipments' row
locks; a subscription whose last shipment is ordered is completed."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from continuity.models import (
    OCCURRENCE_STATUS,
    SETTLED,
    ChildOrderRelease,
    ContinuityParameters,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.services import subscription_set_status
from core.actors import Actor
from core.errors import Conflict
from core.models import NotificationKind
from core.money import ZERO
from core.notifications import NotificationEvent, notifications_add
from core.services import (
    AuditSubject,
    audit_entries_insert,
    audit_entry_build,
)
from orders.models import SalesOrder, SalesOrderKind, SalesOrderLine, SalesOrderStatus
from orders.numbers import next_sales_order_numbers


@dataclass(frozen=True)
class ChildOrderResult:
    created_orders: int
    fulfilled_occurrences: int
    # Occurrences that were not turned into a child order: (occurrence id, reason, detail).
    problems: tuple[tuple[int, str, str], ...]
    completed_subscriptions: int
    order_numbers: tuple[str, ...]
    # Shipments another transaction held: not done here, to be tried again.
    locked_elsewhere: tuple[int, ...] = ()


class _PaidShipment(NamedTuple):
    """A locked paid shipment with what its child order copies from it and from its
    subscription. A tuple, not a model instance: a chunk holds hundreds, and building
    instances costs more than the database's own work."""

    pk: int
    subscription_id: int
    customer_id: int
    parent_order_id: int
    ship_to_id: int | None
    currency: str
    amount: Decimal
    ship_date: datetime.date
    # The shipment's price parts (orders.priced.PricedDocument), copied onto its order.
    subtotal: Decimal
    delivery_amount: Decimal
    delivery_tax_rate: Decimal
    delivery_tax_amount: Decimal
    tax_amount: Decimal
    prices_include_tax: bool
    tax_jurisdiction: str
    delivery_mode_id: int | None
    status: str


def child_orders_create(
    *,
    groups: list[list[int]],
    run_date: datetime.date,
    actor: Actor,
    source_reference: str = "",
) -> ChildOrderResult:
    """Turn groups of paid shipments into child sales orders, one order per group (a
    group is one shipment, or every due shipment of a subscription that consolidates).

    Shipments are locked with SKIP LOCKED and re-checked, so two runs at once never make
    two child orders for one shipment; the unique OccurrenceLine link on order lines makes
    the database refuse it as well. The whole chunk is written in bulk inside one
    savepoint; if that fails, each group is retried in its own savepoint, so one bad
    shipment is reported and the others are still created.
    """
    with transaction.atomic():
        locked, locked_elsewhere = _lock_paid_occurrences([pk for group in groups for pk in group])
        kept_groups = [[locked[pk] for pk in group if pk in locked] for group in groups]
        kept_groups = [group for group in kept_groups if group]
        try:
            with transaction.atomic():
                orders = _child_orders_write(
                    kept_groups, run_date=run_date, actor=actor, source_reference=source_reference
                )
            problems = []
        except DatabaseError:
            orders, problems = [], []
            for group in kept_groups:
                try:
                    # The shipments are still locked (by the outer transaction) and the
                    # tuples describing them were not changed by the failed attempt.
                    with transaction.atomic():
                        orders += _child_orders_write(
                            [group],
                            run_date=run_date,
                            actor=actor,
                            source_reference=source_reference,
                        )
                except DatabaseError as error:
                    detail = f"{type(error).__name__}: {str(error).strip()[:500]}"
                    problems += [(shipment.pk, "error", detail) for shipment in group]
        _child_orders_notify(orders)
        fulfilled = {shipment.pk for _number, group in orders for shipment in group}
        completed = _subscriptions_complete(
            {shipment.subscription_id for _number, group in orders for shipment in group},
            actor=actor,
        )
    return ChildOrderResult(
        created_orders=len(orders),
        fulfilled_occurrences=len(fulfilled),
        problems=tuple(problems),
        completed_subscriptions=completed,
        order_numbers=tuple(number for number, _group in orders),
        locked_elsewhere=tuple(locked_elsewhere),
    )


def _child_orders_notify(orders: list[tuple[str, list[_PaidShipment]]]) -> None:
    """One "shipment ordered" email per child order (inside the chunk's transaction)."""
    if not orders:
        return
    # Only the few values the email shows: the whole plan (JSON) and address rows would
    # cost more than writing the notifications themselves.
    subscriptions = {
        pk: (name, ", ".join(part for part in address if part))
        for pk, name, *address in Subscription.objects.filter(
            pk__in={group[0].subscription_id for _number, group in orders}
        ).values_list(
            "pk",
            "plan__name",
            "ship_to__street",
            "ship_to__city",
            "ship_to__postal_code",
            "ship_to__country",
        )
    }
    events = []
    for number, group in orders:
        program, ship_to = subscriptions[group[0].subscription_id]
        events.append(
            NotificationEvent(
                NotificationKind.CHILD_ORDER_CREATED,
                f"child_order_created:order:{number}",
                group[0].customer_id,
                {
                    "child_order": number,
                    "program": program or "",
                    "ship_date": min(shipment.ship_date for shipment in group).isoformat(),
                    "amount": str(sum((shipment.amount for shipment in group), ZERO)),
                    "currency": group[0].currency,
                    "ship_to": ship_to,
                    # What the amount is made of, as the receipt shows it.
                    "subtotal": str(sum((shipment.subtotal for shipment in group), ZERO)),
                    "delivery": str(sum((shipment.delivery_amount for shipment in group), ZERO)),
                    "tax": str(sum((shipment.tax_amount for shipment in group), ZERO)),
                    "prices_include_tax": "yes" if group[0].prices_include_tax else "",
                },
            )
        )
    notifications_add(events)


def _lock_paid_occurrences(
    occurrence_ids: list[int],
) -> tuple[dict[int, _PaidShipment], list[int]]:
    """Lock these shipments (SKIP LOCKED). Returns those that still wait for a child
    order, and the ids another transaction holds (not dropped: the chunk comes back for
    them, so a task that died holding them cannot make the run forget them)."""
    # The subscription's row with the shipment's (continuity.locks): a subscription an
    # agent is changing right now is left for the chunk's next try. Locked in one query
    # (the join is what lets FOR UPDATE OF name both rows), read in a second one.
    locked_ids = [
        occurrence.pk
        for occurrence in Occurrence.objects.select_related("subscription")
        .only("pk", "subscription__id")
        .select_for_update(skip_locked=True, of=("self", "subscription"))
        .filter(pk__in=occurrence_ids)
        .order_by("pk")
    ]
    rows = Occurrence.objects.filter(pk__in=locked_ids).values_list(
        "pk",
        "subscription_id",
        "subscription__customer_id",
        "subscription__parent_order_id",
        "subscription__ship_to_id",
        "currency",
        "amount",
        "ship_date",
        "subtotal",
        "delivery_amount",
        "delivery_tax_rate",
        "delivery_tax_amount",
        "tax_amount",
        "prices_include_tax",
        "tax_jurisdiction",
        "delivery_mode_id",
        "status",
        "child_order_id",
        "subscription__status",
    )
    waiting, seen = {}, set()
    for *shipment, child_order_id, subscription_status in rows:
        seen.add(shipment[0])
        if (
            shipment[-1] == OccurrenceStatus.PAID
            and child_order_id is None
            and subscription_status == SubscriptionStatus.ACTIVE
        ):
            waiting[shipment[0]] = _PaidShipment(*shipment)
    return waiting, [pk for pk in occurrence_ids if pk not in seen]


def _child_orders_write(
    groups: list[list[_PaidShipment]],
    *,
    run_date: datetime.date,
    actor: Actor,
    source_reference: str,
) -> list[tuple[str, list[_PaidShipment]]]:
    """Write one child order per group: the order, its lines (copies of the shipments'
    lines), the shipments' new status and an audit entry for each. Returns (order number,
    group) pairs. The caller holds the shipments' locks and the savepoint."""
    groups = [group for group in groups if group]
    if not groups:
        return []
    for group in groups:
        for shipment in group:
            if not OCCURRENCE_STATUS.can(shipment.status, OccurrenceStatus.CHILD_CREATED):
                raise Conflict(
                    f"Occurrence {shipment.pk} cannot go from "
                    f"{OccurrenceStatus(shipment.status).label} to "
                    f"{OccurrenceStatus.CHILD_CREATED.label}."
                )
    numbers = next_sales_order_numbers(len(groups))
    now = timezone.now()
    insert = (
        _child_orders_insert_postgresql
        if connection.vendor == "postgresql"
        else _child_orders_insert_orm
    )
    release = ContinuityParameters.load().child_order_release == ChildOrderRelease.AT_CREATION
    order_ids = insert(
        groups,
        numbers=numbers,
        run_date=run_date,
        now=now,
        source_reference=source_reference,
        release=release,
    )
    entries = []
    for order_id, number, group in zip(order_ids, numbers, groups, strict=True):
        customer_id = group[0].customer_id
        entries.append(
            audit_entry_build(
                actor=actor,
                action="order_created",
                obj=AuditSubject(SalesOrder, order_id),
                customer_id=customer_id,
                to_status=SalesOrderStatus.SUBMITTED,
                details={
                    "parent": group[0].parent_order_id,
                    "occurrences": [shipment.pk for shipment in group],
                },
            )
        )
        if release:
            # Released as it is written (the parameter says at creation): its trail
            # still shows both steps.
            entries.append(
                audit_entry_build(
                    actor=actor,
                    action="status_change",
                    obj=AuditSubject(SalesOrder, order_id),
                    customer_id=customer_id,
                    from_status=SalesOrderStatus.SUBMITTED,
                    to_status=SalesOrderStatus.RELEASED,
                )
            )
        for shipment in group:
            entries.append(
                audit_entry_build(
                    actor=actor,
                    action="status_change",
                    obj=AuditSubject(Occurrence, shipment.pk),
                    customer_id=customer_id,
                    from_status=shipment.status,
                    to_status=OccurrenceStatus.CHILD_CREATED,
                    details={"child_order": number},
                )
            )
    audit_entries_insert(entries)
    return list(zip(numbers, groups, strict=True))


def _created_status(release: bool) -> SalesOrderStatus:
    return SalesOrderStatus.RELEASED if release else SalesOrderStatus.SUBMITTED


def _group_price(group: list[_PaidShipment]) -> dict:
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


def _price_columns(groups: list[list[_PaidShipment]]) -> dict:
    """_group_price of every group, as the arrays the PostgreSQL insert unnests."""
    prices = [_group_price(group) for group in groups]
    return {
        "subtotals": [price["subtotal"] for price in prices],
        "deliveries": [price["delivery_amount"] for price in prices],
        "delivery_tax_rates": [price["delivery_tax_rate"] for price in prices],
        "delivery_taxes": [price["delivery_tax_amount"] for price in prices],
        "taxes": [price["tax_amount"] for price in prices],
        "include_tax": [price["prices_include_tax"] for price in prices],
        "jurisdictions": [price["tax_jurisdiction"] for price in prices],
        "delivery_modes": [price["delivery_mode_id"] for price in prices],
    }


def _child_orders_insert_postgresql(
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
    column, that unnest() turns back into rows; the lines are copied by the database.
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
                "status": _created_status(release).value,
                "released_at": now if release else None,
                "run_date": run_date,
                "now": now,
                "source_reference": source_reference,
                "numbers": numbers,
                "customers": [group[0].customer_id for group in groups],
                "parents": [group[0].parent_order_id for group in groups],
                "ship_tos": [group[0].ship_to_id for group in groups],
                "currencies": [group[0].currency for group in groups],
                "totals": [sum((shipment.amount for shipment in group), ZERO) for group in groups],
                "ship_dates": [min(shipment.ship_date for shipment in group) for group in groups],
                **_price_columns(groups),
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
            [shipment_ids, shipment_orders, positions],
        )
        cursor.execute(
            f"""
            UPDATE {occurrences_table} AS occurrence
            SET status = %s, child_order_id = shipment.order_id
            FROM unnest(%s::bigint[], %s::bigint[]) AS shipment(occurrence_id, order_id)
            WHERE occurrence.id = shipment.occurrence_id
            """,
            [OccurrenceStatus.CHILD_CREATED.value, shipment_ids, shipment_orders],
        )
    return order_ids


def _child_orders_insert_orm(
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
                status=_created_status(release),
                released_at=now if release else None,
                parent_id=group[0].parent_order_id,
                ship_to_id=group[0].ship_to_id,
                currency=group[0].currency,
                total=sum((shipment.amount for shipment in group), ZERO),
                amount_due=ZERO,  # paid by the shipments' own charges
                **_group_price(group),
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


def _subscriptions_complete(subscription_ids: set[int], *, actor: Actor) -> int:
    """Complete each finite subscription whose every shipment is settled (child order
    created, skipped or cancelled)."""
    if not subscription_ids:
        return 0
    # Finished: no shipment left outside SETTLED.
    unsettled = [status for status in OccurrenceStatus.values if status not in SETTLED]
    finished = Subscription.objects.filter(
        pk__in=subscription_ids, open_ended=False, status=SubscriptionStatus.ACTIVE
    ).exclude(occurrences__status__in=unsettled)
    completed = 0
    for subscription in finished.select_for_update(of=("self",)):
        subscription_set_status(
            subscription=subscription,
            to_status=SubscriptionStatus.COMPLETED,
            actor=actor,
            reason="last shipment has its child order",
        )
        completed += 1
    return completed
