import os
import secrets
import time
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AuditEntry(models.Model):
    """An append-only record of one change: who, when, what, from which state to which.

    Rows are only ever inserted (the admin shows them read-only); a status change and its
    audit entry are written in the same transaction by the service that makes the change.
    """

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        # Users with a history are deactivated, never deleted, so the trail stays whole.
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed in Meta where set: the jobs' entries (most of them) name no user.
        db_index=False,
    )
    actor_label = models.CharField(_("by"), max_length=150)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries",
        # audit_customer_at_idx (customer, at) serves every lookup by customer: a second
        # index would only cost each of the thousands of entries a batch chunk writes.
        db_index=False,
        # No database constraint (Django still protects the customer from deletion):
        # the entry is written from a row that names the customer, and never changed.
        # A deferred constraint is one more lookup and row lock at commit for each of
        # the thousands of entries a batch chunk writes (docs/benchmarks.md).
        db_constraint=False,
    )
    from_status = models.CharField(_("from"), max_length=32, blank=True)
    to_status = models.CharField(_("to"), max_length=32, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["customer", "at"], name="audit_customer_at_idx"),
            models.Index(
                fields=["actor_user"],
                condition=models.Q(actor_user__isnull=False),
                name="audit_actor_user_idx",
            ),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_id}"


class NotificationKind(models.TextChoices):
    CHARGED = "charged", _("Payment taken")
    PAYMENT_FAILED = "payment_failed", _("Payment failed")
    CHILD_ORDER_CREATED = "child_order_created", _("Shipment ordered")
    SUBSCRIPTION_CANCELLED = "subscription_cancelled", _("Subscription cancelled")
    ORDER_SHIPPED = "order_shipped", _("Order shipped")


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    """An email owed to a customer for one event, written in the same transaction as the
    event (an outbox). Its key is unique, so a job that runs again, or an event recorded
    twice, never owes the same email twice; a task sends the pending ones."""

    kind = models.CharField(_("kind"), max_length=24, choices=NotificationKind.choices)
    # "charged:payment:42", "child_order_created:order:7" ...: one email per event.
    # Unique through a constraint (Meta), not unique=True: that would add a second,
    # pattern-matching index, which no query uses.
    key = models.CharField(_("event"), max_length=100)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="notifications",
        # No database constraint, as for AuditEntry.customer: written with the event
        # that names the customer, never changed.
        db_constraint=False,
    )
    # What the email tells: ids and figures, read when it is written (no card data).
    context = models.JSONField(_("context"), default=dict)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["status", "created_at"],
                condition=models.Q(status="pending"),
                name="notification_pending_idx",
            ),
        ]
        constraints = [models.UniqueConstraint(fields=["key"], name="notification_key_unique")]

    def __str__(self):
        return self.key


def uuid7() -> uuid.UUID:
    """A UUID of version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then random
    bits. New ids sort after older ones, so their unique index grows at its right edge;
    a random uuid4 lands on any page of the index, each insert a page to read, dirty and
    log in full after a checkpoint (docs/benchmarks.md). core.outbox makes the same ids
    in SQL."""
    milliseconds = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (
        (milliseconds & (1 << 48) - 1) << 80
        | 0x7 << 76  # version
        | (random_bits >> 62 & 0xFFF) << 64
        | 0b10 << 62  # variant
        | random_bits & (1 << 62) - 1
    )
    return uuid.UUID(int=value)


def outbox_event_id() -> str:
    return f"evt_{uuid7()}"


