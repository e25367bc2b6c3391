"""Emails to customers, written as Notification rows in the transaction of the event
(charged, payment failed, child order created, subscription cancelled) and sent by a
task afterwards, in the customer's language.

Exactly once per event: a notification's key names its event and is unique, so a job
that runs again, or a shipment recorded twice, adds nothing (ON CONFLICT DO NOTHING).
Sending holds the row's lock until it is marked sent; a worker that dies after the mail
server accepted the email but before the commit would send it again (at least once).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from core.models import Notification, NotificationKind
from core.tasks import send_notifications


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
    send_notifications.delay()


__all__ = ["NotificationEvent", "NotificationKind", "notifications_add"]
