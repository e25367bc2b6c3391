"""What an agent does for a customer who calls about a subscription (SPEC 8): skip a
shipment, change a shipment's date, pause and resume, change the card, change the ship-to
address, cancel, reactivate.

Every action has a preview (`*_preview`: what will be charged, refunded or shipped, and
when; nothing written) and the action itself, which takes a reason code from the list
kept in the admin and writes its audit entries through the status services, in one
transaction. Money moves (refunds, the retry of a new card) happen after that commit,
with their keys committed first, as everywhere.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from continuity.dunning import card_change_check, subscription_change_card
from continuity.locks import subscriptions_lock
from continuity.models import (
    CHANGEABLE,
    CHARGE_IN_FLIGHT,
    NOT_SENT,
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    ReasonCode,
    Subscription,
    SubscriptionAction,
    SubscriptionStatus,
)
from continuity.refunds import occurrences_refund_due, subscription_refunds_unsettled
from continuity.services import (
    occurrence_close,
    occurrence_move,
    subscription_set_status,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.models import AuditEntry, NotificationKind
from core.money import ZERO
from core.notifications import NotificationEvent, notifications_add
from core.services import audit_record
from customers.models import Address, AddressKind
from orders.models import Item


@dataclass(frozen=True)
class Effect:
    """One line of a preview: what happens to one shipment (or to the subscription)."""

    what: str
    occurrence: Occurrence | None = None
    day: datetime.date | None = None
    amount: Decimal | None = None


@dataclass
class Preview:
    action: str
    subscription: Subscription
    effects: list[Effect] = field(default_factory=list)

    @property
    def refund_total(self) -> Decimal:
        return sum((effect.amount for effect in self.effects if effect.what == "refund"), ZERO)


# --- Reason codes ------------------------------------------------------------------------


def reason_codes_for(action: str):
    return [code for code in ReasonCode.objects.filter(active=True) if code.fits(action)]


def _reason(action: str, reason_code: str) -> str:
    """The audit reason for `reason_code`, refused unless it exists, is active and fits."""
    code = ReasonCode.objects.filter(code=(reason_code or "").strip(), active=True).first()
    if code is None or not code.fits(action):
        raise ValidationError({"reason_code": _("Choose a reason from the list.")})
    return f"{code.code}: {code.label_en}"[:255]


# --- Shared reads ------------------------------------------------------------------------


def _subscription(subscription_id: int, *, lock: bool = False) -> Subscription:
    subscriptions = Subscription.objects.select_related(
        "customer", "parent_order", "card", "ship_to"
    )
    if lock:
        subscriptions = subscriptions.select_for_update(of=("self",))
    return subscriptions.get(pk=subscription_id)


def _require_running(subscription: Subscription) -> None:
    if subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.COMPLETED):
        raise Conflict(
            _("Subscription %(subscription)s is %(status)s.")
            % {"subscription": subscription, "status": subscription.get_status_display().lower()}
        )


def _refused_if_in_flight(occurrence: Occurrence) -> None:
    if occurrence.status in CHARGE_IN_FLIGHT:
        raise Conflict(
            _(
                "The charge of the shipment of %(date)s is being confirmed; try again once it "
                "is settled."
            )
            % {"date": occurrence.ship_date.isoformat()}
        )


def _refund_effect(occurrence: Occurrence) -> Effect | None:
    if occurrence.status == OccurrenceStatus.PAID:
        return Effect("refund", occurrence, amount=occurrence.amount)
    return None


def _next_open_occurrence(subscription: Subscription) -> Occurrence | None:
    return (
        subscription.occurrences.filter(
            status__in=[*CHANGEABLE, *CHARGE_IN_FLIGHT],
            ship_date__gte=business_date(),
        )
        .order_by("ship_date", "sequence")
        .first()
    )


def _occurrence_of(subscription: Subscription, occurrence_id: int | None) -> Occurrence:
    if occurrence_id is None:
        occurrence = _next_open_occurrence(subscription)
        if occurrence is None:
            raise Conflict(_("This subscription has no shipment left to change."))
        return occurrence
    occurrence = subscription.occurrences.filter(pk=occurrence_id).first()
    if occurrence is None:
        raise ValidationError({"occurrence": _("This shipment is not one of the subscription's.")})
    return occurrence


def _require_open(occurrence: Occurrence) -> None:
    if occurrence.status == OccurrenceStatus.CHILD_CREATED:
        raise Conflict(
            _(
                "The shipment of %(date)s has its child order %(order)s already; it can no "
                "longer change."
            )
            % {"date": occurrence.ship_date.isoformat(), "order": occurrence.child_order.number}
        )
    if occurrence.status in NOT_SENT:
        raise Conflict(
            _("The shipment of %(date)s is %(status)s.")
            % {
                "date": occurrence.ship_date.isoformat(),
                "status": occurrence.get_status_display().lower(),
            }
        )
    _refused_if_in_flight(occurrence)


# --- Refunds owed ------------------------------------------------------------------------


# --- Skip --------------------------------------------------------------------------------


def skip_preview(*, subscription_id: int, occurrence_id: int | None = None) -> Preview:
    subscription = _subscription(subscription_id)
    _require_running(subscription)
    occurrence = _occurrence_of(subscription, occurrence_id)
    _require_open(occurrence)
    preview = Preview(SubscriptionAction.SKIP, subscription)
    preview.effects.append(Effect("skip", occurrence, day=occurrence.ship_date))
    if refund := _refund_effect(occurrence):
        preview.effects.append(refund)
    return preview


def subscription_skip_shipment(
    *, subscription_id: int, actor: Actor, reason_code: str, occurrence_id: int | None = None
) -> Preview:
    """Skip one shipment (the next one by default): it is neither charged nor sent; one
    already paid is refunded."""
    reason = _reason(SubscriptionAction.SKIP, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = skip_preview(subscription_id=subscription_id, occurrence_id=occurrence_id)
        occurrence_close(
            preview.effects[0].occurrence.pk,
            to_status=OccurrenceStatus.SKIPPED,
            customer_id=subscription.customer_id,
            actor=actor,
            reason=reason,
        )
    occurrences_refund_due(subscription_ids=[subscription_id], actor=actor)
    return preview


# --- Change a shipment's date ------------------------------------------------------------


def reschedule_preview(*, subscription_id: int, occurrence_id: int | None, new_date) -> Preview:
    subscription = _subscription(subscription_id)
    _require_running(subscription)
    occurrence = _occurrence_of(subscription, occurrence_id)
    _require_open(occurrence)
    if not isinstance(new_date, datetime.date):
        raise ValidationError({"new_date": _("Enter the new ship date.")})
    if new_date < business_date():
        raise ValidationError({"new_date": _("The new ship date cannot be in the past.")})
    # Dates never go backwards between shipments: a shipment cannot pass its neighbours.
    before = (
        subscription.occurrences.filter(sequence__lt=occurrence.sequence)
        .exclude(status__in=NOT_SENT)
        .order_by("-sequence")
        .first()
    )
    after = (
        subscription.occurrences.filter(sequence__gt=occurrence.sequence)
        .exclude(status__in=NOT_SENT)
        .order_by("sequence")
        .first()
    )
    if (before and new_date < before.ship_date) or (after and new_date > after.ship_date):
        raise ValidationError(
            {
                "new_date": _(
                    "The new date must stay between the shipments before and after "
                    "(%(before)s and %(after)s)."
                )
                % {
                    "before": before.ship_date.isoformat() if before else "—",
                    "after": after.ship_date.isoformat() if after else "—",
                }
            }
        )
    preview = Preview(SubscriptionAction.RESCHEDULE, subscription)
    preview.effects.append(Effect("move", occurrence, day=new_date))
    return preview


def subscription_reschedule_shipment(
    *, subscription_id: int, occurrence_id: int | None, new_date, actor: Actor, reason_code: str
) -> Preview:
    """Move one shipment to another day (charged and sent by its new date)."""
    reason = _reason(SubscriptionAction.RESCHEDULE, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = reschedule_preview(
            subscription_id=subscription_id, occurrence_id=occurrence_id, new_date=new_date
        )
        occurrence = Occurrence.objects.select_for_update().get(pk=preview.effects[0].occurrence.pk)
        before = occurrence.ship_date
        occurrence.ship_date = new_date
        occurrence.save(update_fields=["ship_date"])
        audit_record(
            actor=actor,
            action="occurrence_rescheduled",
            obj=occurrence,
            customer_id=subscription.customer_id,
            reason=reason,
            details={"before": before.isoformat(), "after": new_date.isoformat()},
        )
    return preview


# --- Pause and resume --------------------------------------------------------------------


def pause_preview(*, subscription_id: int, until: datetime.date | None = None) -> Preview:
    subscription = _subscription(subscription_id)
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(_("Only an active subscription can be paused."))
    today = business_date()
    if until is not None and until <= today:
        raise ValidationError({"until": _("The pause must end after today.")})
    preview = Preview(SubscriptionAction.PAUSE, subscription)
    waiting = subscription.occurrences.filter(
        status__in=[OccurrenceStatus.SCHEDULED, OccurrenceStatus.PAYMENT_DECLINED],
        ship_date__gte=today,
    ).order_by("ship_date")
    if until is not None:
        waiting = waiting.filter(ship_date__lt=until)
    for occurrence in waiting:
        # Shipments due while paused are not charged; those whose date has passed when
        # the subscription resumes are skipped.
        preview.effects.append(
            Effect("skip" if until else "wait", occurrence, day=occurrence.ship_date)
        )
    for occurrence in subscription.occurrences.filter(status=OccurrenceStatus.PAID).order_by(
        "ship_date"
    ):
        preview.effects.append(Effect("held", occurrence, day=occurrence.ship_date))
    return preview


def subscription_pause(
    *, subscription_id: int, actor: Actor, reason_code: str, until: datetime.date | None = None
) -> Preview:
    """Hold the subscription (no charges, no child orders) until a date or until resumed."""
    reason = _reason(SubscriptionAction.PAUSE, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = pause_preview(subscription_id=subscription_id, until=until)
        subscription.paused_until = until
        subscription.save(update_fields=["paused_until"])
        subscription_set_status(
            subscription=subscription,
            to_status=SubscriptionStatus.ON_HOLD,
            hold_reason=HoldReason.AGENT,
            actor=actor,
            reason=reason,
        )
    return preview


def resume_preview(*, subscription_id: int) -> Preview:
    subscription = _subscription(subscription_id)
    if not (
        subscription.status == SubscriptionStatus.ON_HOLD
        and subscription.hold_reason == HoldReason.AGENT
    ):
        raise Conflict(_("Only a paused subscription can be resumed."))
    # Today, never a batch run's date: a run dated ahead must not end a pause early and
    # skip the shipments before its date.
    today = business_date()
    preview = Preview(SubscriptionAction.RESUME, subscription)
    for occurrence in subscription.occurrences.filter(
        status__in=CHANGEABLE, child_order__isnull=True
    ).order_by("ship_date"):
        if occurrence.ship_date < today and occurrence.status != OccurrenceStatus.PAID:
            preview.effects.append(Effect("skip", occurrence, day=occurrence.ship_date))
        elif occurrence.status == OccurrenceStatus.PAID:
            preview.effects.append(Effect("ship", occurrence, day=max(occurrence.ship_date, today)))
        else:
            preview.effects.append(Effect("charge", occurrence, day=occurrence.ship_date))
    return preview


def subscription_resume(
    *,
    subscription_id: int,
    actor: Actor,
    reason_code: str = "",
    automatic: bool = False,
) -> Preview:
    """Resume a paused subscription. What is due is computed from today: shipments whose
    date passed during the pause (not paid) are skipped, paid ones ship now, the rest are
    charged and shipped on their dates."""
    reason = _("Pause ended") if automatic else _reason(SubscriptionAction.RESUME, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = resume_preview(subscription_id=subscription_id)
        _close_all(preview, "skip", OccurrenceStatus.SKIPPED, subscription, actor, reason)
        _set_status_ending_pause(subscription, SubscriptionStatus.ACTIVE, actor, reason)
    return preview


def subscriptions_resume_due(*, actor: Actor) -> int:
    """Resume every subscription whose pause ends today or earlier (the batch jobs call
    this first). Today, whatever the run's date."""
    resumed = 0
    for subscription_id in Subscription.objects.filter(
        status=SubscriptionStatus.ON_HOLD,
        hold_reason=HoldReason.AGENT,
        paused_until__isnull=False,
        paused_until__lte=business_date(),
    ).values_list("pk", flat=True):
        try:
            subscription_resume(subscription_id=subscription_id, actor=actor, automatic=True)
        except Conflict:
            continue  # resumed (or cancelled) by someone else meanwhile
        resumed += 1
    return resumed


