"""What supervisors (and agents, for a card change) do about shipments whose payment
failed: retry now, change the card and retry, settle an unknown outcome as declined,
release a hold. Each action writes its audit entries through the status services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from continuity.models import (
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.services import (
    ChargeResult,
    PreparedCharge,
    occurrences_charge_prepare,
    occurrences_charge_record,
    occurrences_due_again,
    subscription_set_status,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.services import audit_record
from payments.gateways import get_gateway
from payments.gateways.base import DeclineCode, GatewayError, GatewayResult
from payments.models import Card, PaymentMethod, PaymentMethodKind, PaymentStatus
from payments.services import payment_sale_send

PAYMENT_HOLDS = (HoldReason.PAYMENT, HoldReason.CARD_EXPIRED)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Enter the reason for this action.")})
    return reason[:255]


def occurrences_charge_now(*, occurrence_ids: list[int], actor: Actor) -> list[ChargeResult]:
    """Charge these shipments at once (outside the batch run), with the same rules:
    the key committed first, an unknown sale looked up before anything is sent again."""
    today = business_date()
    # Due now, whatever the dunning calendar says: a person asked for it.
    preparation = occurrences_charge_prepare(
        occurrence_ids=occurrence_ids, run_date=today, actor=actor, check_due=False
    )
    answers = [
        (
            charge,
            None
            if charge.payment.status == PaymentStatus.APPROVED
            else payment_sale_send(charge.payment, fresh=charge.fresh),
        )
        for charge in preparation.prepared
    ]
    return preparation.results + occurrences_charge_record(
        answers=answers, run_date=today, actor=actor
    )


def occurrence_retry_now(*, occurrence_id: int, actor: Actor, reason: str) -> list[ChargeResult]:
    """A supervisor's "retry now": a subscription on hold is released first (its declined
    shipments become due), then this shipment is charged at once."""
    occurrence = Occurrence.objects.select_related("subscription").get(pk=occurrence_id)
    if occurrence.subscription.status == SubscriptionStatus.ON_HOLD:
        subscription_release_hold(
            subscription_id=occurrence.subscription_id, actor=actor, reason=reason
        )
    return occurrences_charge_now(occurrence_ids=[occurrence_id], actor=actor)


def subscription_release_hold(*, subscription_id: int, actor: Actor, reason: str) -> Subscription:
    """Put a subscription on hold back to active. Its declined shipments are due for a
    charge again today, with their attempts counted afresh."""
    reason = _require_reason(reason)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        if subscription.status != SubscriptionStatus.ON_HOLD:
            raise Conflict(
                _("Subscription %(subscription)s is not on hold.") % {"subscription": subscription}
            )
        subscription_set_status(
            subscription=subscription,
            to_status=SubscriptionStatus.ACTIVE,
            actor=actor,
            reason=reason,
        )
        occurrences_due_again(subscription=subscription, actor=actor, reason=reason)
    return subscription


def subscription_change_card(
    *, subscription_id: int, card_id: int, actor: Actor, reason: str = ""
) -> tuple[Subscription, list[ChargeResult]]:
    """Charge the subscription's later shipments to another of the customer's cards.

    A declined payment is retried at once on the new card; if the subscription was on
    hold for its payment, an approved retry (or nothing left to retry) releases it.
    """
    reason = reason.strip() or _("Card changed")
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        if subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.COMPLETED):
            raise Conflict(
                _("Subscription %(subscription)s is %(status)s: its card cannot be changed.")
                % {
                    "subscription": subscription,
                    "status": subscription.get_status_display().lower(),
                }
            )
        card = Card.objects.filter(
            pk=card_id, customer_id=subscription.customer_id, active=True
        ).first()
        if card is None:
            raise ValidationError({"card": _("This card does not belong to the customer.")})
        if card.is_expired_on(business_date()):
            raise ValidationError({"card": _("This card has expired.")})
        method = subscription.payment_method
        if method.card_brand and method.card_brand != card.brand:
            method = (
                PaymentMethod.objects.filter(
                    kind=PaymentMethodKind.CARD, card_brand=card.brand, active=True
                ).first()
                or PaymentMethod.objects.filter(
                    kind=PaymentMethodKind.CARD, card_brand="", active=True
                ).first()
            )
            if method is None:
                raise ValidationError(
                    {
                        "card": _("No method of payment takes %(brand)s cards.")
                        % {"brand": card.get_brand_display()}
                    }
                )
        previous = str(subscription.card)
        subscription.card = card
        subscription.payment_method = method
        subscription.save(update_fields=["card", "payment_method"])
        audit_record(
            actor=actor,
            action="subscription_card_changed",
            obj=subscription,
            customer_id=subscription.customer_id,
            reason=reason,
            details={"from": previous, "to": str(card), "method": method.code},
        )
        was_on_hold = (
            subscription.status == SubscriptionStatus.ON_HOLD
            and subscription.hold_reason in PAYMENT_HOLDS
        )
        if was_on_hold:
            subscription_set_status(
                subscription=subscription,
                to_status=SubscriptionStatus.ACTIVE,
                actor=actor,
                reason=reason,
            )
        declined = list(
            subscription.occurrences.filter(
                status__in=[OccurrenceStatus.PAYMENT_DECLINED, OccurrenceStatus.PAYMENT_UNKNOWN]
            ).values_list("pk", flat=True)
        )
    # The retry runs after the card change commits: its sale must be committed before the
    # gateway call, and never inside an open transaction.
    results = occurrences_charge_now(occurrence_ids=declined, actor=actor) if declined else []
    subscription.refresh_from_db()
    return subscription, results


def payment_unknown_mark_declined(*, occurrence_id: int, actor: Actor, reason: str) -> Occurrence:
    """Settle a shipment whose charge outcome is unknown as declined, after asking the
    gateway once more: a charge the gateway shows is recorded as paid instead, never
    dropped."""
    reason = _require_reason(reason)
    occurrence = Occurrence.objects.select_related("subscription").get(pk=occurrence_id)
    payment = (
        occurrence.payments.filter(status__in=[PaymentStatus.PENDING, PaymentStatus.UNKNOWN])
        .select_related("card")
        .first()
    )
    if occurrence.status != OccurrenceStatus.PAYMENT_UNKNOWN or payment is None:
        raise Conflict(_("This shipment has no payment with an unknown outcome."))
    try:
        answer = get_gateway().lookup(payment.idempotency_key)
    except GatewayError:
        raise Conflict(
            _("The payment service did not answer; the outcome is still unknown. Try again.")
        ) from None
    if answer is None:
        # The gateway never saw the key: nothing was charged, so declined is the truth.
        answer = GatewayResult(
            approved=False,
            reference="",
            decline_code=DeclineCode.PROCESSING_ERROR,
            message=reason,
        )
    results = occurrences_charge_record(
        answers=[(PreparedCharge(occurrence.pk, payment, fresh=False), answer)],
        run_date=business_date(),
        actor=actor,
    )
    occurrence.refresh_from_db()
    audit_record(
        actor=actor,
        action="payment_unknown_settled",
        obj=occurrence,
        customer_id=occurrence.subscription.customer_id,
        reason=reason,
        details={"outcome": results[0].outcome if results else ""},
    )
    return occurrence
