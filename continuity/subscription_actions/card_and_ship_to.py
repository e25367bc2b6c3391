"""Change the card a subscription is charged to, or the address it ships to."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from continuity.dunning import card_change_check, subscription_change_card
from continuity.forms import ChangeCardForm, ChangeShipToForm
from continuity.models import AWAITING_CHARGE, CHANGEABLE, OccurrenceStatus
from continuity.pricing import occurrence_fresh_price, occurrence_price_again
from continuity.reason_codes import reason_code_audit_reason
from continuity.subscription_actions.base import (
    Argument,
    Effect,
    Preview,
    SubscriptionAction,
    action_register,
)
from continuity.subscription_actions.shared import (
    is_running,
    require_running,
    subscription_for_action,
)
from core.actors import Actor
from core.dates import business_date
from core.roles import can_take_orders
from core.services import audit_record
from customers.models import Address, AddressKind


def change_card_preview(*, subscription_id: int, card_id: int) -> Preview:
    subscription = subscription_for_action(subscription_id)
    require_running(subscription)
    card_change_check(subscription, card_id)
    preview = Preview(CHANGE_CARD.name, subscription)
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
    reason = reason_code_audit_reason(CHANGE_CARD.name, reason_code)
    # subscription_change_card checks everything the preview would, under the lock.
    return subscription_change_card(
        subscription_id=subscription_id, card_id=card_id, actor=actor, reason=reason
    )


def change_ship_to_preview(*, subscription_id: int, address_id: int) -> Preview:
    subscription = subscription_for_action(subscription_id)
    require_running(subscription)
    address = Address.objects.filter(
        pk=address_id, customer_id=subscription.customer_id, kind=AddressKind.SHIPPING
    ).first()
    if address is None:
        raise ValidationError({"address": _("Choose one of the customer's shipping addresses.")})
    preview = Preview(CHANGE_SHIP_TO.name, subscription)
    for occurrence in subscription.occurrences.filter(
        status__in=CHANGEABLE, child_order__isnull=True
    ).order_by("ship_date")[:3]:
        if occurrence.status in AWAITING_CHARGE:
            # Not charged yet: taxed for the new address when it is (TaxUnavailable here,
            # rather than at the charge, when the new address cannot be taxed).
            price, _lines = occurrence_fresh_price(occurrence, ship_to=address)
            if price.total != occurrence.amount:
                preview.effects.append(
                    Effect(
                        "ship_to_repriced",
                        occurrence,
                        day=occurrence.ship_date,
                        amount=price.total,
                        before=occurrence.amount,
                    )
                )
                continue
        preview.effects.append(Effect("ship_to", occurrence, day=occurrence.ship_date))
    return preview


def subscription_change_ship_to(
    *, subscription_id: int, address_id: int, actor: Actor, reason_code: str
) -> Preview:
    """Ship the shipments that have no child order yet to another of the customer's
    shipping addresses (child orders already created keep theirs)."""
    reason = reason_code_audit_reason(CHANGE_SHIP_TO.name, reason_code)
    with transaction.atomic():
        subscription = subscription_for_action(subscription_id, lock=True)
        preview = change_ship_to_preview(subscription_id=subscription_id, address_id=address_id)
        before = subscription.ship_to.one_line if subscription.ship_to else ""
        subscription.ship_to_id = address_id
        subscription.save(update_fields=["ship_to"])
        subscription.refresh_from_db(fields=["ship_to"])
        # Shipments not charged yet are taxed for the new address now, so that what the
        # pages and the forecast show is what will be charged (a paid shipment keeps the
        # tax it was charged).
        for occurrence in subscription.occurrences.select_for_update().filter(
            status__in=AWAITING_CHARGE
        ):
            occurrence_price_again(occurrence, subscription=subscription, actor=actor)
        audit_record(
            actor=actor,
            action="subscription_ship_to_changed",
            obj=subscription,
            customer_id=subscription.customer_id,
            reason=reason,
            details={"before": before, "after": Address.objects.get(pk=address_id).one_line},
        )
    return preview


CHANGE_CARD = action_register(
    SubscriptionAction(
        name="change_card",
        label=gettext_lazy("Change the card"),
        preview=change_card_preview,
        service=subscription_change_card_with_reason,
        form=ChangeCardForm,
        arguments=(Argument("card", "card_id", missing=gettext_lazy("Choose a card.")),),
        permission=can_take_orders,
        offered=is_running,
        page_dialog="continuity/dialogs/add_card.html",
    )
)

CHANGE_SHIP_TO = action_register(
    SubscriptionAction(
        name="change_ship_to",
        label=gettext_lazy("Change the ship-to address"),
        preview=change_ship_to_preview,
        service=subscription_change_ship_to,
        form=ChangeShipToForm,
        arguments=(
            Argument(
                "address",
                "address_id",
                missing=gettext_lazy("Choose one of the customer's shipping addresses."),
            ),
        ),
        permission=can_take_orders,
        offered=is_running,
        page_dialog="continuity/dialogs/new_address.html",
    )
)
