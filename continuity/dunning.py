"""What supervisors (and agents, for a card change) do about shipments whose payment
failed: retry now, change the card and retry, settle an unknown outcome as declined,
release a hold. Each action writes its audit entries through the status services.

Releasing a payment hold is a supervisor's decision: the pages, the API and the admin
offer it to supervisors only. An agent moves a subscription off a payment hold only by
giving it another card, whose retry is made at once.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from continuity.charging import (
    ChargeResult,
    PreparedCharge,
    charges_record,
    occurrences_charge_now,
)
from continuity.locks import subscriptions_lock
from continuity.models import (
    CHARGE_IN_FLIGHT,
    ENDED_SUBSCRIPTIONS,
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.services import occurrences_due_again, subscription_set_status
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.formatting import day_text
from core.limits import REASON_MAX_LENGTH, REASON_REQUIRED_MESSAGE, length_check
from core.services import audit_record
from payments.gateways.base import DeclineCode, GatewayResult
from payments.models import (
    UNANSWERED_STATUSES,
    Card,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    PaymentOperation,
)
from payments.services import (
    payment_claim_for_settling,
    payment_lookup,
    payment_settling_claim_held,
)

PAYMENT_HOLDS = (HoldReason.PAYMENT, HoldReason.CARD_EXPIRED)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": REASON_REQUIRED_MESSAGE})
    return length_check(reason, field="reason", max_length=REASON_MAX_LENGTH)


def _refused_while_charging(subscription: Subscription) -> None:
    """A card change waits for every charge in flight: its answer may still come."""
    in_flight = (
        subscription.occurrences.filter(status__in=CHARGE_IN_FLIGHT).order_by("ship_date").first()
    )
    if in_flight is not None:
        raise Conflict(
            _(
                "The charge of the shipment of %(date)s is being confirmed; try again once it "
                "is settled."
            )
            % {"date": day_text(in_flight.ship_date)}
        )


def occurrence_retry_now(*, occurrence_id: int, actor: Actor, reason: str) -> list[ChargeResult]:
    """A supervisor's "retry now": a subscription on hold is released first (its declined
    shipments become due), then this shipment is charged at once."""
    occurrence = Occurrence.objects.select_related("subscription").get(pk=occurrence_id)
    if occurrence.status != OccurrenceStatus.PAYMENT_DECLINED and (
        occurrence.status not in CHARGE_IN_FLIGHT
    ):
        # Nothing to retry: a shipment never tried is charged when due, not early; a
        # charge in flight is settled (looked up, never charged twice).
        raise Conflict(
            _("The shipment of %(date)s has no declined charge to retry.")
            % {"date": day_text(occurrence.ship_date)}
        )
    if occurrence.subscription.status == SubscriptionStatus.ON_HOLD:
        subscription_release_hold(
            subscription_id=occurrence.subscription_id, actor=actor, reason=reason
        )
    return occurrences_charge_now(occurrence_ids=[occurrence_id], actor=actor)


def subscription_release_hold(*, subscription_id: int, actor: Actor, reason: str) -> Subscription:
    """A supervisor puts a subscription on hold back to active. Its declined shipments
    are due for a charge again today, with their attempts counted afresh."""
    reason = _require_reason(reason)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        if subscription.status != SubscriptionStatus.ON_HOLD:
            raise Conflict(
                _("Subscription %(subscription)s is not on hold.") % {"subscription": subscription}
            )
        if subscription.hold_reason not in PAYMENT_HOLDS:
            # A pause the customer asked for ends by resuming it, which skips what fell due
            # meanwhile; released here, those shipments would be charged late instead.
            raise Conflict(
                _("Subscription %(subscription)s is paused, not held for its payment: resume it.")
                % {"subscription": subscription}
            )
        subscription.paused_until = None
        subscription.save(update_fields=["paused_until"])
        subscription_set_status(
            subscription=subscription,
            to_status=SubscriptionStatus.ACTIVE,
            actor=actor,
            reason=reason,
        )
        occurrences_due_again(subscription=subscription, actor=actor, reason=reason)
    return subscription


def _method_for(subscription: Subscription, card: Card) -> PaymentMethod:
    method = subscription.payment_method
    if not method.card_brand or method.card_brand == card.brand:
        return method
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
    return method


def card_change_check(subscription: Subscription, card_id: int) -> Card:
    """The card `card_id` that `subscription` may change to, or the refusal (the same for
    the change and its preview): a card of another customer, inactive or expired, the
    subscription's card already (that would release a hold without a new card), or any
    shipment whose charge is in flight."""
    card = Card.objects.filter(
        pk=card_id, customer_id=subscription.customer_id, active=True
    ).first()
    if card is None:
        raise ValidationError({"card": _("This card does not belong to the customer.")})
    if card.pk == subscription.card_id:
        raise ValidationError(
            {"card": _("This is the subscription's card already: choose another one.")}
        )
    if card.is_expired_on(business_date()):
        raise ValidationError({"card": _("This card has expired.")})
    _refused_while_charging(subscription)
    return card


def subscription_change_card(
    *, subscription_id: int, card_id: int, actor: Actor, reason: str = ""
) -> tuple[Subscription, list[ChargeResult]]:
    """Charge the subscription's later shipments to another of the customer's cards.

    A declined payment is retried at once on the new card; a subscription on hold for its
    payment is released for that retry (and held again if the new card declines too).
    Refused, with nothing changed: the card the subscription has already (that would
    release a hold without a new card), a card of another customer or expired, and any
    shipment whose charge is in flight.
    """
    reason = length_check(reason.strip(), field="reason", max_length=REASON_MAX_LENGTH)
    reason = reason or _("Card changed")
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        if subscription.status in ENDED_SUBSCRIPTIONS:
            raise Conflict(
                _(
                    "The card of subscription %(subscription)s cannot be changed: its status "
                    "is %(status)s."
                )
                % {"subscription": subscription, "status": subscription.get_status_display()}
            )
        card = card_change_check(subscription, card_id)
        method = _method_for(subscription, card)
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
        if (
            subscription.status == SubscriptionStatus.ON_HOLD
            and subscription.hold_reason in PAYMENT_HOLDS
        ):
            subscription_set_status(
                subscription=subscription,
                to_status=SubscriptionStatus.ACTIVE,
                actor=actor,
                reason=reason,
            )
        declined = list(
            subscription.occurrences.filter(status=OccurrenceStatus.PAYMENT_DECLINED).values_list(
                "pk", flat=True
            )
        )
    # The retry runs after the card change commits: its sale must be committed before the
    # gateway call, and never inside an open transaction.
    results = occurrences_charge_now(occurrence_ids=declined, actor=actor) if declined else []
    subscription.refresh_from_db()
    return subscription, results


def _lock_charge_in_flight(occurrence_id: int) -> tuple[Occurrence, Payment]:
    """The shipment and its sale in flight, locked in continuity.locks order."""
    subscription_id = Occurrence.objects.values_list("subscription_id", flat=True).get(
        pk=occurrence_id
    )
    subscriptions_lock([subscription_id])
    occurrence = (
        Occurrence.objects.select_for_update(of=("self",))
        .select_related("subscription")
        .get(pk=occurrence_id)
    )
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .filter(
            occurrence=occurrence,
            operation=PaymentOperation.SALE,
            status__in=UNANSWERED_STATUSES,
        )
        .select_related("card")
        .first()
    )
    if occurrence.status not in CHARGE_IN_FLIGHT or payment is None:
        raise Conflict(_("This shipment has no payment with an unknown outcome."))
    return occurrence, payment


def payment_unknown_mark_declined(*, occurrence_id: int, actor: Actor, reason: str) -> Occurrence:
    """Settle a shipment whose charge outcome is unknown as declined, after asking the
    gateway once more: a charge the gateway shows is recorded as paid instead, never
    dropped.

    Declaring a key the gateway never saw declined is safe only if nobody sends it
    afterwards: the supervisor's settling claim on the payment shuts every sender out
    while the gateway is asked, and is refused while a sender's claim runs (a payment run
    or reconcile sending the same key right now). Once recorded declined, the key is
    never sent again.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        occurrence, payment = _lock_charge_in_flight(occurrence_id)
        claim = payment_claim_for_settling(payment)
    answered, answer = payment_lookup(payment)
    if not answered:
        with transaction.atomic():
            Payment.objects.filter(pk=payment.pk, settling_until=claim).update(settling_until=None)
        raise Conflict(
            _("The payment service did not answer; the outcome is still unknown. Try again.")
        )
    if answer is None:
        # The gateway never saw the key: nothing was charged, so declined is the truth.
        answer = GatewayResult(
            approved=False,
            reference="",
            decline_code=DeclineCode.PROCESSING_ERROR,
            message=reason,
        )
    with transaction.atomic():
        occurrence, payment = _lock_charge_in_flight(occurrence_id)
        if not payment_settling_claim_held(payment, claim):
            raise Conflict(
                _("Asking the payment service took too long; the outcome is still unknown.")
            )
        results = charges_record(
            answers=[(PreparedCharge(occurrence.pk, payment, fresh=False), answer)],
            run_date=business_date(),
            actor=actor,
        )
        audit_record(
            actor=actor,
            action="payment_unknown_settled",
            obj=occurrence,
            customer_id=occurrence.subscription.customer_id,
            reason=reason,
            details={"outcome": results[0].outcome if results else ""},
        )
    occurrence.refresh_from_db()
    return occurrence
