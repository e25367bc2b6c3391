"""Celery tasks of the continuity app (beat schedules them; see the migrations)."""

import datetime

from celery import shared_task
from django.utils import timezone

from continuity.money_audit import money_audit


@shared_task(name="continuity.audit_money")
def audit_money() -> int:
    """Nightly: our books against themselves and the gateway's ledger of the last two
    days (a payment run audits its own day); the findings show on the payment
    exceptions page and in the API. Returns the number of findings."""
    since = timezone.now() - datetime.timedelta(days=2)
    return money_audit(source="nightly", ledger_since=since).finding_count