# --- Card and ship-to --------------------------------------------------------------------


def change_card_preview(*, subscription_id: int, card_id: int) -> Preview:
    subscription = _subscription(subscription_id)
    _require_running(subscription)
    card_change_check(subscription, card_id)
    preview = Preview(SubscriptionAction.CHANGE_CARD, subscription)
    # The change retries declined shipments only (none is in flight: refused above).
    for occurrence in subscription.occurrences.filter(
        status=OccurrenceStatus.PAYMENT_DECLINED
    ).order_by("ship_date"):
        preview.effects.append(
            Effect("charge_now", occurrence, day=business_date(), amount=occurrence.amount)
        )
    nxt = (
        subscription.occurrences.filter(status=OccurrenceStatus.SCHEDULED)
        .order_by("ship_date")
        .first()
    )
    if nxt:
        preview.effects.append(Effect("charge", nxt, day=nxt.ship_date, amount=nxt.amount))
    return preview


def subscription_change_card_with_reason(
    *, subscription_id: int, card_id: int, actor: Actor, reason_code: str
):
    reason = _reason(SubscriptionAction.CHANGE_CARD, reason_code)
    change_card_preview(subscription_id=subscription_id, card_id=card_id)
    return subscription_change_card(
        subscription_id=subscription_id, card_id=card_id, actor=actor, reason=reason
    )


