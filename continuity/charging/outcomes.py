"""What a charge is while it moves through its steps, what it came to, and what follows
from a decline or an expired card: the subscription's hold and the customer's email."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from continuity.models import Occurrence, OccurrenceStatus, ShipmentProblem, SubscriptionStatus
from continuity.services import occurrence_move, subscription_set_status
from core.actors import Actor
from core.models import NotificationKind
from core.notifications import NotificationEvent
from payments.gateways.base import DeclineCode
from payments.models import Payment


class ChargeOutcome(models.TextChoices):
    """What one charge came to when it went through, or was not needed. A charge that did
    not go through comes to a ShipmentProblem (declined, on_hold, card_expired, unknown,
    error): ChargeResult.outcome holds one of either."""

    PAID = "paid", _("Paid")
    SKIPPED = "skipped", _("Already handled")


@dataclass(frozen=True)
class PreparedCharge:
    """A sale committed with its idempotency key, waiting for the gateway."""

    occurrence_id: int
    payment: Payment
    fresh: bool  # False: a sale from an earlier attempt, looked up before anything else


@dataclass(frozen=True)
class ChargeResult:
    occurrence_id: int
    outcome: str
    detail: str = ""
    retry_on: datetime.date | None = None


@dataclass(frozen=True)
class ChargePreparation:
    prepared: list[PreparedCharge]
    results: list[ChargeResult]
    # Shipments whose rows another transaction holds (another run, an agent's action, or
    # a task that died with its transaction still open), or whose key a supervisor is
    # settling: not charged here; the chunk tries them again.
    locked_elsewhere: list[int]


def put_on_hold(occurrence: Occurrence, *, hold_reason: str, detail: str, actor: Actor) -> None:
    subscription = occurrence.subscription
    occurrence.decline_reason = detail[:255]
    occurrence.next_payment_attempt_on = None
    occurrence_move(
        occurrence,
        to_status=OccurrenceStatus.PAYMENT_DECLINED,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=hold_reason,
        update_fields=("decline_reason", "next_payment_attempt_on", "payment_attempts"),
    )
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription_set_status(
            subscription=subscription,
            to_status=SubscriptionStatus.ON_HOLD,
            hold_reason=hold_reason,
            actor=actor,
            reason=detail[:255],
        )


# --- Notifications ----------------------------------------------------------------------

# The outcomes of a charge the customer is told about by email.
NOTIFIED_CHARGE_OUTCOMES = (
    ChargeOutcome.PAID,
    ShipmentProblem.DECLINED,
    ShipmentProblem.ON_HOLD,
    ShipmentProblem.CARD_EXPIRED,
)


def charge_notification(
    occurrence: Occurrence,
    result: ChargeResult,
    *,
    payment: Payment | None,
    decline_code: DeclineCode | None = None,
) -> NotificationEvent:
    """The email owed for one charge's outcome: keyed by the payment (or, for a card that
    expired before any charge, by the shipment), so it is owed once."""
    subscription = occurrence.subscription
    context = {
        "order": subscription.parent_order.number,
        "program": subscription.plan.get("name", ""),
        "amount": str(occurrence.amount),
        "currency": occurrence.currency,
        "card": str(payment.card if payment else subscription.card),
        "ship_date": occurrence.ship_date.isoformat(),
        # What the amount is made of, as the receipt shows it.
        "subtotal": str(occurrence.subtotal),
        "delivery": str(occurrence.delivery_amount),
        "tax": str(occurrence.tax_amount),
        "prices_include_tax": "yes" if occurrence.prices_include_tax else "",
    }
    if result.outcome == ChargeOutcome.PAID:
        return NotificationEvent(
            NotificationKind.CHARGED,
            f"charged:payment:{payment.pk}",
            subscription.customer_id,
            context,
        )
    key = (
        f"payment_failed:payment:{payment.pk}"
        if payment
        else f"payment_failed:occurrence:{occurrence.pk}:{result.outcome}"
    )
    context |= {
        "reason": _email_reason(decline_code, fallback=result.detail),
        "retry_on": result.retry_on.isoformat() if result.retry_on else "",
    }
    return NotificationEvent(
        NotificationKind.PAYMENT_FAILED, key, subscription.customer_id, context
    )


def _email_reason(decline_code: DeclineCode | None, *, fallback: str) -> str:
    """The decline's reason as its untranslated message: the email is written in the
    customer's language when it is sent, not in the language of the run that declined.
    A decline without a known code keeps the gateway's own words (the fallback)."""
    if decline_code is None:
        return fallback
    with translation.override(None):
        return DeclineCode(decline_code).reason
