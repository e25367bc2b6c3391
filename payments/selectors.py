"""Reads of payments."""

from __future__ import annotations

import datetime
from collections.abc import Collection

from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer
from payments.models import UNANSWERED_STATUSES, Card, Payment


def payment_unanswered_list(*, older_than: datetime.timedelta) -> QuerySet[Payment]:
    """Payments whose answer was never recorded (pending or unknown), created at least
    `older_than` ago, oldest first. Younger ones may still be in flight: their own process
    is about to record the answer."""
    return (
        Payment.objects.filter(
            status__in=UNANSWERED_STATUSES, created_at__lte=timezone.now() - older_than
        )
        .select_related("sales_order")
        .order_by("created_at", "id")
    )


def customer_card_list_active(customer: Customer) -> list[Card]:
    """The cards a customer can pay with, newest first (one query)."""
    return list(customer.cards.filter(active=True).order_by("-created_at"))


def payment_labels(payment_ids: Collection[int]) -> list[tuple[int, str]]:
    """Each payment's id with its idempotency key, the name it goes by at the gateway."""
    return list(Payment.objects.filter(pk__in=payment_ids).values_list("pk", "idempotency_key"))


def card_labels(card_ids: Collection[int]) -> list[tuple[int, str]]:
    """Each card's id with its brand and last four digits ("Visa •••• 1111")."""
    return [(card.pk, str(card)) for card in Card.objects.filter(pk__in=card_ids)]