def change_ship_to_preview(*, subscription_id: int, address_id: int) -> Preview:
    subscription = _subscription(subscription_id)
    _require_running(subscription)
    address = Address.objects.filter(
        pk=address_id, customer_id=subscription.customer_id, kind=AddressKind.SHIPPING
    ).first()
    if address is None:
        raise ValidationError({"address": _("Choose one of the customer's shipping addresses.")})
    preview = Preview(SubscriptionAction.CHANGE_SHIP_TO, subscription)
    for occurrence in subscription.occurrences.filter(
        status__in=CHANGEABLE, child_order__isnull=True
    ).order_by("ship_date")[:3]:
        preview.effects.append(Effect("ship_to", occurrence, day=occurrence.ship_date))
    return preview


def subscription_change_ship_to(
    *, subscription_id: int, address_id: int, actor: Actor, reason_code: str
) -> Preview:
    """Ship the shipments that have no child order yet to another of the customer's
    shipping addresses (child orders already created keep theirs)."""
    reason = _reason(SubscriptionAction.CHANGE_SHIP_TO, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = change_ship_to_preview(subscription_id=subscription_id, address_id=address_id)
        before = subscription.ship_to.one_line if subscription.ship_to else ""
        subscription.ship_to_id = address_id
        subscription.save(update_fields=["ship_to"])
        audit_record(
            actor=actor,
            action="subscription_ship_to_changed",
            obj=subscription,
            customer_id=subscription.customer_id,
            reason=reason,
            details={"before": before, "after": Address.objects.get(pk=address_id).one_line},
        )
    return preview


def _close_all(preview, what, to_status, subscription, actor, reason) -> None:
    """Skip or cancel every shipment the preview says so of."""
    for effect in preview.effects:
        if effect.what == what:
            occurrence_close(
                effect.occurrence.pk,
                to_status=to_status,
                customer_id=subscription.customer_id,
                actor=actor,
                reason=reason,
            )


def _set_status_ending_pause(subscription, to_status, actor, reason) -> None:
    """Any status change but a pause ends the pause's date."""
    subscription.paused_until = None
    subscription.save(update_fields=["paused_until"])
    subscription_set_status(
        subscription=subscription, to_status=to_status, actor=actor, reason=reason
    )


# --- Cancel and reactivate ---------------------------------------------------------------


def cancel_preview(*, subscription_id: int) -> Preview:
    subscription = _subscription(subscription_id)
    _require_running(subscription)
    preview = Preview(SubscriptionAction.CANCEL, subscription)
    for occurrence in subscription.occurrences.exclude(status__in=NOT_SENT).order_by("ship_date"):
        if occurrence.status == OccurrenceStatus.CHILD_CREATED:
            preview.effects.append(Effect("keep", occurrence, day=occurrence.ship_date))
            continue
        _refused_if_in_flight(occurrence)
        preview.effects.append(Effect("cancel", occurrence, day=occurrence.ship_date))
        if refund := _refund_effect(occurrence):
            preview.effects.append(refund)
    return preview


def subscription_cancel(*, subscription_id: int, actor: Actor, reason_code: str) -> Preview:
    """Cancel: every shipment not yet ordered is cancelled, those paid are refunded; the
    child orders already created are not touched."""
    reason = _reason(SubscriptionAction.CANCEL, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = cancel_preview(subscription_id=subscription_id)
        _close_all(preview, "cancel", OccurrenceStatus.CANCELLED, subscription, actor, reason)
        _set_status_ending_pause(subscription, SubscriptionStatus.CANCELLED, actor, reason)
        entry_id = (
            AuditEntry.objects.filter(
                object_type=subscription._meta.label_lower,
                object_id=str(subscription.pk),
                to_status=SubscriptionStatus.CANCELLED,
            )
            .latest("id")
            .pk
        )
        notifications_add(
            [
                NotificationEvent(
                    NotificationKind.SUBSCRIPTION_CANCELLED,
                    f"subscription_cancelled:audit:{entry_id}",
                    subscription.customer_id,
                    {
                        "program": subscription.plan.get("name", ""),
                        "order": subscription.parent_order.number,
                        "refunded": str(preview.refund_total) if preview.refund_total else "",
                        "currency": subscription.currency,
                        "shipped": any(e.what == "keep" for e in preview.effects),
                    },
                )
            ]
        )
    occurrences_refund_due(subscription_ids=[subscription_id], actor=actor)
    return preview


def reactivate_preview(*, subscription_id: int) -> Preview:
    """A cancelled subscription's future shipments, scheduled (and charged) again. A
    subscription on hold is not reactivated: a supervisor releases its hold, or the card
    is changed."""
    subscription = _subscription(subscription_id)
    if subscription.status != SubscriptionStatus.CANCELLED:
        raise Conflict(_("Only a cancelled subscription can be reactivated."))
    if subscription_refunds_unsettled(subscription.pk):
        raise Conflict(_("A refund of this subscription is not settled yet; try again once it is."))
    preview = Preview(SubscriptionAction.REACTIVATE, subscription)
    for occurrence in subscription.occurrences.filter(
        status=OccurrenceStatus.CANCELLED, ship_date__gte=business_date()
    ).order_by("ship_date"):
        preview.effects.append(
            Effect("charge", occurrence, day=occurrence.ship_date, amount=occurrence.amount)
        )
    return preview


def subscription_reactivate(*, subscription_id: int, actor: Actor, reason_code: str) -> Preview:
    """Back to active: a cancelled subscription's future shipments are scheduled again,
    and charged again when due (what they were charged before was refunded: their
    allocations keep the record)."""
    reason = _reason(SubscriptionAction.REACTIVATE, reason_code)
    with transaction.atomic():
        subscription = _subscription(subscription_id, lock=True)
        preview = reactivate_preview(subscription_id=subscription_id)
        for effect in preview.effects:
            occurrence = Occurrence.objects.select_for_update().get(pk=effect.occurrence.pk)
            occurrence.payment = None
            occurrence.payment_attempts = 0
            occurrence.next_payment_attempt_on = None
            occurrence.decline_reason = ""
            occurrence_move(
                occurrence,
                to_status=OccurrenceStatus.SCHEDULED,
                actor=actor,
                customer_id=subscription.customer_id,
                reason=reason,
                update_fields=(
                    "payment",
                    "payment_attempts",
                    "next_payment_attempt_on",
                    "decline_reason",
                ),
            )
        _set_status_ending_pause(subscription, SubscriptionStatus.ACTIVE, actor, reason)
    return preview


# --- Program changes applied by an administrator -----------------------------------------


@dataclass(frozen=True)
class ShipmentChange:
    occurrence: Occurrence
    ship_date_after: datetime.date
    items_before: tuple[str, ...]
    items_after: tuple[str, ...]


def _future_shipments(subscription_ids):
    return (
        Occurrence.objects.filter(
            subscription_id__in=subscription_ids,
            subscription__status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.ON_HOLD],
            status=OccurrenceStatus.SCHEDULED,
            ship_date__gte=business_date(),
        )
        .select_related("subscription__customer", "subscription__parent_order")
        .prefetch_related("lines__item")
        .order_by("subscription_id", "sequence")
    )


def future_shipments_change_preview(
    *,
    subscription_ids: list[int],
    substitute_item_id: int | None = None,
    replacement_item_id: int | None = None,
    shift_days: int = 0,
) -> list[ShipmentChange]:
    """What changing these subscriptions' future shipments would do: shipments not yet
    charged, from today on (paid and shipped ones are left as sold)."""
    if (substitute_item_id is None) != (replacement_item_id is None):
        raise ValidationError(
            {"replacement_item": _("Choose both the item to replace and its replacement.")}
        )
    if substitute_item_id is None and not shift_days:
        raise ValidationError(_("Choose an item to replace or a number of days to shift."))
    today = business_date()
    shift = datetime.timedelta(days=shift_days)
    changes = []
    for occurrence in _future_shipments(subscription_ids):
        after = occurrence.ship_date + shift
        if after < today:
            raise ValidationError(
                {
                    "shift_days": _("The shipment of %(date)s would move into the past.")
                    % {"date": occurrence.ship_date.isoformat()}
                }
            )
        before_items = tuple(line.item.item_number for line in occurrence.lines.all())
        after_items = before_items
        if substitute_item_id is not None:
            substitute = {line.item_id for line in occurrence.lines.all()}
            if substitute_item_id in substitute:
                replacement = Item.objects.get(pk=replacement_item_id).item_number
                after_items = tuple(
                    replacement if line.item_id == substitute_item_id else line.item.item_number
                    for line in occurrence.lines.all()
                )
        if after_items != before_items or after != occurrence.ship_date:
            changes.append(ShipmentChange(occurrence, after, before_items, after_items))
    return changes


def future_shipments_change(
    *,
    subscription_ids: list[int],
    actor: Actor,
    reason: str,
    substitute_item_id: int | None = None,
    replacement_item_id: int | None = None,
    shift_days: int = 0,
) -> list[ShipmentChange]:
    """Apply a program change to chosen subscriptions' future shipments: substitute an
    item (at the price sold) and/or shift the dates. Open-ended subscriptions carry the
    change into the shipments planned later (their plan and their schedule shift)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Enter the reason for this change.")})
    with transaction.atomic():
        subscriptions_lock(subscription_ids)
        changes = future_shipments_change_preview(
            subscription_ids=subscription_ids,
            substitute_item_id=substitute_item_id,
            replacement_item_id=replacement_item_id,
            shift_days=shift_days,
        )
        for change in changes:
            occurrence = change.occurrence
            before = occurrence.ship_date
            if change.ship_date_after != before:
                occurrence.ship_date = change.ship_date_after
                occurrence.save(update_fields=["ship_date"])
            if change.items_after != change.items_before:
                occurrence.lines.filter(item_id=substitute_item_id).update(
                    item_id=replacement_item_id
                )
            audit_record(
                actor=actor,
                action="occurrence_program_change",
                obj=occurrence,
                customer_id=occurrence.subscription.customer_id,
                reason=reason[:255],
                details={
                    "ship_date": [before.isoformat(), change.ship_date_after.isoformat()],
                    "items": [list(change.items_before), list(change.items_after)],
                },
            )
        for subscription in Subscription.objects.filter(pk__in=subscription_ids, open_ended=True):
            fields = []
            if shift_days:
                subscription.schedule_shift_days += shift_days
                fields.append("schedule_shift_days")
            if substitute_item_id is not None:
                subscription.plan = _plan_with_item_replaced(
                    subscription.plan, substitute_item_id, replacement_item_id
                )
                fields.append("plan")
            if fields:
                subscription.save(update_fields=fields)
    return changes


def _plan_with_item_replaced(plan: dict, substitute_item_id: int, replacement_item_id: int):
    replacement = Item.objects.get(pk=replacement_item_id)
    for event in plan.get("events", []):
        for line in event.get("lines", []):
            if line["item_id"] == substitute_item_id:
                line.update(
                    item_id=replacement.pk,
                    item_number=replacement.item_number,
                    item_name=replacement.name,
                )
    return plan


# Each action's preview and service, for the pages and the API alike.
SERVICES = {
    SubscriptionAction.SKIP: (skip_preview, subscription_skip_shipment),
    SubscriptionAction.RESCHEDULE: (reschedule_preview, subscription_reschedule_shipment),
    SubscriptionAction.PAUSE: (pause_preview, subscription_pause),
    SubscriptionAction.RESUME: (resume_preview, subscription_resume),
    SubscriptionAction.CHANGE_CARD: (change_card_preview, subscription_change_card_with_reason),
    SubscriptionAction.CHANGE_SHIP_TO: (change_ship_to_preview, subscription_change_ship_to),
    SubscriptionAction.CANCEL: (cancel_preview, subscription_cancel),
    SubscriptionAction.REACTIVATE: (reactivate_preview, subscription_reactivate),
}
