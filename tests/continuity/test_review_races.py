"""Interleavings found by reading the code again, each with two real connections (the
test's own and a thread's), each leaving the books as they should be."""

import datetime
import threading

import pytest

import continuity.subscription_actions.pause as pause_module
from continuity.models import (
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.subscription_actions.pause import (
    subscription_pause,
    subscription_resume,
    subscriptions_resume_due,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from payments.models import Payment, PaymentOperation, PaymentStatus
from payments.services import payment_reconcile
from tests.continuity.test_money_findings import in_thread

ACTOR = Actor.job("test")
race = pytest.mark.django_db(transaction=True)


@race
def test_an_automatic_resume_read_before_an_agent_paused_again_keeps_the_new_pause(
    sell, monkeypatch
):
    subscription = Subscription.objects.get(parent_order=sell())
    today = business_date()
    subscription_pause(
        subscription_id=subscription.pk,
        actor=ACTOR,
        reason_code="TRAVEL",
        until=today + datetime.timedelta(days=1),
    )
    # Its date has come (as the next morning would have it).
    Subscription.objects.filter(pk=subscription.pk).update(paused_until=today)
    # The job has read the pauses due; it waits before it takes the row's lock.
    read, go = threading.Event(), threading.Event()
    real_resume = pause_module.subscription_resume

    def resume_after_the_agent(**kwargs):
        read.set()
        assert go.wait(10)
        return real_resume(**kwargs)

    monkeypatch.setattr(pause_module, "subscription_resume", resume_after_the_agent)
    thread, outcome = in_thread(lambda: subscriptions_resume_due(actor=Actor.job("resume")))
    assert read.wait(10)
    # Meanwhile, on this connection, an agent resumes and pauses again, for a month.
    subscription_resume(subscription_id=subscription.pk, actor=ACTOR, reason_code="WINBACK")
    later = today + datetime.timedelta(days=30)
    subscription_pause(
        subscription_id=subscription.pk, actor=ACTOR, reason_code="TRAVEL", until=later
    )
    go.set()
    thread.join(20)

    assert outcome == {"value": 0}
    subscription.refresh_from_db()
    assert (subscription.status, subscription.hold_reason, subscription.paused_until) == (
        SubscriptionStatus.ON_HOLD,
        HoldReason.AGENT,
        later,
    )


@race
def test_a_sale_the_state_machine_cannot_settle_is_refused_by_reconcile_not_crashed(sell):
    """A cancelled shipment that still holds an unanswered sale (rows from before
    shipments showed their charges in flight): settling it would move a cancelled
    shipment to charging, which its state machine refuses. Reconcile says so, one line
    for that payment, and leaves the rows as they were."""
    order = sell()
    stale = Occurrence.objects.filter(subscription__parent_order=order).get(sequence=2)
    sale = Payment.objects.get(sales_order=order, operation=PaymentOperation.SALE)
    sale.pk = None
    sale.idempotency_key = f"{sale.idempotency_key}-stale"
    sale.status = PaymentStatus.PENDING
    sale.occurrence = stale
    sale.save()
    Occurrence.objects.filter(pk=stale.pk).update(status=OccurrenceStatus.CANCELLED)

    with pytest.raises(Conflict, match=rf"^The sale of shipment {stale.pk} cannot be settled: "):
        payment_reconcile(payment_id=sale.pk, actor=ACTOR)

    stale.refresh_from_db()
    sale.refresh_from_db()
    assert (stale.status, sale.status) == (OccurrenceStatus.CANCELLED, PaymentStatus.PENDING)
