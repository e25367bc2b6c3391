"""Program changes an administrator applies to chosen subscriptions' future shipments
from the admin: substitute an item, shift the dates. Not one subscription's action but
a change to many, previewed first like the agents' actions."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from continuity.locks import subscriptions_lock
from continuity.models import (
    RUNNING_SUBSCRIPTIONS,
    Occurrence,
    OccurrenceStatus,
    Subscription,
)
from core.actors import Actor
from core.dates import business_date
from core.formatting import day_text
from core.services import audit_record
from orders.models import Item


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
            subscription__status__in=RUNNING_SUBSCRIPTIONS,
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
                    % {"date": day_text(occurrence.ship_date)}
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
