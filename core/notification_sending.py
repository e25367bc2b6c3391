"""Sending the customers' emails that core.notifications queued as Notification rows,
in the customer's language, each row locked while it is sent (run by the
core.send_notifications task)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from core.models import Notification, NotificationStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def _render(notification: Notification) -> tuple[str, str]:
    customer = notification.customer
    with translation.override(customer.language):
        context = {**notification.context, "customer": customer}
        subject = render_to_string(f"emails/{notification.kind}_subject.txt", context)
        body = render_to_string(f"emails/{notification.kind}.txt", context)
    return " ".join(subject.split()), body


def notifications_send(*, limit: int = 200) -> int:
    """Send pending notifications; returns how many were sent. Rows another sender
    holds are skipped (SKIP LOCKED): two workers never send the same email."""
    sent = 0
    with transaction.atomic():
        pending = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer")
            .filter(status=NotificationStatus.PENDING)
            .order_by("id")[:limit]
        )
        for notification in pending:
            notification.attempts += 1
            if not notification.customer.email:
                notification.status = NotificationStatus.FAILED
                notification.error = "The customer has no email address."
                notification.save(update_fields=["status", "attempts", "error"])
                continue
            subject, body = _render(notification)
            try:
                EmailMessage(
                    subject, body, settings.DEFAULT_FROM_EMAIL, [notification.customer.email]
                ).send()
            except OSError as error:  # SMTP and socket errors: try again later
                logger.warning("Notification %s not sent: %s", notification.key, error)
                notification.error = str(error)[:255]
                if notification.attempts >= MAX_ATTEMPTS:
                    notification.status = NotificationStatus.FAILED
                notification.save(update_fields=["status", "attempts", "error"])
                continue
            notification.status = NotificationStatus.SENT
            notification.sent_at = timezone.now()
            notification.error = ""
            notification.save(update_fields=["status", "attempts", "sent_at", "error"])
            sent += 1
    return sent
