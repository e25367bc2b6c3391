"""Pause a subscription and resume it, by hand or when the pause's date comes."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from continuity.forms import ActionForm, PauseForm
from continuity.models import (
    AWAITING_CHARGE,
    CHANGEABLE,
    HoldReason,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.reason_codes import reason_code_audit_reason
from continuity.services import subscription_set_status
from continuity.subscription_actions.base import (
    Argument,
    Effect,
    Preview,
    SubscriptionAction,
    action_register,
)
from continuity.subscription_actions.shared import (
    close_previewed,
    is_running,
    status_set_ending_pause,
    subscription_for_action,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.limits import business_date_check
from core.roles import can_take_orders


def pause_preview(*, subscription_id: int, until: datetime.date | None = None) -> Preview:
    subscription = subscription_for_action(subscription_id)
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(_("Only an active subscription can be paused."))
    today = business_date()
    if until is not None:
        business_date_check(until, field="until")
    if until is not None and until <= today:
        raise ValidationError({"until": _("The pause must end after today.")})
    preview = Preview(PAUSE.name, subscription)
    waiting = subscription.occurrences.filter(
        status__in=AWAITING_CHARGE,
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
    reason = reason_code_audit_reason(PAUSE.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
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
    subscription = subscription_for_action(subscription_id)
    if not (
        subscription.status == SubscriptionStatus.ON_HOLD
        and subscription.hold_reason == HoldReason.AGENT
    ):
        raise Conflict(_("Only a paused subscription can be resumed."))
    # Today, never a batch run's date: a run dated ahead must not end a pause early and
    # skip the shipments before its date.
    today = business_date()
    preview = Preview(RESUME.name, subscription)
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
    reason = _("Pause ended") if automatic else reason_code_audit_reason(RESUME.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
        if automatic and not (
            subscription.paused_until is not None and subscription.paused_until <= business_date()
        ):
            # Read due before the lock, then resumed and paused again by an agent (a
            # later date, or none): this new pause is not over.
            raise Conflict(
                _("Subscription %(id)s is paused until later.") % {"id": subscription.pk}
            )
        preview = resume_preview(subscription_id=subscription_id)
        close_previewed(preview, "skip", OccurrenceStatus.SKIPPED, subscription, actor, reason)
        status_set_ending_pause(subscription, SubscriptionStatus.ACTIVE, actor, reason)
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


PAUSE = action_register(
    SubscriptionAction(
        name="pause",
        label=gettext_lazy("Pause"),
        preview=pause_preview,
        service=subscription_pause,
        form=PauseForm,
        arguments=(Argument("until", "until"),),
        permission=can_take_orders,
        offered=lambda subscription: subscription.status == SubscriptionStatus.ACTIVE,
    )
)

RESUME = action_register(
    SubscriptionAction(
        name="resume",
        label=gettext_lazy("Resume"),
        preview=resume_preview,
        service=subscription_resume,
        form=ActionForm,
        permission=can_take_orders,
        offered=lambda subscription: (
            is_running(subscription) and subscription.hold_reason == HoldReason.AGENT
        ),
    )
)
