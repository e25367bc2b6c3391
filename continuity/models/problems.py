"""Why a run left a due shipment as it was: the one vocabulary of the payment job, the
child-order job, their run pages, the API and the stored run problems."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ShipmentProblem(models.TextChoices):
    # Not ordered: its charge is still to come, was declined, or cannot be made.
    AWAITING_PAYMENT = "awaiting_payment", _("awaiting payment")
    PAYMENT_DECLINED = "payment_declined", _("payment declined")
    CARD_EXPIRED = "card_expired", _("card expired")
    ON_HOLD = "on_hold", _("on hold")
    # Beyond the run's limit: the next run takes it.
    LIMIT_REACHED = "limit_reached", _("run limit reached")
    # Not charged: declined now (retried later), waiting behind an earlier unpaid
    # shipment, or sent without an answer (reconcile settles it).
    DECLINED = "declined", _("declined, will be retried")
    DEFERRED = "deferred", _("waits for an earlier shipment")
    UNKNOWN = "unknown", _("outcome unknown")
    ERROR = "error", _("error")
