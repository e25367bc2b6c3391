"""Continuity's part in fulfilment (orders.fulfilment is the rest): what paid a child
order, releasing child orders some days before their ship date, cancelling a shipment
whose child order the warehouse does not have yet, and closing a parent order once its
program is over and every child order is invoiced or cancelled (the D365 close job)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef

from continuity.locks import subscriptions_lock
from continuity.models import (
    ENDED_SUBSCRIPTIONS,
    ChildOrderRelease,
    ContinuityParameters,
    Subscription,
)
from continuity.refunds import allocations_with_refunds
from core.actors import Actor
from core.services import status_change
from orders.fulfilment.services import sales_orders_release
from orders.models import (
    FULFILLED_OR_CANCELLED,
    SALES_ORDER_STATUS,
    SalesOrder,
    SalesOrderKind,
    SalesOrderStatus,
)
from payments.models import CAPTURED_STATUSES


def child_order_charges(order_id: int) -> list[tuple[int, Decimal]]:
    """What paid a child order: the allocations of its shipments' charges (payment id,
    amount less what approved refunds of that sale gave back for the shipment), oldest
    first; its invoices apply them (orders.fulfilment). A shipment charged, refunded
    (its subscription cancelled) and charged again after a reactivation keeps both
    allocations: the refunded sale paid nothing."""
    return [
        (payment_id, amount - refunded)
        for payment_id, amount, refunded in allocations_with_refunds()
        .filter(occurrence__child_order_id=order_id, payment__status__in=CAPTURED_STATUSES)
        .order_by("id")
        .values_list("payment_id", "amount", "refunded")
        if amount > refunded
    ]


def child_orders_due_for_release(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
):
    """Submitted child orders whose ship date is within the release lead days, when the
    parameters release them before the ship date (none otherwise)."""
    parameters = ContinuityParameters.load()
    if parameters.child_order_release != ChildOrderRelease.BEFORE_SHIP_DATE:
        return SalesOrder.objects.none()
    orders = SalesOrder.objects.filter(
        kind=SalesOrderKind.CONTINUITY_CHILD,
        status=SalesOrderStatus.SUBMITTED,
        requested_ship_date__lte=run_date + datetime.timedelta(days=parameters.release_lead_days),
    )
    if parent_order_id is not None:
        orders = orders.filter(parent_id=parent_order_id)
    if item_id is not None:
        orders = orders.filter(parent__subscriptions__item_id=item_id).distinct()
    return orders


def child_orders_release_due(
    *,
    run_date: datetime.date,
    actor: Actor,
    item_id: int | None = None,
    parent_order_id: int | None = None,
) -> int:
    """Release the child orders due (the child-order job, after its chunks). Returns how
    many were released."""
    ids = list(
        child_orders_due_for_release(
            run_date=run_date, item_id=item_id, parent_order_id=parent_order_id
        ).values_list("pk", flat=True)
    )
    released = 0
    for start in range(0, len(ids), 1000):
        released += len(sales_orders_release(order_ids=ids[start : start + 1000], actor=actor))
    return released


def _closable_parents():
    """Submitted parent orders whose every subscription has ended and every child order
    is invoiced, completed or cancelled."""
    running = Subscription.objects.filter(parent_order=OuterRef("pk")).exclude(
        status__in=ENDED_SUBSCRIPTIONS
    )
    open_child = SalesOrder.objects.filter(parent=OuterRef("pk")).exclude(
        status__in=FULFILLED_OR_CANCELLED
    )
    any_subscription = Subscription.objects.filter(parent_order=OuterRef("pk"))
    return SalesOrder.objects.filter(
        kind=SalesOrderKind.CONTINUITY_PARENT, status=SalesOrderStatus.SUBMITTED
    ).filter(Exists(any_subscription), ~Exists(running), ~Exists(open_child))


def parent_orders_close(
    *, actor: Actor, parent_order_ids: list[int] | None = None, item_id: int | None = None
) -> list[str]:
    """Complete every parent order that is done (or those of `parent_order_ids`, or of
    `item_id`): the child-order job after each run, and on demand (manage.py
    close_parent_orders). Returns the numbers completed.

    Each order in its own transaction, its subscriptions locked first (continuity.locks):
    a reactivation waits, then finds the order completed and is refused; the conditions
    are read again under the locks."""
    candidates = _closable_parents()
    if parent_order_ids is not None:
        candidates = candidates.filter(pk__in=parent_order_ids)
    if item_id is not None:
        candidates = candidates.filter(subscriptions__item_id=item_id).distinct()
    closed = []
    for order_id in candidates.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            subscriptions_lock(Subscription.objects.filter(parent_order_id=order_id))
            order = _closable_parents().select_for_update().filter(pk=order_id).first()
            if order is None:
                continue
            status_change(
                order,
                machine=SALES_ORDER_STATUS,
                to_status=SalesOrderStatus.COMPLETED,
                actor=actor,
                customer_id=order.customer_id,
                reason="program over; every child order invoiced or cancelled",
            )
            closed.append(order.number)
    return closed
