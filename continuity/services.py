"""A subscription's life: made at submit with its planned shipments, status changes
through the one transition service per model (with their audit rows), shipments moved or
closed, and open-ended subscriptions planned ahead. Charging is in continuity/charging,
refunds in continuity/refunds, child orders in continuity/child_orders."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import replace

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from continuity.models import (
    OCCURRENCE_STATUS,
    SUBSCRIPTION_STATUS,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    PaymentAllocation,
    Subscription,
    SubscriptionStatus,
)
from continuity.planning import (
    PlannedOccurrence,
    ProgramPlan,
    plan_occurrences,
    program_get_for_quote,
    program_quote,
)
from continuity.pricing import ShipmentPrice, occurrence_price_apply, shipments_price
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.services import (
    AuditSubject,
    audit_entries_insert,
    audit_entry_build,
    audit_record,
    status_change,
)
from orders.fulfilment.services import sales_order_cancel_before_release
from orders.models import SalesOrder, SalesOrderStatus
from orders.tax.selectors import tax_tables_read_once


def occurrences_create(
    *,
    subscription: Subscription,
    planned: Iterable[PlannedOccurrence],
    priced: dict[int, ShipmentPrice] | None = None,
    paid_by=None,
    paid_sequences: frozenset[int] = frozenset(),
    actor: Actor,
) -> list[Occurrence]:
    """Write planned shipments with their lines, prices copied as they are now, each
    priced with its delivery and tax (continuity.pricing).

    `priced`: the price of some shipments by sequence, as already charged (the shipments
    paid at submit); the others are priced here, for the subscription's ship-to. Shipments
    whose sequence is in paid_sequences are paid by the approved sale `paid_by` (the sale
    taken at submit), each with its allocation of that sale: its whole charge.
    """
    planned = list(planned)
    priced = dict(priced or {})
    planned_sequences = {shipment.sequence for shipment in planned}
    planned += [
        PlannedOccurrence(
            shipment.sequence, shipment.event_number, shipment.ship_date, shipment.goods
        )
        for sequence, shipment in sorted(priced.items())
        if sequence not in planned_sequences and shipment.goods and shipment.event_number
    ]
    missing = [shipment for shipment in planned if shipment.sequence not in priced]
    if missing:
        plan = ProgramPlan.from_json(subscription.plan)
        for shipment_price in shipments_price(
            plan=plan,
            shipments=missing,
            ship_to=subscription.ship_to,
            order_mode=subscription.parent_order.delivery_mode,
            currency=subscription.currency,
            # Every shipment of a subscription is priced on the basis it was sold with
            # (with or without tax), whatever its currency's basis is now.
            prices_include_tax=subscription.parent_order.prices_include_tax,
        ):
            priced[shipment_price.sequence] = shipment_price
    occurrences, lines = [], []
    for shipment in planned:
        # A shipment already charged is written with the goods its sale took, whatever
        # the program says now (an administrator may edit it while the payment service
        # answers): its lines, parts and allocation are then exactly what was charged.
        goods = priced[shipment.sequence].goods or shipment.lines
        occurrence = Occurrence(
            subscription=subscription,
            sequence=shipment.sequence,
            event_number=shipment.event_number,
            ship_date=shipment.ship_date,
            currency=subscription.currency,
            priced_ship_to_id=subscription.ship_to_id,
            status=(
                OccurrenceStatus.PAID
                if shipment.sequence in paid_sequences
                else OccurrenceStatus.SCHEDULED
            ),
            payment=paid_by if shipment.sequence in paid_sequences else None,
        )
        occurrence_lines = [
            OccurrenceLine(
                line_number=number,
                item_id=line.item_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for number, line in enumerate(goods, start=1)
        ]
        occurrence_price_apply(occurrence, occurrence_lines, priced[shipment.sequence].price)
        occurrences.append(occurrence)
        lines.append(occurrence_lines)
    occurrences = Occurrence.objects.bulk_create(occurrences)
    for occurrence, occurrence_lines in zip(occurrences, lines, strict=True):
        for line in occurrence_lines:
            line.occurrence = occurrence
    OccurrenceLine.objects.bulk_create([line for group in lines for line in group])
    if paid_by is not None:
        PaymentAllocation.objects.bulk_create(
            [
                PaymentAllocation(occurrence=occurrence, payment=paid_by, amount=occurrence.amount)
                for occurrence in occurrences
                if occurrence.sequence in paid_sequences and occurrence.amount > 0
            ]
        )
    # One entry per shipment written (scheduled, or paid with the order): each is an
    # outbound event of its own (core.outbox), in one statement.
    audit_entries_insert(
        [
            audit_entry_build(
                actor=actor,
                action="occurrence_created",
                obj=AuditSubject(Occurrence, occurrence.pk),
                customer_id=subscription.customer_id,
                to_status=occurrence.status,
                details={
                    "subscription": subscription.pk,
                    "sequence": occurrence.sequence,
                    "ship_date": occurrence.ship_date.isoformat(),
                    "amount": str(occurrence.amount),
                },
            )
            for occurrence in occurrences
        ]
    )
    return occurrences


# No savepoint: its one caller, submit, holds the transaction and undoes all of it on any
# error (two statements fewer a sale).
@transaction.atomic(savepoint=False)
def subscription_create(
    *, order, line, payment, order_date: datetime.date, actor: Actor
) -> Subscription:
    """The customer's copy of the program sold on `line`, made when the order is submitted.

    `payment` is the approved sale taken at submit: it pays the first shipment, or every
    shipment of a program billed up front.
    """
    program_id = line.item.continuity_program_id
    # The program as the order was priced and charged (kept on the line when the order was
    # checked for submit), not as it is now: an administrator may have edited it while
    # the payment service answered; the program itself is not read again. A line written
    # before programs were kept: as it is.
    if line.program_as_sold:
        plan = ProgramPlan.from_json(line.program_as_sold)
    else:
        plan = ProgramPlan.of_program(program_get_for_quote(program_id=program_id))
    start_date = line.continuity_start_date or order_date
    quote = program_quote(
        program=plan, start_date=start_date, quantity=line.quantity, horizon_from=order_date
    )
    subscription = Subscription.objects.create(
        customer_id=order.customer_id,
        parent_order=order,
        parent_line=line,
        program_id=program_id,
        item_id=line.item_id,
        quantity=line.quantity,
        start_date=start_date,
        first_shipment_date=quote.first_shipment_date,
        open_ended=quote.open_ended,
        plan=plan.to_json(),
        planned_through=quote.planned_through,
        payment_method_id=order.payment_method_id,
        card_id=order.payment_card_id,
        # The order's address as read with it (orders.services): its shipments are
        # priced for it below without reading it again.
        ship_to=order.ship_to,
        currency=order.currency,
    )
    # The paid shipments as the card was charged for them (orders.services keeps them on
    # the line when it checks the order for submit); the others are priced now.
    charged = {
        shipment.sequence: shipment
        for shipment in map(ShipmentPrice.from_json, line.paid_shipments or [])
    }
    if payment is not None and charged:
        # Exactly the shipments the sale paid for: never one it did not pay.
        paid = frozenset(charged)
    elif plan.bill_up_front:
        paid = frozenset(occurrence.sequence for occurrence in quote.occurrences)
    else:
        paid = frozenset({quote.occurrences[0].sequence})
    # Never refused here: the card is already charged. A paid shipment the quote does not
    # plan (the order date moved past midnight while the payment service answered) is
    # written from what was charged; the money audit reports any other difference.
    occurrences_create(
        subscription=subscription,
        planned=quote.occurrences,
        priced={sequence: charged[sequence] for sequence in paid if sequence in charged},
        paid_by=payment,
        paid_sequences=paid,
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="subscription_created",
        obj=subscription,
        customer_id=order.customer_id,
        to_status=subscription.status,
        details={
            "order": order.number,
            "program": plan.code,
            "occurrences": len(quote.occurrences),
            "paid_occurrences": len(paid),
        },
    )
    return subscription


def subscription_set_status(
    *,
    subscription: Subscription,
    to_status: str,
    actor: Actor,
    hold_reason: str = "",
    reason: str = "",
) -> Subscription:
    """The one way a subscription changes status (caller holds the transaction)."""
    subscription.hold_reason = hold_reason if to_status == SubscriptionStatus.ON_HOLD else ""
    status_change(
        subscription,
        machine=SUBSCRIPTION_STATUS,
        to_status=to_status,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=reason,
        details={"hold_reason": hold_reason} if hold_reason else None,
        update_fields=("hold_reason",),
    )
    return subscription


def occurrence_set_status(
    *,
    occurrence: Occurrence,
    to_status: str,
    actor: Actor,
    customer_id: int,
    reason: str = "",
    details: dict | None = None,
    update_fields: tuple[str, ...] = (),
) -> Occurrence:
    """The one way an occurrence changes status (caller holds the transaction)."""
    status_change(
        occurrence,
        machine=OCCURRENCE_STATUS,
        to_status=to_status,
        actor=actor,
        customer_id=customer_id,
        reason=reason,
        details=details,
        update_fields=update_fields,
    )
    return occurrence


def occurrence_move(
    occurrence: Occurrence,
    *,
    to_status: str,
    actor: Actor,
    customer_id: int,
    reason: str = "",
    details: dict | None = None,
    update_fields: tuple[str, ...] = (),
) -> None:
    """Save the occurrence's fields and move its status when it changes; a second decline
    of a declined shipment keeps its status but still leaves an audit entry."""
    if occurrence.status == to_status:
        if update_fields:
            occurrence.save(update_fields=list(update_fields))
        audit_record(
            actor=actor,
            action="occurrence_updated",
            obj=occurrence,
            customer_id=customer_id,
            from_status=to_status,
            to_status=to_status,
            reason=reason,
            details=details,
        )
        return
    occurrence_set_status(
        occurrence=occurrence,
        to_status=to_status,
        actor=actor,
        customer_id=customer_id,
        reason=reason,
        details=details,
        update_fields=update_fields,
    )


def occurrence_close(
    occurrence_id: int,
    *,
    to_status: str,
    customer_id: int,
    actor: Actor,
    reason: str,
    closing_with: frozenset[int] = frozenset(),
) -> Occurrence:
    """Skip or cancel one shipment (caller holds the transaction): locked, moved, and
    never tried again by dunning. One whose child order is not released yet is closed
    with it (the child order cancelled; `closing_with`: the other shipments the same
    action closes)."""
    occurrence = Occurrence.objects.select_for_update().get(pk=occurrence_id)
    occurrence.next_payment_attempt_on = None
    details = {}
    if occurrence.status == OccurrenceStatus.CHILD_CREATED:
        details["child_order_cancelled"] = _child_order_cancel(
            occurrence, actor, reason, closing_with
        )
        occurrence.child_order = None
    occurrence_move(
        occurrence,
        to_status=to_status,
        actor=actor,
        customer_id=customer_id,
        reason=reason,
        details=details,
        update_fields=("next_payment_attempt_on", "child_order"),
    )
    return occurrence


def _child_order_cancel(
    occurrence: Occurrence, actor: Actor, reason: str, closing_with: frozenset[int]
) -> str:
    """Cancel the child order of a shipment being skipped or cancelled, which only a
    child order not yet released allows (its row locked after the shipment's, the lock
    order of docs/money.md). A child order that ships several shipments (a program that
    consolidates) is cancelled with the first of them; the others follow in the same
    action (a cancelled subscription) or the action is refused. Returns its number."""
    order = SalesOrder.objects.select_for_update().get(pk=occurrence.child_order_id)
    if order.status == SalesOrderStatus.CANCELLED:
        return order.number
    others = list(
        Occurrence.objects.filter(child_order_id=order.pk)
        .exclude(pk=occurrence.pk)
        .values_list("pk", flat=True)
    )
    if not set(others) <= closing_with:
        raise Conflict(
            _(
                "Child order %(order)s also ships other shipments of this subscription; "
                "cancel the subscription to cancel it."
            )
            % {"order": order.number}
        )
    sales_order_cancel_before_release(order_id=order.pk, actor=actor, reason=reason)
    return order.number


def occurrences_due_again(*, subscription: Subscription, actor: Actor, reason: str) -> int:
    """Make the subscription's declined shipments due for a charge today, their attempts
    counted afresh (a hold released, a subscription reactivated)."""
    today = business_date()
    declined = list(
        subscription.occurrences.select_for_update().filter(
            status=OccurrenceStatus.PAYMENT_DECLINED
        )
    )
    for occurrence in declined:
        occurrence.payment_attempts = 0
        occurrence.next_payment_attempt_on = today
        occurrence_move(
            occurrence,
            to_status=occurrence.status,
            actor=actor,
            customer_id=subscription.customer_id,
            reason=reason,
            update_fields=("payment_attempts", "next_payment_attempt_on"),
        )
    return len(declined)


# --- Open-ended subscriptions: planning ahead ------------------------------------------


def subscription_materialise(
    *, subscription: Subscription, through: datetime.date, actor: Actor
) -> list[Occurrence]:
    """Plan the shipments of an open-ended subscription up to `through`, from the plan it
    was sold with. Idempotent: shipments that exist are left alone. The caller holds the
    subscription's row lock (or accepts that a concurrent run may collide on the unique
    sequence and roll back)."""
    if not subscription.open_ended or (
        subscription.planned_through and subscription.planned_through >= through
    ):
        return []
    plan = ProgramPlan.from_json(subscription.plan)
    last = subscription.occurrences.aggregate(last=Max("sequence"))["last"] or 0
    planned = [
        shipment
        for shipment in plan_occurrences(
            plan=plan,
            first_shipment=subscription.first_shipment_date,
            quantity=subscription.quantity,
            through=through,
        )
        if shipment.sequence > last
    ]
    if subscription.schedule_shift_days:
        shift = datetime.timedelta(days=subscription.schedule_shift_days)
        planned = [replace(shipment, ship_date=shipment.ship_date + shift) for shipment in planned]
    created = occurrences_create(subscription=subscription, planned=planned, actor=actor)
    subscription.planned_through = through
    subscription.save(update_fields=["planned_through"])
    if created:
        audit_record(
            actor=actor,
            action="subscription_planned",
            obj=subscription,
            customer_id=subscription.customer_id,
            details={"through": through.isoformat(), "occurrences": len(created)},
        )
    return created


def subscriptions_materialise(
    *, subscription_ids: Iterable[int], through: datetime.date, actor: Actor
) -> int:
    """Materialise many open-ended subscriptions, each under its own lock; subscriptions
    another run is planning right now are skipped (it plans them)."""
    created = 0
    # Each new shipment is priced with its tax: the tables are read once for the batch.
    with tax_tables_read_once():
        for subscription_id in subscription_ids:
            created += _subscription_materialise_locked(subscription_id, through, actor)
    return created


def _subscription_materialise_locked(
    subscription_id: int, through: datetime.date, actor: Actor
) -> int:
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(skip_locked=True)
            .filter(pk=subscription_id, status=SubscriptionStatus.ACTIVE)
            .first()
        )
        if subscription is None:
            return 0
        return len(
            subscription_materialise(subscription=subscription, through=through, actor=actor)
        )
