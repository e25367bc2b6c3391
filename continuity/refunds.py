"""Refunds of shipments that were paid and will not be sent (skipped or cancelled).

What a shipment is owed back is computed per sale: for each sale that paid it (its
allocations: the sale taken at submit, a batch charge, a charge made again after a
reactivation), the allocated amount less the approved refunds of that sale for that
shipment. A sale refunds a shipment once (a database constraint), so two refund passes
that meet (two payment runs, an agent's skip during a run) make one refund.

The shipment's status (skipped or cancelled) with its allocation is the durable record
that a refund is owed: a process that dies before refunding leaves it, and the next pass
(the action's own, the payment job's, reconcile) refunds it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DecimalField, Exists, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from continuity.locks import subscriptions_lock
from continuity.models import NOT_SENT, Occurrence, PaymentAllocation
from core.actors import Actor
from core.errors import Conflict
from core.money import ZERO
from payments.models import (
    CAPTURED_STATUSES,
    UNANSWERED_STATUSES,
    Payment,
    PaymentOperation,
    PaymentStatus,
)
from payments.services import (
    PaymentDeclined,
    PaymentOutcomeUnknown,
    refund_prepare,
    reversal_outcome,
    reversal_record_answer,
    reversal_send,
)


def _refunds_of_allocation(statuses):
    return Payment.objects.filter(
        original_id=OuterRef("payment_id"),
        occurrence_id=OuterRef("occurrence_id"),
        operation=PaymentOperation.REFUND,
        status__in=statuses,
    )


def allocations_with_refunds() -> QuerySet[PaymentAllocation]:
    """Every allocation with `refunded`: what approved refunds of its sale gave back for
    its shipment, and `refund_in_flight`: whether a refund of it awaits its answer."""
    refunded = (
        _refunds_of_allocation([PaymentStatus.APPROVED])
        .order_by()
        .values("original_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=12, decimal_places=2)
    return PaymentAllocation.objects.annotate(
        refunded=Coalesce(Subquery(refunded, output_field=money), Value(ZERO, output_field=money)),
        refund_in_flight=Exists(_refunds_of_allocation(UNANSWERED_STATUSES)),
    )


def refunds_owed(*, subscription_ids=None) -> QuerySet[PaymentAllocation]:
    """Allocations of captured sales to shipments that will not be sent, not wholly
    refunded yet (those with a refund in flight included), oldest shipment first."""
    owed = allocations_with_refunds().filter(
        occurrence__status__in=NOT_SENT,
        payment__status__in=CAPTURED_STATUSES,
        amount__gt=F("refunded"),
    )
    if subscription_ids is not None:
        owed = owed.filter(occurrence__subscription_id__in=subscription_ids)
    return owed.order_by("occurrence_id", "payment_id")


def subscription_refunds_unsettled(subscription_id: int) -> bool:
    """A refund of this subscription's shipments is owed or in flight."""
    return (
        refunds_owed(subscription_ids=[subscription_id]).exists()
        or Payment.objects.filter(
            occurrence__subscription_id=subscription_id,
            operation=PaymentOperation.REFUND,
            status__in=UNANSWERED_STATUSES,
        ).exists()
    )


def allocation_refund(*, allocation_id: int, actor: Actor, reason: str) -> Payment | None:
    """Refund what is owed of one allocation: its sale's share of a shipment that will
    not be sent. None when nothing is owed (any more). A refund in flight for it is
    looked up, and sent again under its key only if the gateway never saw it.

    Raises what payment_refund raises: ReversalOutcomeUnknown, ReversalDeclined, Conflict
    (another refund of the sale is in flight), ValidationError (more than the sale has
    left: a refund made by hand took it).
    """
    allocation = PaymentAllocation.objects.select_related("occurrence").get(pk=allocation_id)
    with transaction.atomic():
        # continuity.locks: the subscription, the shipment, then (in refund_prepare)
        # the sale. Under them nobody else decides a refund of this shipment.
        subscriptions_lock([allocation.occurrence.subscription_id])
        occurrence = Occurrence.objects.select_for_update().get(pk=allocation.occurrence_id)
        if occurrence.status not in NOT_SENT:
            return None
        owed = allocations_with_refunds().get(pk=allocation_id)
        if owed.amount <= owed.refunded:
            return None
        refund, fresh = refund_prepare(
            sale_id=allocation.payment_id,
            amount=owed.amount - owed.refunded,
            actor=actor,
            reason=reason,
            occurrence_id=occurrence.pk,
        )
    answer = reversal_send(refund, fresh=fresh)
    refund = reversal_record_answer(
        reversal_id=refund.pk, result=answer, actor=actor, reason=reason
    )
    return reversal_outcome(refund)


def occurrences_refund_due(*, subscription_ids=None, actor: Actor) -> list[tuple[int, str]]:
    """Refund every shipment owed a refund (of these subscriptions; None: all). Returns
    (occurrence id, outcome) pairs: refunded, unknown, or refused with the reason."""
    outcomes = []
    for allocation in refunds_owed(subscription_ids=subscription_ids).select_related("occurrence"):
        reason = _("Shipment %(sequence)s not sent") % {"sequence": allocation.occurrence.sequence}
        try:
            refund = allocation_refund(allocation_id=allocation.pk, actor=actor, reason=reason)
            outcomes.append((allocation.occurrence_id, "refunded" if refund else "settled"))
        except PaymentOutcomeUnknown:
            outcomes.append((allocation.occurrence_id, "unknown"))
        except (PaymentDeclined, Conflict, ValidationError) as error:
            outcomes.append((allocation.occurrence_id, f"refused: {error}"))
    return outcomes
