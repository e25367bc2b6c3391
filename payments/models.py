import calendar
import datetime

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.money import CurrencyField, MoneyField
from core.services import StatusMachine
from payments.gateways.base import DeclineCode


class CardBrand(models.TextChoices):
    VISA = "visa", "Visa"
    MASTERCARD = "mastercard", "Mastercard"
    AMEX = "amex", "American Express"
    DISCOVER = "discover", "Discover"


class PaymentMethodKind(models.TextChoices):
    CARD = "card", _("Card")
    ON_ACCOUNT = "on_account", _("On account")


class PaymentMethod(models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(
        _("kind"), max_length=12, choices=PaymentMethodKind.choices, default=PaymentMethodKind.CARD
    )
    card_brand = models.CharField(
        _("card brand"),
        max_length=12,
        choices=CardBrand.choices,
        blank=True,
        help_text=_("Cards of this brand only; empty accepts any brand."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("method of payment")
        verbose_name_plural = _("methods of payment")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="payment_method_code_not_empty"),
            models.CheckConstraint(
                condition=Q(kind=PaymentMethodKind.CARD) | Q(card_brand=""),
                name="payment_method_brand_only_for_cards",
            ),
        ]

    def __str__(self):
        return self.code


class Card(models.Model):
    """A tokenized card. The gateway holds the number; we keep only what an agent may see."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="cards",
    )
    token = models.CharField(_("gateway token"), max_length=64, unique=True)
    brand = models.CharField(_("brand"), max_length=12, choices=CardBrand.choices)
    last4 = models.CharField(_("last four digits"), max_length=4)
    expiry_month = models.PositiveSmallIntegerField(_("expiration month"))
    expiry_year = models.PositiveSmallIntegerField(_("expiration year"))
    name_on_card = models.CharField(_("name on card"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["customer", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last4__regex=r"^[0-9]{4}$"), name="card_last4_digits"
            ),
            models.CheckConstraint(
                condition=Q(expiry_month__gte=1, expiry_month__lte=12),
                name="card_expiry_month_1_12",
            ),
            models.CheckConstraint(
                condition=Q(expiry_year__gte=2000, expiry_year__lte=2199),
                name="card_expiry_year_4_digits",
            ),
        ]

    def __str__(self):
        return f"{self.get_brand_display()} •••• {self.last4}"

    @property
    def expires_on(self) -> datetime.date:
        """The last day the card can be charged."""
        last_day = calendar.monthrange(self.expiry_year, self.expiry_month)[1]
        return datetime.date(self.expiry_year, self.expiry_month, last_day)

    def is_expired_on(self, day: datetime.date) -> bool:
        return day > self.expires_on


class PaymentOperation(models.TextChoices):
    SALE = "sale", _("Sale")
    REFUND = "refund", _("Refund")
    VOID = "void", _("Void")


class PaymentStatus(models.TextChoices):
    # The row and its idempotency key are committed before the gateway is called: a
    # pending payment is one whose answer we have not recorded (in flight, or the process
    # died), and it is looked up at the gateway before any new attempt.
    PENDING = "pending", pgettext_lazy("payment status", "Pending")
    APPROVED = "approved", pgettext_lazy("payment status", "Approved")
    DECLINED = "declined", pgettext_lazy("payment status", "Declined")
    UNKNOWN = "unknown", pgettext_lazy("payment status", "Unknown")
    REFUNDED = "refunded", pgettext_lazy("payment status", "Refunded")
    VOIDED = "voided", pgettext_lazy("payment status", "Voided")


PAYMENT_STATUS = StatusMachine(
    PaymentStatus,
    {
        PaymentStatus.PENDING: {
            PaymentStatus.APPROVED,
            PaymentStatus.DECLINED,
            PaymentStatus.UNKNOWN,
        },
        PaymentStatus.UNKNOWN: {PaymentStatus.APPROVED, PaymentStatus.DECLINED},
        PaymentStatus.APPROVED: {PaymentStatus.REFUNDED, PaymentStatus.VOIDED},
        PaymentStatus.DECLINED: set(),
        PaymentStatus.REFUNDED: set(),
        PaymentStatus.VOIDED: set(),
    },
)

# A sale in one of these states has charged, or may have charged, the card.
LIVE_SALE_STATUSES = [PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.APPROVED]

# A payment in one of these states has no recorded answer: it must be looked up at the
# gateway (by its key) before anything else is sent for the same charge or reversal.
UNANSWERED_STATUSES = [PaymentStatus.PENDING, PaymentStatus.UNKNOWN]

# A sale in one of these states took the customer's money. Its refunds are rows of their
# own (a refunded sale was approved first); a voided sale never settled.
CAPTURED_STATUSES = [PaymentStatus.APPROVED, PaymentStatus.REFUNDED]

# A refund or void in one of these states has given, or may have given, money back.
LIVE_REVERSAL_STATUSES = [PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.APPROVED]

REVERSAL_OPERATIONS = [PaymentOperation.REFUND, PaymentOperation.VOID]


class DeclineClass(models.TextChoices):
    SOFT = "soft", _("Soft (may be retried)")
    HARD = "hard", _("Hard (do not retry)")


class Payment(models.Model):
    """One call to the gateway (a sale, refund or void) and what it answered."""

    sales_order = models.ForeignKey(
        "orders.SalesOrder",
        verbose_name=_("sales order"),
        on_delete=models.PROTECT,
        related_name="payments",
    )
    occurrence = models.ForeignKey(
        "continuity.Occurrence",
        verbose_name=_("occurrence"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="payments",
    )
    method = models.ForeignKey(
        PaymentMethod,
        verbose_name=_("method of payment"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    card = models.ForeignKey(
        Card,
        verbose_name=_("card"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    original = models.ForeignKey(
        "self",
        verbose_name=_("original sale"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
    )
    operation = models.CharField(
        _("operation"),
        max_length=8,
        choices=PaymentOperation.choices,
        default=PaymentOperation.SALE,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    amount = MoneyField(_("amount"))
    currency = CurrencyField(_("currency"))
    attempt_number = models.PositiveIntegerField(_("attempt"), default=1)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    gateway_reference = models.CharField(_("gateway reference"), max_length=64, blank=True)
    decline_code = models.CharField(_("decline code"), max_length=40, blank=True)
    decline_class = models.CharField(
        _("decline class"), max_length=4, choices=DeclineClass.choices, blank=True
    )
    message = models.CharField(_("message"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    # Claims on the key while its answer is not recorded (docs/money.md, "Who talks to
    # the gateway"). A process sends the key only while its sending claim runs, and
    # several may (the gateway answers one key once). Settling the key without sending it
    # (a supervisor's "mark declined" on a key the gateway never saw) needs every sending
    # claim to have run out and holds the settling claim, which no sender may cross.
    # Both run for PAYMENT_GATEWAY_CLAIM_SECONDS, longer than any gateway call may take.
    sending_until = models.DateTimeField(_("sent until"), null=True, blank=True)
    settling_until = models.DateTimeField(_("settled until"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="payment_idempotency_key_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(
                condition=~Q(idempotency_key=""), name="payment_idempotency_key_not_empty"
            ),
            # One sale that has (or may have) charged an occurrence: a second attempt can
            # only be made once the first is known to be declined.
            models.UniqueConstraint(
                fields=["occurrence"],
                condition=Q(operation=PaymentOperation.SALE, status__in=LIVE_SALE_STATUSES),
                name="payment_one_live_sale_per_occurrence",
            ),
            # The same for the sale taken when an order is submitted.
            models.UniqueConstraint(
                fields=["sales_order"],
                condition=Q(
                    operation=PaymentOperation.SALE,
                    occurrence__isnull=True,
                    status__in=LIVE_SALE_STATUSES,
                ),
                name="payment_one_live_sale_per_order",
            ),
            models.CheckConstraint(
                condition=Q(operation=PaymentOperation.SALE) | Q(original__isnull=False),
                name="payment_reversal_has_original",
            ),
            models.CheckConstraint(
                condition=~Q(status=PaymentStatus.DECLINED) | ~Q(decline_code=""),
                name="payment_declined_has_code",
            ),
            models.CheckConstraint(
                condition=~Q(operation=PaymentOperation.SALE) | Q(original__isnull=True),
                name="payment_sale_has_no_original",
            ),
            # Only a sale is refunded or voided; a refund or void ends approved or declined.
            models.CheckConstraint(
                condition=Q(operation=PaymentOperation.SALE)
                | ~Q(status__in=[PaymentStatus.REFUNDED, PaymentStatus.VOIDED]),
                name="payment_reversal_not_reversed",
            ),
            # One refund or void of a sale at a time while its answer is not recorded: the
            # amount still refundable is only known once the one in flight is answered.
            models.UniqueConstraint(
                fields=["original"],
                condition=Q(operation__in=REVERSAL_OPERATIONS, status__in=UNANSWERED_STATUSES),
                name="payment_one_unanswered_reversal_per_sale",
            ),
            # A shipment is refunded once per sale that paid it: one refund pending,
            # unknown or approved for each (sale, shipment). A refund the gateway
            # declined may be asked for again.
            models.UniqueConstraint(
                fields=["original", "occurrence"],
                condition=Q(
                    operation=PaymentOperation.REFUND,
                    status__in=LIVE_REVERSAL_STATUSES,
                    occurrence__isnull=False,
                ),
                name="payment_one_refund_per_shipment_and_sale",
            ),
            # A sale is voided at most once: one void pending, unknown or approved.
            models.UniqueConstraint(
                fields=["original"],
                condition=Q(operation=PaymentOperation.VOID, status__in=LIVE_SALE_STATUSES),
                name="payment_one_live_void_per_sale",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="payment_status_idx"),
        ]

    def __str__(self):
        return f"{self.get_operation_display()} {self.amount} {self.currency} ({self.status})"

    @property
    def decline_reason(self) -> str:
        """What an agent is told about a decline, in the active language."""
        try:
            return DeclineCode(self.decline_code).reason
        except ValueError:
            return self.message
