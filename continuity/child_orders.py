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

from continuity.child_order_rows import (
    child_orders_insert_orm,
    child_orders_insert_postgresql,
)
from continuity.models import (
    OCCURRENCE_STATUS,
    SETTLED,
    SUBSCRIPTION_STATUS,
    ChildOrderRelease,
    ContinuityParameters,
    Occurrence,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from core.actors import Actor
from core.errors import Conflict
from core.models import NotificationKind
from core.money import ZERO
from core.notifications import NotificationEvent, notifications_add
from core.services import AuditRows, audit_rows_insert
from core.sql_arrays import array_literal
from customers.models import Address
from orders.models import SalesOrder, SalesOrderStatus
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
        locked, locked_elsewhere, notices = _lock_paid_occurrences(
            [pk for group in groups for pk in group]
        )
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
        _child_orders_notify(orders, notices)
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


def _child_orders_notify(
    orders: list[tuple[str, list[_PaidShipment]]], notices: dict[int, tuple[str, str]]
) -> None:
    """One "shipment ordered" email per child order (inside the chunk's transaction).
    `notices`: each subscription's program name and ship-to address, read with the
    shipments (_lock_paid_occurrences)."""
    if not orders:
        return
    events = []
    for number, group in orders:
        program, ship_to = notices[group[0].subscription_id]
        events.append(
            NotificationEvent(
                NotificationKind.CHILD_ORDER_CREATED,
                f"child_order_created:order:{number}",
                group[0].customer_id,
                {
                    "child_order": number,
                    "program": program,
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


# What a child order copies from its shipment and subscription (_PaidShipment's fields,
# in order), then what decides whether it still waits, then what its email shows.
_PAID_SHIPMENT_COLUMNS = """
    occurrence.id, occurrence.subscription_id, subscription.customer_id,
    subscription.parent_order_id, subscription.ship_to_id, occurrence.currency,
    occurrence.amount, occurrence.ship_date, occurrence.subtotal, occurrence.delivery_amount,
    occurrence.delivery_tax_rate, occurrence.delivery_tax_amount, occurrence.tax_amount,
    occurrence.prices_include_tax, occurrence.tax_jurisdiction, occurrence.delivery_mode_id,
    occurrence.status,
    occurrence.child_order_id, subscription.status,
    subscription.plan ->> 'name', ship_to.street, ship_to.city, ship_to.postal_code,
    ship_to.country
"""
_SHIPMENT_FIELDS = len(_PaidShipment._fields)


def _paid_shipment_rows(occurrence_ids: list[int]) -> list[tuple]:
    """The shipments' rows (_PAID_SHIPMENT_COLUMNS), each locked with its subscription's
    row (continuity.locks), those another transaction holds left out (SKIP LOCKED).

    One statement on PostgreSQL, the lock and the read together: through the ORM it
    took two (only a join lets FOR UPDATE OF name both rows, and values, not model
    instances, are what a chunk of hundreds can afford), and a third for the emails."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT {_PAID_SHIPMENT_COLUMNS}
                FROM {Occurrence._meta.db_table} AS occurrence
                JOIN {Subscription._meta.db_table} AS subscription
                    ON subscription.id = occurrence.subscription_id
                LEFT JOIN {Address._meta.db_table} AS ship_to
                    ON ship_to.id = subscription.ship_to_id
                WHERE occurrence.id = ANY(%s::bigint[])
                ORDER BY occurrence.id
                FOR UPDATE OF occurrence, subscription SKIP LOCKED
                """,
                [array_literal(occurrence_ids)],
            )
            return cursor.fetchall()
    # SQLite (make run) writes one transaction at a time: no row to lock.
    return list(
        Occurrence.objects.filter(pk__in=occurrence_ids)
        .order_by("pk")
        .values_list(
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
            "subscription__plan__name",
            "subscription__ship_to__street",
            "subscription__ship_to__city",
            "subscription__ship_to__postal_code",
            "subscription__ship_to__country",
        )
    )


def _lock_paid_occurrences(
    occurrence_ids: list[int],
) -> tuple[dict[int, _PaidShipment], list[int], dict[int, tuple[str, str]]]:
    """Lock these shipments (SKIP LOCKED). Returns those that still wait for a child
    order; the ids another transaction holds (not dropped: the chunk comes back for
    them, so a task that died holding them cannot make the run forget them); and each
    subscription's program name and ship-to address, for the emails."""
    waiting, seen, notices = {}, set(), {}
    for row in _paid_shipment_rows(occurrence_ids):
        shipment = _PaidShipment(*row[:_SHIPMENT_FIELDS])
        child_order_id, subscription_status, program, *address = row[_SHIPMENT_FIELDS:]
        seen.add(shipment.pk)
        if (
            shipment.status == OccurrenceStatus.PAID
            and child_order_id is None
            and subscription_status == SubscriptionStatus.ACTIVE
        ):
            waiting[shipment.pk] = shipment
            notices[shipment.subscription_id] = (
                program or "",
                ", ".join(part for part in address if part),
            )
    return waiting, [pk for pk in occurrence_ids if pk not in seen], notices


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
        child_orders_insert_postgresql
        if connection.vendor == "postgresql"
        else child_orders_insert_orm
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
    rows = AuditRows(actor=actor, at=now)
    order_type, occurrence_type = SalesOrder._meta.label_lower, Occurrence._meta.label_lower
    submitted, released = SalesOrderStatus.SUBMITTED.value, SalesOrderStatus.RELEASED.value
    child_created = OccurrenceStatus.CHILD_CREATED.value
    for order_id, number, group in zip(order_ids, numbers, groups, strict=True):
        customer_id = group[0].customer_id
        # The number: outbound events of bulk-written orders carry it.
        rows.add(
            "order_created",
            order_type,
            order_id,
            customer_id,
            to_status=submitted,
            details={
                "number": number,
                "parent": group[0].parent_order_id,
                "occurrences": [shipment.pk for shipment in group],
            },
        )
        if release:
            # Released as it is written (the parameter says at creation): its trail
            # still shows both steps.
            rows.add(
                "status_change",
                order_type,
                order_id,
                customer_id,
                from_status=submitted,
                to_status=released,
                details={"number": number},
            )
        for shipment in group:
            rows.add(
                "status_change",
                occurrence_type,
                shipment.pk,
                customer_id,
                from_status=shipment.status,
                to_status=child_created,
                details={"child_order": number},
            )
    audit_rows_insert(rows)
    if connection.vendor == "postgresql":
        # The foreign keys of the rows just written (Django declares them DEFERRABLE
        # INITIALLY DEFERRED) checked now rather than at COMMIT: a broken reference
        # fails inside the caller's savepoint, where the chunk's groups are retried one
        # by one, instead of failing the whole chunk at its commit; and the checks (a
        # fifth of PostgreSQL's work here) are done before the batch run's row is
        # locked for its counts, so the other process waits only for the WAL's flush.
        connection.check_constraints()
    return list(zip(numbers, groups, strict=True))


def _subscriptions_complete(subscription_ids: set[int], *, actor: Actor) -> int:
    """Complete each finite subscription whose every shipment is settled (child order
    created, skipped or cancelled).

    In one statement and one audit insert, not subscription by subscription: a chunk of
    a prepaid program's catch-up run completes a subscription every few shipments, and
    one by one (a save, an entry and an event each) that cost more than the child orders
    themselves. The chunk already holds these rows' locks (each shipment was locked with
    its subscription); FOR UPDATE here only says so."""
    if not subscription_ids:
        return 0
    # Finished: no shipment left outside SETTLED.
    unsettled = [status for status in OccurrenceStatus.values if status not in SETTLED]
    finished = list(
        Subscription.objects.filter(
            pk__in=subscription_ids, open_ended=False, status=SubscriptionStatus.ACTIVE
        )
        .exclude(occurrences__status__in=unsettled)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "customer_id")
    )
    if not finished:
        return 0
    active, completed = SubscriptionStatus.ACTIVE, SubscriptionStatus.COMPLETED
    if not SUBSCRIPTION_STATUS.can(active, completed):
        raise Conflict(f"A subscription cannot go from {active.label} to {completed.label}.")
    Subscription.objects.filter(pk__in=[pk for pk, _customer in finished]).update(
        status=completed, hold_reason=""
    )
    rows = AuditRows(actor=actor, at=timezone.now(), reason="last shipment has its child order")
    for pk, customer_id in finished:
        rows.add(
            "status_change",
            Subscription._meta.label_lower,
            pk,
            customer_id,
            from_status=active,
            to_status=completed,
        )
    audit_rows_insert(rows)
    return len(finished)
