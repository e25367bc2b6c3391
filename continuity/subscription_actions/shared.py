"""Reads and refusals several families of actions share: the subscription as an action
sees it, whether it still runs, which shipment an action is about and whether that one
may still change."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from continuity.models import (
    CHANGEABLE,
    CHARGE_IN_FLIGHT,
    CHARGE_KEPT,
    ENDED_SUBSCRIPTIONS,
    NOT_SENT,
    Occurrence,
    OccurrenceStatus,
    Subscription,
)
from continuity.services import occurrence_close, subscription_set_status
from continuity.subscription_actions.base import Effect
from core.dates import business_date
from core.errors import Conflict
from core.formatting import day_text
from orders.models import SalesOrder, SalesOrderStatus


def subscription_for_action(subscription_id: int, *, lock: bool = False) -> Subscription:
    subscriptions = Subscription.objects.select_related(
        "customer", "parent_order", "card", "ship_to"
    )
    if lock:
        subscriptions = subscriptions.select_for_update(of=("self",))
    return subscriptions.get(pk=subscription_id)


def is_running(subscription: Subscription) -> bool:
    """Neither cancelled nor completed: what most actions ask of a subscription."""
    return subscription.status not in ENDED_SUBSCRIPTIONS


def require_running(subscription: Subscription) -> None:
    if not is_running(subscription):
        raise Conflict(
            _("Subscription %(subscription)s cannot change: its status is %(status)s.")
            % {"subscription": subscription, "status": subscription.get_status_display()}
        )


def refused_if_in_flight(occurrence: Occurrence) -> None:
    if occurrence.status in CHARGE_IN_FLIGHT:
        raise Conflict(
            _(
                "The charge of the shipment of %(date)s is being confirmed; try again once it "
                "is settled."
            )
            % {"date": day_text(occurrence.ship_date)}
        )


def child_order_released(occurrence: Occurrence) -> bool:
    """The shipment's child order is with the warehouse (or shipped): nothing of the
    shipment can change any more. A child order not released yet can still be cancelled
    with its shipment."""
    return (
        occurrence.status == OccurrenceStatus.CHILD_CREATED
        and occurrence.child_order.status != SalesOrderStatus.SUBMITTED
    )


def closing_effects(occurrence: Occurrence, what: str) -> list[Effect]:
    """What skipping or cancelling (`what`) a changeable shipment does: its child order
    cancelled first if it has one, then the shipment, then its refund if it was paid."""
    effects = []
    if occurrence.status == OccurrenceStatus.CHILD_CREATED:
        effects.append(Effect("cancel_child_order", occurrence, day=occurrence.ship_date))
    effects.append(Effect(what, occurrence, day=occurrence.ship_date))
    if refund := refund_effect(occurrence):
        effects.append(refund)
    return effects


def refund_effect(occurrence: Occurrence) -> Effect | None:
    if occurrence.status in CHARGE_KEPT:
        return Effect("refund", occurrence, amount=occurrence.amount)
    return None


def _next_open_occurrence(subscription: Subscription) -> Occurrence | None:
    return (
        subscription.occurrences.filter(
            Q(status__in=[*CHANGEABLE, *CHARGE_IN_FLIGHT])
            | Q(
                status=OccurrenceStatus.CHILD_CREATED,
                child_order__status=SalesOrderStatus.SUBMITTED,
            ),
            ship_date__gte=business_date(),
        )
        .order_by("ship_date", "sequence")
        .first()
    )


def occurrence_of(subscription: Subscription, occurrence_id: int | None) -> Occurrence:
    if occurrence_id is None:
        occurrence = _next_open_occurrence(subscription)
        if occurrence is None:
            raise Conflict(_("This subscription has no shipment left to change."))
        return occurrence
    occurrence = subscription.occurrences.filter(pk=occurrence_id).first()
    if occurrence is None:
        raise ValidationError({"occurrence": _("This shipment is not one of the subscription's.")})
    return occurrence


def require_open(occurrence: Occurrence, *, child_order_cancels: bool = False) -> None:
    """Refused unless the shipment may still change. With `child_order_cancels` (skip,
    cancel), a shipment whose child order is not released yet may: the child order is
    cancelled with it."""
    if child_order_released(occurrence):
        raise Conflict(
            _(
                "The shipment of %(date)s has its child order %(order)s, released to the "
                "warehouse: it can no longer change."
            )
            % {"date": day_text(occurrence.ship_date), "order": occurrence.child_order.number}
        )
    if occurrence.status == OccurrenceStatus.CHILD_CREATED and not child_order_cancels:
        raise Conflict(
            _(
                "The shipment of %(date)s has its child order %(order)s already; it can "
                "still be skipped, which cancels its child order, but not changed."
            )
            % {"date": day_text(occurrence.ship_date), "order": occurrence.child_order.number}
        )
    if occurrence.status in NOT_SENT:
        raise Conflict(
            _("The shipment of %(date)s cannot change: its status is %(status)s.")
            % {"date": day_text(occurrence.ship_date), "status": occurrence.get_status_display()}
        )
    refused_if_in_flight(occurrence)


def close_previewed(preview, what, to_status, subscription, actor, reason) -> None:
    """Skip or cancel every shipment the preview says so of."""
    closing = frozenset(effect.occurrence.pk for effect in preview.effects if effect.what == what)
    # The child orders this cancels, locked in id order as a batch release locks them, so
    # that two writers meeting on several child orders never deadlock. Before their
    # shipments' rows: safe, as every other writer of those shipments holds the
    # subscription's lock first (batch chunks skip what is locked).
    list(
        SalesOrder.objects.select_for_update()
        .filter(
            pk__in=[
                effect.occurrence.child_order_id
                for effect in preview.effects
                if effect.what == "cancel_child_order"
            ]
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for effect in preview.effects:
        if effect.what == what:
            occurrence_close(
                effect.occurrence.pk,
                to_status=to_status,
                customer_id=subscription.customer_id,
                actor=actor,
                reason=reason,
                closing_with=closing,
            )


def status_set_ending_pause(subscription, to_status, actor, reason) -> None:
    """Any status change but a pause ends the pause's date."""
    subscription.paused_until = None
    subscription.save(update_fields=["paused_until"])
    subscription_set_status(
        subscription=subscription, to_status=to_status, actor=actor, reason=reason
    )
