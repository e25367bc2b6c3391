"""The priced fields that sales orders, their lines and continuity shipments share: what a
document's price (orders.pricing.DocumentPrice) stores on the rows it prices, so that the
amounts shown, charged and refunded later are read, never computed again."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _

from core.money import ZERO, MoneyField
from orders.tax.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS


def tax_rate_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name,
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        default=ZERO,
        db_default=ZERO,
        help_text=_("A percentage: 10.2500 is 10.25 %."),
        **kwargs,
    )


class PricedDocument(models.Model):
    """A document's totals as priced: subtotal (goods as priced), its delivery charge line
    and that line's tax, the tax of every line, and whether prices include tax. The total
    (on the concrete model: an order's `total`, a shipment's `amount`) is the sum of the
    lines' gross amounts."""

    subtotal = MoneyField(_("subtotal"), default=0, db_default=ZERO)
    delivery_amount = MoneyField(_("delivery"), default=0, db_default=ZERO)
    delivery_tax_rate = tax_rate_field(_("delivery tax rate"))
    delivery_tax_amount = MoneyField(_("delivery tax"), default=0, db_default=ZERO)
    tax_amount = MoneyField(
        _("tax"), default=0, db_default=ZERO, help_text=_("Every line's tax, delivery's too.")
    )
    prices_include_tax = models.BooleanField(
        _("prices include tax"), default=False, db_default=False
    )
    tax_jurisdiction = models.CharField(
        _("tax jurisdiction"),
        max_length=120,
        blank=True,
        db_default="",
        help_text=_("Where the tax was collected, as the receipt shows it. Empty: no tax."),
    )

    # The concrete model's total: an order's `total`, a shipment's `amount`.
    TOTAL_FIELD = "total"

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # A document saved with a total and no parts was not priced (a row written by hand,
        # an admin's fix): untaxed and without delivery, its total is all goods. Priced
        # documents set their parts (price_set) and are left as they are.
        total = getattr(self, self.TOTAL_FIELD)
        if total and not (self.subtotal or self.delivery_amount or self.tax_amount):
            self.subtotal = total
        super().save(*args, **kwargs)

    def price_set(self, price) -> None:
        """Copy a DocumentPrice's totals onto this row (the caller saves it)."""
        self.subtotal = price.subtotal
        self.delivery_amount = price.delivery
        self.delivery_tax_rate = price.delivery_tax_rate
        self.delivery_tax_amount = price.delivery_tax_amount
        self.tax_amount = price.tax
        self.prices_include_tax = price.prices_include_tax
        self.tax_jurisdiction = price.jurisdiction

    PRICE_FIELDS = (
        "subtotal",
        "delivery_amount",
        "delivery_tax_rate",
        "delivery_tax_amount",
        "tax_amount",
        "prices_include_tax",
        "tax_jurisdiction",
    )


def total_adds_up(total_field: str, name: str) -> models.CheckConstraint:
    """The database's own check that a document's total is its parts: subtotal + delivery
    + tax where prices exclude tax, subtotal + delivery where they include it.

    The sums are rounded to the cent: exact on PostgreSQL's numeric already, and what
    makes SQLite (`make run`), which adds decimals as floats, see 17.99 + 5.95 + 2.45 as
    26.39."""
    without_tax = Round(F("subtotal") + F("delivery_amount") + F("tax_amount"), 2)
    with_tax = Round(F("subtotal") + F("delivery_amount"), 2)
    return models.CheckConstraint(
        condition=(
            Q(prices_include_tax=False, **{total_field: without_tax})
            | Q(prices_include_tax=True, **{total_field: with_tax})
        ),
        name=name,
    )


def parts_not_negative(prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(subtotal__gte=0), name=f"{prefix}_subtotal_gte_0"),
        models.CheckConstraint(
            condition=Q(delivery_amount__gte=0), name=f"{prefix}_delivery_gte_0"
        ),
        models.CheckConstraint(
            condition=Q(delivery_tax_amount__gte=0) & Q(delivery_tax_amount__lte=F("tax_amount")),
            name=f"{prefix}_delivery_tax_within_tax",
        ),
        models.CheckConstraint(condition=Q(tax_amount__gte=0), name=f"{prefix}_tax_gte_0"),
    ]


class PricedLine(models.Model):
    """A line's tax as computed when its document was priced."""

    tax_group = models.CharField(_("tax group"), max_length=20, blank=True, db_default="")
    tax_rate = tax_rate_field(_("tax rate"), null=True, blank=True)
    tax_amount = MoneyField(_("tax"), default=0, db_default=ZERO)
    # Where this line's tax was collected: one place for every line of a document taxed
    # by the table provider; an external provider may tax a line elsewhere (docs/tax.md).
    tax_jurisdiction = models.CharField(
        _("tax jurisdiction"), max_length=120, blank=True, db_default=""
    )
    gross_amount = MoneyField(
        _("amount with tax"), default=0, help_text=_("The line's amount with its tax.")
    )

    TAX_FIELDS = ("tax_group", "tax_rate", "tax_amount", "tax_jurisdiction", "gross_amount")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # A line saved before its document was priced is untaxed: its gross is its amount
        # (bulk writers set it themselves).
        if not self.tax_amount and not self.gross_amount and self.amount:
            self.gross_amount = self.amount
        super().save(*args, **kwargs)

    def tax_set(self, line_tax) -> None:
        self.tax_group = line_tax.tax_group
        self.tax_rate = line_tax.rate
        self.tax_amount = line_tax.tax
        self.tax_jurisdiction = line_tax.jurisdiction
        self.gross_amount = line_tax.gross


def amount_of_quantity():
    """A line's quantity x unit price, rounded to the cent (total_adds_up: SQLite's
    7 x 17.99 is not 125.93 until it is)."""
    return Round(F("quantity") * F("unit_price"), 2)


def line_tax_not_negative(prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(tax_amount__gte=0), name=f"{prefix}_tax_gte_0"),
        # The gross is the amount (prices with tax) or the amount plus its tax (without).
        models.CheckConstraint(
            # Rounded to the cent for SQLite's float sums (total_adds_up).
            condition=Q(gross_amount=F("amount"))
            | Q(gross_amount=Round(F("amount") + F("tax_amount"), 2)),
            name=f"{prefix}_gross_is_amount_with_tax",
        ),
    ]
