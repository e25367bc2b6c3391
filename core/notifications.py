"""Emails to customers, written as Notification rows in the transaction of the event
(charged, payment failed, child order created, subscription cancelled) and sent by a
task afterwards, in the customer's language.

Exactly once per event: a notification's key names its event and is unique, so a job
that runs again, or a shipment recorded twice, adds nothing (ON CONFLICT DO NOTHING).
Sending holds the row's lock until it is marked sent; a worker that dies after the mail
server accepted the email but before the commit would send it again (at least once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from core.models import Notification, NotificationKind, NotificationStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class NotificationEvent:
    kind: str
    key: str
    customer_id: int
    context: dict


def notifications_add(events: list[NotificationEvent]) -> None:
    """Owe these emails (inside the caller's transaction); send them after it commits."""
    if not events:
        return
    Notification.objects.bulk_create(
        [
            Notification(
                kind=event.kind,
                key=event.key,
                customer_id=event.customer_id,
                context=event.context,
            )
            for event in events
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    transaction.on_commit(_enqueue_sending)


def _enqueue_sending() -> None:
    # Imported here: core/tasks.py imports this module.
    from core.tasks import send_notifications

    send_notifications.delay()


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


__all__ = ["NotificationEvent", "NotificationKind", "notifications_add", "notifications_send"]
