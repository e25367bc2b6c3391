from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core import limits


class ChildOrderRelease(models.TextChoices):
    """When the child-order job hands a child order to the warehouse."""

    AT_CREATION = "at_creation", _("When the child order is created")
    BEFORE_SHIP_DATE = "before_ship_date", _("Release lead days before the ship date")
    BY_SUPERVISOR = "by_supervisor", _("Only when a supervisor releases it")


class ContinuityParameters(models.Model):
    """The one row of continuity settings (the admin shows it as a single form)."""

    SINGLETON_ID = 1

    child_order_lead_days = models.PositiveIntegerField(
        _("child-order lead days"),
        default=0,
        help_text=_("Create a child order this many days before its ship date."),
        validators=[MaxValueValidator(limits.SCHEDULE_DAYS_MAX)],
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
        validators=[MaxValueValidator(limits.SCHEDULE_DAYS_MAX)],
    )
    # Until it is released, a child order can still be cancelled with its shipment (and
    # the shipment's charge refunded); once released, the warehouse may be picking it.
    child_order_release = models.CharField(
        _("release child orders"),
        max_length=20,
        choices=ChildOrderRelease.choices,
        default=ChildOrderRelease.AT_CREATION,
    )
    release_lead_days = models.PositiveIntegerField(
        _("release lead days"),
        default=2,
        help_text=_(
            "With release before the ship date: release a child order this many days "
            "before its ship date."
        ),
        validators=[MaxValueValidator(limits.SCHEDULE_DAYS_MAX)],
    )
    max_child_orders_per_run = models.PositiveIntegerField(
        _("maximum child orders per run"),
        default=100_000,
        validators=[MaxValueValidator(limits.CHILD_ORDERS_PER_RUN_MAX)],
    )
    reauthorization_limit = models.PositiveIntegerField(
        _("reauthorization limit"),
        default=3,
        help_text=_("Charge attempts for one shipment before its subscription is put on hold."),
        validators=[MaxValueValidator(limits.CHARGE_ATTEMPTS_MAX)],
    )
    retry_interval_days = models.PositiveIntegerField(
        _("retry interval days"),
        default=2,
        help_text=_("Days between charge attempts."),
        validators=[MaxValueValidator(limits.SCHEDULE_DAYS_MAX)],
    )
    materialisation_horizon_days = models.PositiveIntegerField(
        _("materialisation horizon days"),
        default=90,
        help_text=_("How far ahead shipments of open-ended programs are planned."),
        validators=[MaxValueValidator(limits.HORIZON_DAYS_MAX)],
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
