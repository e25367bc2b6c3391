from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction

from continuity.models import (
    OCCURRENCE_STATUS,
    SUBSCRIPTION_STATUS,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.selectors import PlannedOccurrence, program_get_for_quote, program_quote
from core.actors import Actor
from core.services import audit_record, status_change


def occurrences_create(
    *,
    subscription: Subscription,
    planned: Iterable[PlannedOccurrence],
    paid_by=None,
    paid_sequences: frozenset[int] = frozenset(),
) -> list[Occurrence]:
    """Write planned shipments with their lines, prices copied as they are now.

    Shipments whose sequence is in paid_sequences are paid by the payment `paid_by`.
    """
    planned = list(planned)
    occurrences = Occurrence.objects.bulk_create(
        [
            Occurrence(
                subscription=subscription,
                sequence=shipment.sequence,
                event_number=shipment.event_number,
                ship_date=shipment.ship_date,
                amount=shipment.amount,
                currency=subscription.currency,
                status=(
                    OccurrenceStatus.PAID
                    if shipment.sequence in paid_sequences
                    else OccurrenceStatus.SCHEDULED
                ),
                payment=paid_by if shipment.sequence in paid_sequences else None,
            )
            for shipment in planned
        ]
    )
    OccurrenceLine.objects.bulk_create(
        [
            OccurrenceLine(
                occurrence=occurrence,
                line_number=number,
                item_id=line.item_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for occurrence, shipment in zip(occurrences, planned, strict=True)
            for number, line in enumerate(shipment.lines, start=1)
        ]
    )
    return occurrences


@transaction.atomic
def subscription_create(
    *, order, line, payment, order_date: datetime.date, actor: Actor
) -> Subscription:
    """The customer's copy of the program sold on `line`, made when the order is submitted.

    `payment` is the approved sale taken at submit: it pays the first shipment, or every
    shipment of a program billed up front.
    """
    program = program_get_for_quote(program_id=line.item.continuity_program_id)
    start_date = line.continuity_start_date or order_date
    quote = program_quote(
        program=program, start_date=start_date, quantity=line.quantity, horizon_from=order_date
    )
    subscription = Subscription.objects.create(
        customer_id=order.customer_id,
        parent_order=order,
        parent_line=line,
        program=program,
        item_id=line.item_id,
        quantity=line.quantity,
        start_date=start_date,
        first_shipment_date=quote.first_shipment_date,
        open_ended=quote.open_ended,
        planned_through=quote.planned_through,
        payment_method_id=order.payment_method_id,
        card_id=order.payment_card_id,
        ship_to_id=order.ship_to_id,
        currency=order.currency,
    )
    if program.bill_up_front:
        paid = frozenset(occurrence.sequence for occurrence in quote.occurrences)
    else:
        paid = frozenset({quote.occurrences[0].sequence})
    occurrences_create(
        subscription=subscription, planned=quote.occurrences, paid_by=payment, paid_sequences=paid
    )
    audit_record(
        actor=actor,
        action="subscription_created",
        obj=subscription,
        customer_id=order.customer_id,
        to_status=subscription.status,
        details={
            "order": order.number,
            "program": program.code,
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
        update_fields=update_fields,
    )
    return occurrence
