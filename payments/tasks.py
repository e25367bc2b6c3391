"""Celery tasks of the payments app (beat schedules them; see the migrations)."""

import datetime

from celery import shared_task

from core.actors import Actor
from core.errors import ServiceError
from payments.selectors import payment_unanswered_list
from payments.services import payment_reconcile


@shared_task(name="payments.reconcile_unanswered")
def reconcile_unanswered(older_than_seconds: int = 300) -> dict[str, int]:
    """Every 15 minutes: look up every payment whose answer was never recorded and
    record what the gateway says, whatever the state of its order or subscription."""
    actor = Actor.job("reconcile")
    counts: dict[str, int] = {}
    older_than = datetime.timedelta(seconds=older_than_seconds)
    for payment in payment_unanswered_list(older_than=older_than):
        try:
            status = payment_reconcile(payment_id=payment.pk, actor=actor).status
        except ServiceError:
            status = "failed"
        counts[status] = counts.get(status, 0) + 1
    return counts
