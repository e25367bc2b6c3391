from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
    key = models.CharField(_("event"), max_length=100, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="notifications",
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

    def __str__(self):
        return self.key
