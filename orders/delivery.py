"""Delivery modes and the delivery charge rule (docs/delivery.md).

A delivery mode is chosen by its code, like a method of payment; its charge rule is one of
three kinds, with an optional amount of goods from which delivery is free. The rule is a
pure function of the mode and the document it is charged on, so that the order page, the
batch jobs and the tests compute the same delivery charge from the same numbers.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from core.formatting import in_language
from core.money import ZERO, MoneyField, round_half_up


class DeliveryChargeKind(models.TextChoices):
    PER_ORDER = "per_order", _("Flat per order")
    PER_SHIPMENT = "per_shipment", _("Flat per shipment")
    PER_UNIT = "per_unit", _("Per unit")


class DeliveryMode(models.Model):
    # Agents type the code, in any case, as they type a method of payment: the codes are
    # unique whatever their case, so that a typed code names one mode only.
    code = models.CharField(_("code"), max_length=20)
    name_en = models.CharField(_("name (English)"), max_length=60)
    name_fr = models.CharField(_("name (French)"), max_length=60)
    active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(
        _("default"),
        default=False,
        help_text=_("The mode of an order that names none. One mode only is the default."),
    )
    charge_kind = models.CharField(
        _("delivery charge"),
        max_length=12,
        choices=DeliveryChargeKind.choices,
        default=DeliveryChargeKind.PER_ORDER,
    )
    amount = MoneyField(
        _("amount"),
        validators=[MinValueValidator(ZERO)],
        help_text=_("Per order, per shipment or per unit, as the delivery charge says."),
    )
    free_above = MoneyField(
        _("free at or above"),
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text=_(
            "Delivery is free when the goods, as priced (with tax where prices include "
            "it) and before delivery, come to this amount or more. Empty: never free."
        ),
    )

    class Meta:
        verbose_name = _("delivery mode")
        verbose_name_plural = _("delivery modes")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="delivery_mode_code_not_empty"),
            models.UniqueConstraint(
                Upper("code"),
                name="delivery_mode_code_unique",
                violation_error_message=_(
                    "A delivery mode with this code already exists (in upper or lower case)."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(name_en="") & ~Q(name_fr=""), name="delivery_mode_names_not_empty"
            ),
            # At most one default, whatever code path writes; "at least one" is the
            # administrator's to keep (an order that names no mode needs one to be priced).
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="delivery_mode_one_default",
                violation_error_message=_(
                    "Another delivery mode is already the default: untick Default on that "
                    "mode first."
                ),
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(active=True),
                name="delivery_mode_default_is_active",
                violation_error_message=_("The default delivery mode must be active."),
            ),
            models.CheckConstraint(
                condition=Q(charge_kind__in=DeliveryChargeKind.values),
                name="delivery_mode_charge_kind_known",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="delivery_mode_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(free_above__isnull=True) | Q(free_above__gte=0),
                name="delivery_mode_free_above_gte_0",
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def name(self) -> str:
        """The name in the active language."""
        return in_language(self.name_en, self.name_fr)


# --- The rule ------------------------------------------------------------------------------


def _whole_number(value, *, name: str, minimum: int) -> int:
    # bool is an int: True is not one shipment.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def delivery_charge(
    mode: DeliveryMode,
    *,
    goods_amount: Decimal,
    units: int,
    shipments: int = 1,
    currency: str | None = None,
) -> Decimal:
    """The delivery charge of one billed document (an order, or a child order).

    goods_amount: the document's goods as priced (before tax where prices exclude it, tax
    included where they include it), before delivery; it is what the mode's free_above is
    compared with (free at or above it), as the customer reads the shelf.
    units: the units of goods the document ships (the per-unit rule multiplies them).
    shipments: the program shipments the document pays for (the per-shipment rule
    multiplies them): 1 for a child order of one shipment or a regular order, the number
    of shipments consolidated into one child order, or every shipment of a program billed
    up front.
    A per-order charge is the mode's amount once, whatever the shipments.
    """
    if not isinstance(goods_amount, Decimal) or not goods_amount.is_finite():
        raise TypeError(f"goods_amount must be a finite Decimal, not {goods_amount!r}")
    if goods_amount < 0:
        raise ValueError(f"goods_amount must not be negative, not {goods_amount}")
    _whole_number(units, name="units", minimum=0)
    _whole_number(shipments, name="shipments", minimum=1)
    if mode.free_above is not None and goods_amount >= mode.free_above:
        return ZERO
    multiplier = {
        DeliveryChargeKind.PER_ORDER: 1,
        DeliveryChargeKind.PER_SHIPMENT: shipments,
        DeliveryChargeKind.PER_UNIT: units,
    }.get(mode.charge_kind)
    if multiplier is None:
        raise ValueError(f"unknown delivery charge kind {mode.charge_kind!r}")
    # The one money rounding rule (core.money, as the tax): exact already for amounts of
    # the money columns times whole numbers.
    return round_half_up(mode.amount * multiplier, currency or settings.CURRENCY)


# --- Reads ---------------------------------------------------------------------------------


def delivery_mode_default() -> DeliveryMode | None:
    """The mode of an order that names none; None when the administrator set none."""
    return DeliveryMode.objects.filter(is_default=True).first()


def delivery_mode_get_by_code(code: str) -> DeliveryMode:
    """The active mode an agent typed the code of, in any case; a ValidationError on
    `delivery_mode` otherwise (as a typed method of payment)."""
    code = (code or "").strip()
    if not code:
        raise ValidationError({"delivery_mode": _("Enter a delivery mode.")})
    # A NUL names no code, and PostgreSQL refuses to compare text with one.
    mode = (
        None
        if "\x00" in code
        else DeliveryMode.objects.filter(code__iexact=code, active=True).first()
    )
    if mode is None:
        raise ValidationError(
            {
                "delivery_mode": _("Delivery mode %(code)s does not exist.")
                % {"code": code.replace("\x00", "")}
            }
        )
    return mode
