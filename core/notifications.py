"""Emails to customers, written as Notification rows in the transaction of the event
(charged, payment failed, child order created, subscription cancelled) and sent by a
task afterwards, in the customer's language.

Exactly once per event: a notification's key names its event and is unique, so a job
that runs again, or a shipment recorded twice, adds nothing (ON CONFLICT DO NOTHING).
Sending holds the row's lock until it is marked sent; a worker that dies after the mail
server accepted the email but before the commit would send it again (at least once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from core.models import Notification, NotificationKind, NotificationStatus
from core.sql_arrays import array_literal
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
    if connection.vendor == "postgresql":
        _notifications_insert_postgresql(events)
    else:
        _notifications_insert_orm(events)
    transaction.on_commit(_enqueue_sending)


def _notifications_insert_postgresql(events: list[NotificationEvent]) -> None:
    """One statement for the lot, the rows given as arrays: through the ORM, a batch
    chunk's thousands of Notification instances cost more than the database's work."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Notification._meta.db_table} (
                kind, key, customer_id, context, status, attempts, created_at, error
            )
            SELECT event.kind, event.key, event.customer_id, event.context::jsonb,
                %s, 0, %s, ''
            FROM unnest(%s::varchar[], %s::varchar[], %s::bigint[], %s::text[])
                AS event(kind, key, customer_id, context)
            ON CONFLICT (key) DO NOTHING
            """,
            [
                NotificationStatus.PENDING.value,
                timezone.now(),
                array_literal(str(event.kind) for event in events),
                array_literal(event.key for event in events),
                array_literal(event.customer_id for event in events),
                array_literal(json.dumps(event.context) for event in events),
            ],
        )


def _notifications_insert_orm(events: list[NotificationEvent]) -> None:
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


def _enqueue_sending() -> None:
    send_notifications.delay()


__all__ = ["NotificationEvent", "NotificationKind", "notifications_add"]
