"""Shipments of a subscription, their status machine and named status sets, their lines,
and the part of a sale that paid each."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from continuity.models.subscription import Subscription
from core.limits import validate_business_date, validate_quantity
from core.money import CurrencyField, MoneyField
from core.services import StatusMachine
from orders.priced import (
    PricedDocument,
    PricedLine,
    amount_of_quantity,
    line_tax_not_negative,
    parts_not_negative,
    total_adds_up,
)


class OccurrenceStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    # A sale of this shipment is committed with its key and its answer is not recorded
    # yet: the gateway is being asked, or the process that asked died. Nothing else may
    # happen to the shipment until the answer is recorded (docs/money.md).
    CHARGING = "charging", _("Charging")
    PAID = "paid", _("Paid")
    PAYMENT_DECLINED = "payment_declined", _("Payment declined")
    PAYMENT_UNKNOWN = "payment_unknown", _("Payment unknown")
    CHILD_CREATED = "child_created", _("Child order created")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")


OCCURRENCE_STATUS = StatusMachine(
    OccurrenceStatus,
    {
        # A card that expired before any charge puts the shipment straight to declined.
        OccurrenceStatus.SCHEDULED: {
            OccurrenceStatus.CHARGING,
            OccurrenceStatus.PAYMENT_DECLINED,
            OccurrenceStatus.SKIPPED,
            OccurrenceStatus.CANCELLED,
        },
        OccurrenceStatus.PAYMENT_DECLINED: {
            OccurrenceStatus.CHARGING,
            OccurrenceStatus.SKIPPED,
            OccurrenceStatus.CANCELLED,
        },
        # Only the answer to the sale in flight moves a shipment out of these two.
        OccurrenceStatus.CHARGING: {
            OccurrenceStatus.PAID,
            OccurrenceStatus.PAYMENT_DECLINED,
            OccurrenceStatus.PAYMENT_UNKNOWN,
        },
        OccurrenceStatus.PAYMENT_UNKNOWN: {
            OccurrenceStatus.PAID,
            OccurrenceStatus.PAYMENT_DECLINED,
        },
        # A paid shipment skipped or cancelled before it ships is refunded.
        OccurrenceStatus.PAID: {
            OccurrenceStatus.CHILD_CREATED,
            OccurrenceStatus.CANCELLED,
            OccurrenceStatus.SKIPPED,
        },
        # Only while its child order is not released to the warehouse: the child order is
        # cancelled with it and its charge refunded (continuity.services.occurrence_close).
        OccurrenceStatus.CHILD_CREATED: {OccurrenceStatus.CANCELLED, OccurrenceStatus.SKIPPED},
        OccurrenceStatus.SKIPPED: set(),
        # Reactivation, once every refund of the shipment is settled.
        OccurrenceStatus.CANCELLED: {OccurrenceStatus.SCHEDULED},
    },
)

# Named sets of shipment statuses (docs/money.md draws them).
# A sale is in flight: skip, cancel, reschedule and card changes wait for its answer.
CHARGE_IN_FLIGHT = frozenset({OccurrenceStatus.CHARGING, OccurrenceStatus.PAYMENT_UNKNOWN})
# Not paid and nothing in flight: a new sale may be made when the shipment is due.
AWAITING_CHARGE = frozenset({OccurrenceStatus.SCHEDULED, OccurrenceStatus.PAYMENT_DECLINED})
# What the payment job looks at: new charges, and charges in flight to settle.
PAYMENT_JOB_STATUSES = AWAITING_CHARGE | CHARGE_IN_FLIGHT
# The shipment's charge is kept: its net captured money equals its amount.
CHARGE_KEPT = frozenset({OccurrenceStatus.PAID, OccurrenceStatus.CHILD_CREATED})
# Not sent: whatever was captured for it is owed back to the customer.
NOT_SENT = frozenset({OccurrenceStatus.SKIPPED, OccurrenceStatus.CANCELLED})
# Not gone out and still changeable by an agent (skip, reschedule, cancel).
CHANGEABLE = AWAITING_CHARGE | {OccurrenceStatus.PAID}
# Every shipment of a finite subscription is in one of these once it is over.
SETTLED = NOT_SENT | {OccurrenceStatus.CHILD_CREATED}


class Occurrence(PricedDocument):
    """One planned shipment of a subscription, priced as a billed document of its own: its
    lines, its delivery charge and their tax (orders.pricing). `amount` is its whole
    charge, what a sale of it takes and a refund of it gives back."""

    TOTAL_FIELD = "amount"

    subscription = models.ForeignKey(
        Subscription,
        verbose_name=_("subscription"),
        on_delete=models.PROTECT,
        related_name="occurrences",
        # The unique (subscription, sequence) serves every lookup by subscription; a
        # second index would cost every insert, and every update that moves a shipment.
        db_index=False,
    )
    sequence = models.PositiveIntegerField(_("shipment"))
    event_number = models.PositiveIntegerField(_("event"))
    ship_date = models.DateField(_("ship date"), validators=[validate_business_date])
    amount = MoneyField(_("amount"))
    currency = CurrencyField(_("currency"))
    delivery_mode = models.ForeignKey(
        "orders.DeliveryMode",
        verbose_name=_("delivery mode"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The event's mode, else the order's, else the default when priced."),
        # Indexed in Meta where set (empty: the default mode, for most shipments). The
        # child-order job moves every shipment it orders, which writes a new entry in
        # each of the table's indexes that holds the row.
        db_index=False,
    )
    # The ship-to the tax was computed for: a shipment whose subscription now ships
    # elsewhere is priced again before it is charged (continuity.pricing).
    priced_ship_to = models.ForeignKey(
        "customers.Address",
        verbose_name=_("priced for ship-to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=OccurrenceStatus.choices,
        default=OccurrenceStatus.SCHEDULED,
    )
    # The approved sale that paid this shipment (one sale pays every shipment of a
    # program billed up front).
    payment = models.ForeignKey(
        "payments.Payment",
        verbose_name=_("payment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="paid_occurrences",
    )
    payment_attempts = models.PositiveIntegerField(_("charge attempts"), default=0)
    next_payment_attempt_on = models.DateField(_("next charge attempt"), null=True, blank=True)
    decline_reason = models.CharField(_("decline reason"), max_length=255, blank=True)
    child_order = models.ForeignKey(
        "orders.SalesOrder",
        verbose_name=_("continuity sales order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fulfilled_occurrences",
    )

    class Meta:
        verbose_name = _("occurrence")
        verbose_name_plural = _("occurrences")
        ordering = ["subscription", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "sequence"], name="occurrence_sequence_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="occurrence_amount_gte_0"),
            total_adds_up("amount", "occurrence_amount_adds_up"),
            *parts_not_negative("occurrence"),
            models.CheckConstraint(
                condition=(
                    ~Q(status__in=[OccurrenceStatus.PAID, OccurrenceStatus.CHILD_CREATED])
                    | Q(payment__isnull=False)
                ),
                name="occurrence_paid_has_payment",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=OccurrenceStatus.CHILD_CREATED, child_order__isnull=False)
                    | (~Q(status=OccurrenceStatus.CHILD_CREATED) & Q(child_order__isnull=True))
                ),
                name="occurrence_child_order_iff_created",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "ship_date"], name="occurrence_status_ship_idx"),
            # What refuses to delete a delivery mode that shipments name.
            models.Index(
                fields=["delivery_mode"],
                condition=Q(delivery_mode__isnull=False),
                name="occurrence_delivery_mode_idx",
            ),
        ]

    def __str__(self):
        return f"{self.subscription_id}#{self.sequence} {self.ship_date}"


class PaymentAllocation(models.Model):
    """The part of a sale that paid one shipment: a batch charge pays its own shipment,
    the sale taken at submit pays the first shipment (or every shipment of a program
    billed up front). Written when the sale is approved and never changed: what a
    shipment is owed back is computed from these rows and the refunds of each sale
    (docs/money.md)."""

    occurrence = models.ForeignKey(
        Occurrence,
        verbose_name=_("occurrence"),
        on_delete=models.PROTECT,
        related_name="allocations",
    )
    payment = models.ForeignKey(
        "payments.Payment",
        verbose_name=_("sale"),
        on_delete=models.PROTECT,
        related_name="allocations",
    )
    amount = MoneyField(_("amount"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["occurrence", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["occurrence", "payment"], name="allocation_once_per_shipment_and_sale"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_gt_0"),
        ]

    def __str__(self):
        return f"{self.payment_id} -> {self.occurrence_id}: {self.amount}"


class OccurrenceLine(PricedLine):
    """An item of one shipment, with the price copied when the order was submitted and its
    tax as the shipment was last priced."""

    occurrence = models.ForeignKey(
        Occurrence, verbose_name=_("occurrence"), on_delete=models.CASCADE, related_name="lines"
    )
    line_number = models.PositiveIntegerField(_("line"))
    item = models.ForeignKey(
        "orders.Item", verbose_name=_("item"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"), validators=[validate_quantity])
    unit_price = MoneyField(_("unit price"))
    amount = MoneyField(_("amount"))

    class Meta:
        verbose_name = _("occurrence line")
        verbose_name_plural = _("occurrence lines")
        ordering = ["occurrence", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["occurrence", "line_number"], name="occurrence_line_number_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="occurrence_line_qty_gt_0"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="occurrence_line_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(amount=amount_of_quantity()),
                name="occurrence_line_amount_is_qty_times_price",
            ),
            *line_tax_not_negative("occurrence_line"),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.item.item_number}"
