"""The large-data generator of the batch benchmark writes subscriptions the jobs treat
exactly like sold ones (it writes with COPY, so a new column must be known to it)."""

import datetime

import pytest
from django.core.management import call_command

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from continuity.models import Occurrence, Subscription
from core.actors import Actor
from tests.batch.conftest import on_day

pytestmark = pytest.mark.django_db(transaction=True)


def test_generated_subscriptions_get_their_child_orders_and_charges(demo, today, capsys):
    call_command("generate_continuity_load", "--count", "20", "--start-date", today.isoformat())
    generated = Subscription.objects.filter(customer__account_number__startswith="L")
    assert generated.count() == 20

    children = batch_run_inline(
        batch_run_request(job=BatchJob.CREATE_CHILD_ORDERS, actor=Actor.job("t"), run_date=today)
    )
    second = Occurrence.objects.filter(subscription__in=generated, sequence=2).first()
    run_date = second.ship_date - datetime.timedelta(days=5)
    with on_day(run_date):
        payments = batch_run_inline(
            batch_run_request(
                job=BatchJob.PROCESS_PAYMENTS, actor=Actor.job("t"), run_date=run_date
            )
        )

    assert (children.summary["created"], children.error_count) == (20, 0)
    assert (payments.summary["paid"], payments.error_count) == (20, 0)
    # The money audit at the end of the payment run finds the generated books as right as
    # those of sold orders: each shipment paid at submit has its allocation of the sale.
    assert payments.summary["money_audit_findings"] == 0
