"""Cancel a subscription, and reactivate a cancelled one."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from continuity.forms import ActionForm
from continuity.models import NOT_SENT, Occurrence, OccurrenceStatus, SubscriptionStatus
from continuity.reason_codes import reason_code_audit_reason
from continuity.refunds import occurrences_refund_due, subscription_refunds_unsettled
from continuity.services import occurrence_move
from continuity.subscription_actions.base import (
    Effect,
    Preview,
    SubscriptionAction,
    action_register,
)
from continuity.subscription_actions.shared import (
    child_order_released,
    close_previewed,
    closing_effects,
    is_running,
    refused_if_in_flight,
    require_running,
    status_set_ending_pause,
    subscription_for_action,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.models import AuditEntry, NotificationKind
from core.notifications import NotificationEvent, notifications_add
from core.roles import can_take_orders
from orders.models import SalesOrderStatus


def cancel_preview(*, subscription_id: int) -> Preview:
    subscription = subscription_for_action(subscription_id)
    require_running(subscription)
    preview = Preview(CANCEL.name, subscription)
    for occurrence in (
        subscription.occurrences.exclude(status__in=NOT_SENT)
        .select_related("child_order")
        .order_by("ship_date")
    ):
        if child_order_released(occurrence):
            preview.effects.append(Effect("keep", occurrence, day=occurrence.ship_date))
            continue
        refused_if_in_flight(occurrence)
        preview.effects += closing_effects(occurrence, "cancel")
    return preview


def subscription_cancel(*, subscription_id: int, actor: Actor, reason_code: str) -> Preview:
    """Cancel: every shipment not with the warehouse is cancelled (with its child order
    when it has one not released yet), those paid are refunded; the child orders
    released to the warehouse are not touched."""
    reason = reason_code_audit_reason(CANCEL.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
        preview = cancel_preview(subscription_id=subscription_id)
        close_previewed(preview, "cancel", OccurrenceStatus.CANCELLED, subscription, actor, reason)
        status_set_ending_pause(subscription, SubscriptionStatus.CANCELLED, actor, reason)
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
    subscription = subscription_for_action(subscription_id)
    if subscription.status != SubscriptionStatus.CANCELLED:
        raise Conflict(_("Only a cancelled subscription can be reactivated."))
    if subscription.parent_order.status == SalesOrderStatus.COMPLETED:
        raise Conflict(
            _("Its sales order %(order)s is completed: sell the program again instead.")
            % {"order": subscription.parent_order.number}
        )
    if subscription_refunds_unsettled(subscription.pk):
        raise Conflict(_("A refund of this subscription is not settled yet; try again once it is."))
    preview = Preview(REACTIVATE.name, subscription)
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
    reason = reason_code_audit_reason(REACTIVATE.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
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
        status_set_ending_pause(subscription, SubscriptionStatus.ACTIVE, actor, reason)
    return preview


CANCEL = action_register(
    SubscriptionAction(
        name="cancel",
        label=pgettext_lazy("subscription action", "Cancel"),
        preview=cancel_preview,
        service=subscription_cancel,
        form=ActionForm,
        permission=can_take_orders,
        offered=is_running,
        danger=True,
    )
)

# Offered on hold too, as ever: the preview then says why it is refused (a subscription
# on hold is released by a supervisor, or given another card).
REACTIVATE = action_register(
    SubscriptionAction(
        name="reactivate",
        label=gettext_lazy("Reactivate"),
        preview=reactivate_preview,
        service=subscription_reactivate,
        form=ActionForm,
        permission=can_take_orders,
        offered=lambda subscription: (
            subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.ON_HOLD)
        ),
    )
)
