"""What is sold: a program, its events (one or more shipments each) and their items."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from continuity.scheduling import EventAction, EventSpec, IntervalUnit
from core import limits
from core.limits import validate_quantity
from core.money import MoneyField


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
        _("days after order date to the first shipment"),
        default=0,
        validators=[MaxValueValidator(limits.SCHEDULE_DAYS_MAX)],
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


class ProgramEvent(models.Model):
    program = models.ForeignKey(
        ContinuityProgram,
        verbose_name=_("continuity program"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    event_number = models.PositiveIntegerField(
        _("event"), validators=[MaxValueValidator(limits.EVENT_NUMBER_MAX)]
    )
    interval_count = models.PositiveIntegerField(
        _("interval"),
        default=1,
        help_text=_("Time from the previous shipment."),
        validators=[MaxValueValidator(limits.INTERVAL_MAX)],
    )
    interval_unit = models.CharField(
        _("unit"), max_length=6, choices=IntervalUnit.choices, default=IntervalUnit.MONTHS
    )
    repeat_count = models.PositiveIntegerField(
        _("repeat"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(limits.REPEAT_MAX)],
        help_text=_("Number of shipments of this event; empty: until cancelled (last event only)."),
    )
    action = models.CharField(
        _("action"), max_length=6, choices=EventAction.choices, default=EventAction.NORMAL
    )
    delivery_mode = models.ForeignKey(
        "orders.DeliveryMode",
        verbose_name=_("delivery mode"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The shipments of this event go by this mode. Empty: the order's mode."),
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
    quantity = models.PositiveIntegerField(_("quantity"), default=1, validators=[validate_quantity])
    # The check constraint below, as a field error the admin shows at the field.
    unit_price = MoneyField(_("price"), validators=[MinValueValidator(0)])

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