class OutboxEvent(models.Model):
    """One change of an order, shipment, payment or subscription, for the webhook
    endpoints: written with its audit entry, in the same transaction (core.outbox), so an
    event exists if and only if its change committed. Rows are only inserted; the
    dispatcher marks them fanned out once each matching endpoint has its delivery.

    What a receiver reads of the change is its audit entry's: the event adds its id, its
    type and its ordering key, so that writing thousands costs little more than their
    entries."""

    id = models.BigAutoField(primary_key=True)
    # The change itself: the data sent are its action, statuses, reason and details.
    # Entries are never deleted (append-only), so no index for the way back.
    audit_entry = models.ForeignKey(
        AuditEntry,
        verbose_name=_("audit entry"),
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        # No database constraint: the event is written in its entry's own statement,
        # from the entry's returned id (core.outbox), and entries are never deleted.
        db_constraint=False,
    )
    # What receivers de-duplicate on: the same in every attempt and every resend.
    # Unique by a constraint (Meta), not unique=True, which would add a second index
    # for LIKE searches that nothing makes.
    event_id = models.CharField(_("event id"), max_length=40, default=outbox_event_id)
    type = models.CharField(_("event type"), max_length=100)
    topic = models.CharField(_("topic"), max_length=32)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64)
    # Deliveries of one key reach an endpoint in event order: "customer:<id>" keeps an
    # order's events with its subscription's, shipments' and payments' (docs/webhooks.md).
    ordering_key = models.CharField(_("ordering key"), max_length=80)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        # Nothing looks events up by customer (the ordering key serves the deliveries);
        # every index is paid for by each of the thousands of rows a batch chunk writes.
        db_index=False,
        # Its entry's customer, copied in the same statement: see AuditEntry.customer.
        db_constraint=False,
    )
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    # Worth repeating in the event when the change knew it (an order's number).
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    fanned_out = models.BooleanField(_("fanned out"), default=False)

    class Meta:
        verbose_name = _("outbound event")
        verbose_name_plural = _("outbound events")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="outbox_event_id_unique"),
        ]
        indexes = [
            # The dispatcher's queue: small, however long the table grows.
            models.Index(
                fields=["id"],
                condition=models.Q(fanned_out=False),
                name="outbox_event_waiting_idx",
            ),
        ]

    def __str__(self):
        return f"{self.event_id} {self.type}"


def webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    """A receiver of outbound events, set by an administrator (docs/webhooks.md)."""

    url = models.URLField(_("URL"), max_length=500)
    # Shared with the receiver, who checks each delivery's signature with it.
    secret = models.CharField(_("secret"), max_length=100, default=webhook_secret)
    # Empty, or "*", for every event; otherwise types ("order.submitted") or a topic's
    # every type ("shipment.*").
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["id"]

    def __str__(self):
        return self.description or self.url


class WebhookDeliveryStatus(models.TextChoices):
    # A context of their own: in French a delivery ("envoi") takes masculine adjectives.
    PENDING = "pending", pgettext_lazy("webhook delivery status", "Pending")
    DELIVERED = "delivered", pgettext_lazy("webhook delivery status", "Delivered")
    # Not accepted within the retry window: it waits for a supervisor.
    FAILED = "failed", pgettext_lazy("webhook delivery status", "Failed")
    # Given up by a supervisor: it no longer holds back the deliveries behind it.
    DISCARDED = "discarded", pgettext_lazy("webhook delivery status", "Discarded")


# Deliveries that hold back the later ones of their endpoint and ordering key.
WEBHOOK_BLOCKING_STATUSES = frozenset({WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED})


class WebhookDelivery(models.Model):
    """One event owed to one endpoint, and where its sending stands."""

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.ForeignKey(
        OutboxEvent, verbose_name=_("event"), on_delete=models.PROTECT, related_name="deliveries"
    )
    # The event's, copied: the "earlier delivery of the same key" check reads one index.
    ordering_key = models.CharField(_("ordering key"), max_length=80)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=WebhookDeliveryStatus.choices,
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Also the lease of a sender that took it: later than now while a call is in flight.
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # The retry window runs from here; a resend starts it again.
    first_attempt_at = models.DateTimeField(_("first attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last status code"), null=True, blank=True
    )
    last_answer = models.CharField(_("last answer"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"
            ),
        ]
        indexes = [
            # The sender's queue.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due_idx",
            ),
            # "Is an earlier delivery of this key still owed?"
            models.Index(
                fields=["endpoint", "ordering_key", "event"],
                condition=models.Q(status__in=["pending", "failed"]),
                name="webhook_delivery_owed_idx",
            ),
        ]

    def __str__(self):
        return f"{self.event_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery and its answer (or why there was none)."""

    delivery = models.ForeignKey(
        WebhookDelivery,
        verbose_name=_("webhook delivery"),
        on_delete=models.CASCADE,
        related_name="attempt_rows",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    # None: no answer (timeout, refused connection).
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    answer = models.CharField(_("answer"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"
