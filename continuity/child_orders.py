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
    ChildOrderRelease,
    ContinuityParameters,
    Occurrence,
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
                    # The number: outbound events of bulk-written orders carry it.
                    "number": number,
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
                    details={"number": number},
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
