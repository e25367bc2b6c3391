"""A customer's subscription to a program, the actions agents take on it and their
reasons."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from continuity.models.program import ContinuityProgram
from core.formatting import in_language
from core.limits import validate_business_date, validate_quantity
from core.money import CurrencyField
from core.services import StatusMachine


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
# Still running: its shipments may yet be charged and ordered.
RUNNING_SUBSCRIPTIONS = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.ON_HOLD})
# Over: nothing more is charged or sent (a cancelled one may be reactivated).
ENDED_SUBSCRIPTIONS = frozenset({SubscriptionStatus.CANCELLED, SubscriptionStatus.COMPLETED})


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
    quantity = models.PositiveIntegerField(_("quantity"), default=1, validators=[validate_quantity])
    start_date = models.DateField(_("start date"), validators=[validate_business_date])
    first_shipment_date = models.DateField(_("first shipment"))
    open_ended = models.BooleanField(_("until cancelled"), default=False)
    # The program as it was sold (continuity.planning.ProgramPlan): events and prices
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
    paused_until = models.DateField(
        _("paused until"), null=True, blank=True, validators=[validate_business_date]
    )
    # Days added to the plan's dates for shipments planned later (open-ended programs),
    # after an administrator moved this subscription's future shipments.
    schedule_shift_days = models.IntegerField(_("schedule shift (days)"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-id"]
        indexes = [
            # The sales-orders lookup of one item (continuity.lookups): its parent orders,
            # newest first.
            models.Index(fields=["item", "-parent_order"], name="subscription_item_order_idx"),
        ]
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
        return in_language(self.label_en, self.label_fr)

    def fits(self, action: str) -> bool:
        return not self.actions or action in self.actions
