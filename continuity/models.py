from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from continuity.scheduling import EventAction, EventSpec, IntervalUnit
from core.money import CurrencyField, MoneyField
from core.services import StatusMachine


class ContinuityProgram(models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    bill_up_front = models.BooleanField(
        _("bill up front"),
        default=False,
        help_text=_("Charge the whole program at submit instead of each shipment."),
    )
    days_to_first_shipment = models.PositiveIntegerField(
        _("days after order date to the first shipment"), default=0
    )
    prompt_for_start_date = models.BooleanField(
        _("prompt for start date"),
        default=False,
        help_text=_("The agent enters the start date; otherwise it is the order date."),
    )
    consolidate = models.BooleanField(
        _("consolidate missed shipments"),
        default=False,
        help_text=_("Put every due shipment of a subscription into one child order."),
    )

    class Meta:
        verbose_name = _("continuity program")
        verbose_name_plural = _("continuity programs")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="program_code_not_empty"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    def event_specs(self) -> list[EventSpec]:
        """The events as the scheduling function takes them (uses prefetched events)."""
        return [event.as_spec() for event in self.events.all()]


class ProgramEvent(models.Model):
    program = models.ForeignKey(
        ContinuityProgram,
        verbose_name=_("continuity program"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    event_number = models.PositiveIntegerField(_("event"))
    interval_count = models.PositiveIntegerField(
        _("interval"), default=1, help_text=_("Time from the previous shipment.")
    )
    interval_unit = models.CharField(
        _("unit"), max_length=6, choices=IntervalUnit.choices, default=IntervalUnit.MONTHS
    )
    repeat_count = models.PositiveIntegerField(
        _("repeat"),
        null=True,
        blank=True,
        help_text=_("Number of shipments of this event; empty: until cancelled (last event only)."),
    )
    action = models.CharField(
        _("action"), max_length=6, choices=EventAction.choices, default=EventAction.NORMAL
    )

    class Meta:
        verbose_name = _("program event")
        verbose_name_plural = _("program events")
        ordering = ["program", "event_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "event_number"], name="program_event_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(repeat_count__isnull=True) | Q(repeat_count__gt=0),
                name="program_event_repeat_gt_0",
            ),
        ]

    def __str__(self):
        return f"{self.program.code} #{self.event_number}"

    def as_spec(self) -> EventSpec:
        return EventSpec(
            event_number=self.event_number,
            interval_count=self.interval_count,
            interval_unit=IntervalUnit(self.interval_unit),
            repeat_count=self.repeat_count,
            action=EventAction(self.action),
        )


class ProgramEventLine(models.Model):
    event = models.ForeignKey(
        ProgramEvent,
        verbose_name=_("program event"),
        on_delete=models.CASCADE,
        related_name="lines",
    )
    item = models.ForeignKey(
        "orders.Item", verbose_name=_("item"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = MoneyField(_("price"))

    class Meta:
        verbose_name = _("program event line")
        verbose_name_plural = _("program event lines")
        ordering = ["event", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="program_event_line_qty_gt_0"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="program_event_line_price_gte_0"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.item.item_number}"


class ContinuityParameters(models.Model):
    """The one row of continuity settings (the admin shows it as a single form)."""

    SINGLETON_ID = 1

    child_order_lead_days = models.PositiveIntegerField(
        _("child-order lead days"),
        default=0,
        help_text=_("Create a child order this many days before its ship date."),
    )
    # With the retry interval of 2 days and 3 attempts, 5 days ahead leaves room for
    # every attempt before the ship date (D-5, D-3, D-1).
    payment_lead_days = models.PositiveIntegerField(
        _("payment lead days"),
        default=5,
        help_text=_(
            "Charge a shipment this many days before its ship date. More than the retry "
            "interval, so that a soft decline can be retried before the shipment ships."
        ),
    )
    max_child_orders_per_run = models.PositiveIntegerField(
        _("maximum child orders per run"), default=100_000
    )
    reauthorization_limit = models.PositiveIntegerField(
        _("reauthorization limit"),
        default=3,
        help_text=_("Charge attempts for one shipment before its subscription is put on hold."),
    )
    retry_interval_days = models.PositiveIntegerField(
        _("retry interval days"), default=2, help_text=_("Days between charge attempts.")
    )
    materialisation_horizon_days = models.PositiveIntegerField(
        _("materialisation horizon days"),
        default=90,
        help_text=_("How far ahead shipments of open-ended programs are planned."),
    )

    class Meta:
        verbose_name = _("continuity parameters")
        verbose_name_plural = _("continuity parameters")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="continuity_parameters_single_row"),
            models.CheckConstraint(
                condition=Q(max_child_orders_per_run__gt=0), name="parameters_max_child_orders_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(reauthorization_limit__gt=0), name="parameters_reauth_limit_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(materialisation_horizon_days__gt=0), name="parameters_horizon_gt_0"
            ),
            # A retry on the day of the decline would meet the same answer.
            models.CheckConstraint(
                condition=Q(retry_interval_days__gt=0), name="parameters_retry_interval_gt_0"
            ),
            # Retries stop before the ship date: the first attempt is made payment lead
            # days ahead, so a lead no longer than the interval would leave no retry, and
            # every soft decline would put its subscription on hold.
            models.CheckConstraint(
                condition=Q(payment_lead_days__gt=F("retry_interval_days")),
                name="parameters_soft_decline_can_be_retried",
                violation_error_message=_(
                    "The payment lead days must be more than the retry interval days: "
                    "otherwise a declined charge could never be retried before its ship "
                    "date and every soft decline would put its subscription on hold."
                ),
            ),
        ]

    def __str__(self):
        return str(_("Continuity parameters"))

    @classmethod
    def load(cls) -> "ContinuityParameters":
        parameters, _created = cls.objects.get_or_create(id=cls.SINGLETON_ID)
        return parameters


class SubscriptionStatus(models.TextChoices):
    # A context of their own: in French, "abonnement" takes masculine adjectives where
    # orders and shipments take feminine ones.
    ACTIVE = "active", pgettext_lazy("subscription status", "Active")
    ON_HOLD = "on_hold", pgettext_lazy("subscription status", "On hold")
    CANCELLED = "cancelled", pgettext_lazy("subscription status", "Cancelled")
    COMPLETED = "completed", pgettext_lazy("subscription status", "Completed")


class HoldReason(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    CARD_EXPIRED = "card_expired", _("Card expired")
    AGENT = "agent", _("Agent")


SUBSCRIPTION_STATUS = StatusMachine(
    SubscriptionStatus,
    {
        SubscriptionStatus.ACTIVE: {
            SubscriptionStatus.ON_HOLD,
            SubscriptionStatus.CANCELLED,
            SubscriptionStatus.COMPLETED,
        },
        SubscriptionStatus.ON_HOLD: {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED},
        SubscriptionStatus.CANCELLED: {SubscriptionStatus.ACTIVE},
        SubscriptionStatus.COMPLETED: set(),
    },
)


class Subscription(models.Model):
    """A customer's copy of a program, made when the order selling it is submitted."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    parent_order = models.ForeignKey(
        "orders.SalesOrder",
        verbose_name=_("parent order"),
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    # One subscription per continuity order line: the one-to-one is a unique constraint.
    parent_line = models.OneToOneField(
        "orders.SalesOrderLine",
        verbose_name=_("parent order line"),
        on_delete=models.PROTECT,
        related_name="subscription",
    )
    program = models.ForeignKey(
        ContinuityProgram,
        verbose_name=_("continuity program"),
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    item = models.ForeignKey(
        "orders.Item",
        verbose_name=_("continuity item"),
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    start_date = models.DateField(_("start date"))
    first_shipment_date = models.DateField(_("first shipment"))
    open_ended = models.BooleanField(_("until cancelled"), default=False)
    # The program as it was sold (continuity.selectors.ProgramPlan): events and prices
    # copied at submit, so editing the program never changes this subscription.
    plan = models.JSONField(_("program as sold"), default=dict, editable=False)
    # Open-ended subscriptions only: occurrences exist for every ship date up to here.
    planned_through = models.DateField(_("planned through"), null=True, blank=True)
    payment_method = models.ForeignKey(
        "payments.PaymentMethod",
        verbose_name=_("method of payment"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    card = models.ForeignKey(
        "payments.Card", verbose_name=_("card"), on_delete=models.PROTECT, related_name="+"
    )
    ship_to = models.ForeignKey(
        "customers.Address",
        verbose_name=_("ship-to address"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    currency = CurrencyField(_("currency"))
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
    )
    hold_reason = models.CharField(
        _("hold reason"), max_length=16, choices=HoldReason.choices, blank=True
    )
    # A pause is a hold by an agent; with a date, the jobs resume it on that date.
    paused_until = models.DateField(_("paused until"), null=True, blank=True)
    # Days added to the plan's dates for shipments planned later (open-ended programs),
    # after an administrator moved this subscription's future shipments.
    schedule_shift_days = models.IntegerField(_("schedule shift (days)"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="subscription_qty_gt_0"),
            # On hold always says why; no other status carries a hold reason.
            models.CheckConstraint(
                condition=(
                    Q(status=SubscriptionStatus.ON_HOLD) & ~Q(hold_reason="")
                    | ~Q(status=SubscriptionStatus.ON_HOLD) & Q(hold_reason="")
                ),
                name="subscription_hold_reason_iff_on_hold",
            ),
            models.CheckConstraint(
                condition=Q(first_shipment_date__gte=F("start_date")),
                name="subscription_first_shipment_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.parent_order.number} {self.program.code}"


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
        OccurrenceStatus.CHILD_CREATED: set(),
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


class Occurrence(models.Model):
    """One planned shipment of a subscription."""

    subscription = models.ForeignKey(
        Subscription,
        verbose_name=_("subscription"),
        on_delete=models.PROTECT,
        related_name="occurrences",
    )
    sequence = models.PositiveIntegerField(_("shipment"))
    event_number = models.PositiveIntegerField(_("event"))
    ship_date = models.DateField(_("ship date"))
    amount = MoneyField(_("amount"))
    currency = CurrencyField(_("currency"))
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


class OccurrenceLine(models.Model):
    """An item of one shipment, with the price copied when the order was submitted."""

    occurrence = models.ForeignKey(
        Occurrence, verbose_name=_("occurrence"), on_delete=models.CASCADE, related_name="lines"
    )
    line_number = models.PositiveIntegerField(_("line"))
    item = models.ForeignKey(
        "orders.Item", verbose_name=_("item"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
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
                condition=Q(amount=F("quantity") * F("unit_price")),
                name="occurrence_line_amount_is_qty_times_price",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.item.item_number}"


class SubscriptionAction(models.TextChoices):
    SKIP = "skip", _("Skip a shipment")
    RESCHEDULE = "reschedule", _("Change a shipment's date")
    PAUSE = "pause", _("Pause")
    RESUME = "resume", _("Resume")
    CHANGE_CARD = "change_card", _("Change the card")
    CHANGE_SHIP_TO = "change_ship_to", _("Change the ship-to address")
    CANCEL = "cancel", pgettext_lazy("subscription action", "Cancel")
    REACTIVATE = "reactivate", _("Reactivate")


class ReasonCode(models.Model):
    """Why an agent changed a subscription: the list is kept in the admin."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    label_en = models.CharField(_("label (English)"), max_length=100)
    label_fr = models.CharField(_("label (French)"), max_length=100)
    # The actions the reason fits; empty: every action.
    actions = models.JSONField(_("actions"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("reason code")
        verbose_name_plural = _("reason codes")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="reason_code_not_empty"),
        ]

    def __str__(self):
        return f"{self.code} {self.label}"

    @property
    def label(self) -> str:
        """The label in the active language."""
        return self.label_fr if (get_language() or "en").startswith("fr") else self.label_en

    def fits(self, action: str) -> bool:
        return not self.actions or action in self.actions


class MoneyAudit(models.Model):
    """One comparison of our books with themselves and with the gateway's ledger
    (continuity.money_audit): made by `manage.py audit_money`, nightly by beat, and at the
    end of every payment run. Its findings are listed on the payment exceptions page."""

    source = models.CharField(_("made by"), max_length=60)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    # The gateway's ledger was compared from here on (None: all of it).
    ledger_since = models.DateTimeField(_("ledger compared since"), null=True, blank=True)
    finding_count = models.PositiveIntegerField(_("findings"), default=0)
    # [{"kind": ..., "subject": ..., "detail": ..., "occurrence": id, "payment": id}]
    findings = models.JSONField(_("findings"), default=list, blank=True)
    # What was looked at: {"shipments": n, "payments": n, "ledger_entries": n, ...}
    checked = models.JSONField(_("checked"), default=dict, blank=True)

    class Meta:
        verbose_name = _("money audit")
        verbose_name_plural = _("money audits")
        ordering = ["-id"]

    def __str__(self):
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M}: {self.finding_count}"
