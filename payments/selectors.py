"""Reads of payments."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from payments.models import UNANSWERED_STATUSES, Payment


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
