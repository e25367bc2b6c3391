"""Skip a shipment, change a shipment's date."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from continuity.forms import RescheduleForm, SkipForm
from continuity.models import NOT_SENT, Occurrence, OccurrenceStatus
from continuity.reason_codes import reason_code_audit_reason
from continuity.refunds import occurrences_refund_due
from continuity.services import occurrence_close
from continuity.subscription_actions.base import (
    Argument,
    Effect,
    Preview,
    SubscriptionAction,
    action_register,
)
from continuity.subscription_actions.shared import (
    closing_effects,
    is_running,
    occurrence_of,
    require_open,
    require_running,
    subscription_for_action,
)
from core.actors import Actor
from core.dates import business_date
from core.formatting import day_text
from core.limits import business_date_check
from core.roles import can_take_orders
from core.services import audit_record


def skip_preview(*, subscription_id: int, occurrence_id: int | None = None) -> Preview:
    subscription = subscription_for_action(subscription_id)
    require_running(subscription)
    occurrence = occurrence_of(subscription, occurrence_id)
    require_open(occurrence, child_order_cancels=True)
    preview = Preview(SKIP.name, subscription)
    preview.effects += closing_effects(occurrence, "skip")
    return preview


def subscription_skip_shipment(
    *, subscription_id: int, actor: Actor, reason_code: str, occurrence_id: int | None = None
) -> Preview:
    """Skip one shipment (the next one by default): it is neither charged nor sent; one
    already paid is refunded."""
    reason = reason_code_audit_reason(SKIP.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
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
    subscription = subscription_for_action(subscription_id)
    require_running(subscription)
    occurrence = occurrence_of(subscription, occurrence_id)
    require_open(occurrence)
    if not isinstance(new_date, datetime.date):
        raise ValidationError({"new_date": _("Enter the new ship date.")})
    business_date_check(new_date, field="new_date")
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
                    "before": day_text(before.ship_date) if before else "—",
                    "after": day_text(after.ship_date) if after else "—",
                }
            }
        )
    preview = Preview(RESCHEDULE.name, subscription)
    preview.effects.append(Effect("move", occurrence, day=new_date))
    return preview


def subscription_reschedule_shipment(
    *, subscription_id: int, occurrence_id: int | None, new_date, actor: Actor, reason_code: str
) -> Preview:
    """Move one shipment to another day (charged and sent by its new date)."""
    reason = reason_code_audit_reason(RESCHEDULE.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
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


SKIP = action_register(
    SubscriptionAction(
        name="skip",
        label=gettext_lazy("Skip a shipment"),
        preview=skip_preview,
        service=subscription_skip_shipment,
        form=SkipForm,
        arguments=(Argument("occurrence", "occurrence_id"),),
        permission=can_take_orders,
        offered=is_running,
    )
)

RESCHEDULE = action_register(
    SubscriptionAction(
        name="reschedule",
        label=gettext_lazy("Change a shipment's date"),
        preview=reschedule_preview,
        service=subscription_reschedule_shipment,
        form=RescheduleForm,
        arguments=(
            Argument("occurrence", "occurrence_id"),
            Argument("new_date", "new_date", missing=gettext_lazy("Enter the new ship date.")),
        ),
        permission=can_take_orders,
        offered=is_running,
    )
)
