"""The twelve money findings of the review, each as it was reproduced, each now held.

Races meet at the gateway call: one thread's charge or refund is held "on the wire"
(tests.gated_gateway) while another thread, with its own database connection, acts on
the same subscription. After each scenario the money audit finds nothing.
"""

import datetime
import io
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connections

from batch.models import BatchChunk, BatchJob, BatchRun
from batch.services import (
    batch_chunk_execute,
    batch_run_inline,
    batch_run_plan,
    batch_run_request,
)
from continuity.dunning import payment_unknown_mark_declined
from continuity.models import (
    ContinuityParameters,
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.money_audit import money_audit
from continuity.subscription_actions.cancel import subscription_cancel, subscription_reactivate
from continuity.subscription_actions.card_and_ship_to import subscription_change_card_with_reason
from continuity.subscription_actions.pause import subscription_pause
from continuity.subscription_actions.shipments import subscription_skip_shipment
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from orders.services import sales_order_complete, sales_order_line_add, sales_order_submit
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentOperation, PaymentStatus
from payments.services import PaymentOutcomeUnknown, card_add, payment_refund
from tests.batch.conftest import on_day
from tests.gated_gateway import gateway_gate
from tests.payments.support import SOFT_DECLINE, TIMEOUT_AFTER_CHARGE, TIMEOUT_BEFORE_CHARGE

ACTOR = Actor.job("test")
SUPERVISOR = Actor.job("supervisor")


def audit_findings() -> list[str]:
    audit = money_audit(source="test", save=False)
    return [f"{f['kind']}: {f['subject']}: {f['detail']}" for f in audit.findings]


def shipments(order) -> list[Occurrence]:
    return list(Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence"))


def gateway_sales(occurrence) -> list[bool]:
    return list(
        SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__startswith=f"occurrence-{occurrence.pk}-", operation="sale")
        .order_by("id")
        .values_list("approved", flat=True)
    )


def give_card(subscription, number: str):
    card = card_add(
        customer=subscription.customer,
        card_number=number,
        expiry_month=12,
        expiry_year=business_date().year + 3,
        security_code="737",
        name_on_card=subscription.customer.full_name,
        actor=ACTOR,
    )
    Subscription.objects.filter(pk=subscription.pk).update(card=card)
    return card


def run_payments(run_date=None, **kwargs):
    run = batch_run_request(
        job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date or business_date(), **kwargs
    )
    return batch_run_inline(run)


def in_thread(call):
    """Start `call` in a thread with its own connections; return (thread, outcome)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except Exception as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def second_due_today():
    """Payment lead days long enough that shipment 2 (a month ahead) is due today."""
    ContinuityParameters.objects.update(payment_lead_days=40)


race = pytest.mark.django_db(transaction=True)


# --- 1. Cancel or skip while a batch charge is in flight ---------------------------------


@race
@pytest.mark.parametrize("action", ["cancel", "skip"])
def test_1_cancel_or_skip_during_an_in_flight_charge_is_refused_and_the_charge_is_kept(
    sell, gated_gateway, action
):
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    subscription = second.subscription
    with gateway_gate("sale") as gate:
        worker, outcome = in_thread(run_payments)
        assert gate.reached.wait(10)
        second.refresh_from_db()
        assert second.status == OccurrenceStatus.CHARGING
        with pytest.raises(Conflict, match="being confirmed"):
            if action == "cancel":
                subscription_cancel(
                    subscription_id=subscription.pk, actor=ACTOR, reason_code="CUSTOMER"
                )
            else:
                subscription_skip_shipment(
                    subscription_id=subscription.pk,
                    occurrence_id=second.pk,
                    actor=ACTOR,
                    reason_code="TRAVEL",
                )
        gate.release()
        worker.join(30)
    assert "error" not in outcome
    second.refresh_from_db()
    subscription.refresh_from_db()
    assert (second.status, subscription.status) == (OccurrenceStatus.PAID, "active")
    assert gateway_sales(second) == [True]
    assert audit_findings() == []


# --- 2. Cancel, reactivate, charged again, cancel: the second charge is refunded ---------


@pytest.mark.django_db
def test_2_a_second_charge_after_reactivation_is_refunded_by_the_second_cancel(sell):
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    subscription_id = second.subscription_id
    run_payments()
    first_sale = Occurrence.objects.get(pk=second.pk).payment
    subscription_cancel(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    subscription_reactivate(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    run_payments()
    second.refresh_from_db()
    second_sale = second.payment
    assert second.status == OccurrenceStatus.PAID and second_sale.pk != first_sale.pk

    subscription_cancel(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")

    refunds = Payment.objects.filter(
        occurrence=second, operation=PaymentOperation.REFUND, status=PaymentStatus.APPROVED
    )
    assert sorted(refunds.values_list("original_id", "amount")) == sorted(
        [(first_sale.pk, second.amount), (second_sale.pk, second.amount)]
    )
    assert audit_findings() == []


# --- 3. One shipment refunded twice by two passes that meet ------------------------------


@race
def test_3_two_refund_passes_that_meet_refund_a_shipment_once(sell, demo, gated_gateway):
    """The submit sale pays the first shipment and another line: the skip's refund and a
    payment run's refund pass meet while the first refund is on the wire."""
    from customers.models import Customer
    from orders.services import sales_order_create, sales_order_payment_set

    karen = Customer.objects.get(account_number="004021")
    order = sales_order_create(customer=karen, actor=ACTOR)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=ACTOR)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=ACTOR)
    sales_order_complete(order_id=order.pk, actor=ACTOR)
    card = card_add(
        customer=karen,
        card_number="4242 4242 4242 4242",
        expiry_month=12,
        expiry_year=business_date().year + 3,
        security_code="737",
        name_on_card="Karen Berg",
        actor=ACTOR,
    )
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=ACTOR)
    order = sales_order_submit(order_id=order.pk, actor=ACTOR)
    first = shipments(order)[0]
    sale = Payment.objects.get(sales_order=order, operation=PaymentOperation.SALE)
    assert sale.amount > first.amount  # the sale covers more than the shipment

    with gateway_gate("refund") as gate:
        skipper, skip_outcome = in_thread(
            lambda: subscription_skip_shipment(
                subscription_id=first.subscription_id,
                occurrence_id=first.pk,
                actor=ACTOR,
                reason_code="TRAVEL",
            )
        )
        assert gate.reached.wait(10)
        run_payments()  # its refund pass finds the refund in flight and leaves it
        gate.release()
        skipper.join(30)
    assert "error" not in skip_outcome
    run_payments()  # and once settled, a later pass finds nothing owed
    # A pass that decided the shipment was owed before the first refund landed, and
    # refunds it after: the sale has money left (the other line), the shipment has not.
    with pytest.raises(Conflict):
        payment_refund(payment_id=sale.pk, amount=first.amount, actor=ACTOR, occurrence_id=first.pk)

    refunds = SimulatedTransaction.objects.using("gateway").filter(
        operation="refund", approved=True, idempotency_key__contains=f"-{first.pk}-"
    )
    ours = Payment.objects.filter(
        original=sale, occurrence=first, operation=PaymentOperation.REFUND
    ).exclude(status=PaymentStatus.DECLINED)
    assert [(p.status, p.amount) for p in ours] == [(PaymentStatus.APPROVED, first.amount)]
    assert refunds.count() <= 1
    assert audit_findings() == []


# --- 4. Undercharge: the order cannot change while its sale's answer is unknown ---------


@pytest.mark.django_db
def test_4_an_order_whose_sale_is_unknown_takes_no_new_line_and_is_not_charged_short(demo, actor):
    from tests.payments.support import order_ready

    order = order_ready(actor, TIMEOUT_AFTER_CHARGE)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)
    sale = Payment.objects.get(sales_order=order)
    lines_before = order.lines.count()

    with pytest.raises(Conflict):
        sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    with pytest.raises(Conflict):
        sales_order_complete(order_id=order.pk, actor=actor)

    order.refresh_from_db()
    assert order.lines.count() == lines_before
    sales_order_submit(order_id=order.pk, actor=actor)  # settles the same sale
    sale.refresh_from_db()
    order.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED and sale.amount == order.total
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert audit_findings() == []


# --- 5. Mark declined while the same key is being sent again -----------------------------


@race
def test_5_mark_declined_is_refused_while_the_key_is_on_the_wire(sell, gated_gateway):
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, TIMEOUT_BEFORE_CHARGE)  # the first request is lost
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    sale = second.payment or Payment.objects.get(occurrence=second)

    with gateway_gate("sale") as gate:
        # The next run looks the key up, finds it unseen and sends it again (same key).
        later = datetime.timedelta(seconds=600)
        import time_machine

        with time_machine.travel(datetime.datetime.now(datetime.UTC) + later, tick=True):
            worker, outcome = in_thread(run_payments)
            assert gate.reached.wait(10)
            with pytest.raises(Conflict):
                payment_unknown_mark_declined(
                    occurrence_id=second.pk, actor=SUPERVISOR, reason="gateway says nothing"
                )
            gate.release()
            worker.join(30)
    assert "error" not in outcome
    second.refresh_from_db()
    sale.refresh_from_db()
    assert (second.status, sale.status) == (OccurrenceStatus.PAID, PaymentStatus.APPROVED)
    assert gateway_sales(second) == [True]
    assert Payment.objects.filter(occurrence=second, operation="sale").count() == 1
    assert audit_findings() == []


# --- 6. Only supervisors release holds -----------------------------------------------------


@pytest.mark.django_db
def test_6_agents_cannot_release_a_hold(sell, client):
    from django.contrib.auth import get_user_model

    order = sell()
    subscription = shipments(order)[0].subscription
    Subscription.objects.filter(pk=subscription.pk).update(
        status=SubscriptionStatus.ON_HOLD, hold_reason=HoldReason.PAYMENT
    )
    with pytest.raises(Conflict):
        subscription_reactivate(
            subscription_id=subscription.pk, actor=ACTOR, reason_code="CUSTOMER"
        )
    with pytest.raises(ValidationError):
        subscription_change_card_with_reason(
            subscription_id=subscription.pk,
            card_id=subscription.card_id,
            actor=ACTOR,
            reason_code="CUSTOMER",
        )
    agent = get_user_model().objects.get(username="agent")
    client.force_login(agent)
    page = client.post(
        f"/payments/exceptions/subscriptions/{subscription.pk}/release/", {"reason": "x"}
    )
    api = client.post(
        f"/api/v1/subscriptions/{subscription.pk}/release-hold/",
        {"reason": "x"},
        content_type="application/json",
    )
    assert page.status_code == 403 and api.status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ON_HOLD

    supervisor = get_user_model().objects.get(username="supervisor")
    client.force_login(supervisor)
    api = client.post(
        f"/api/v1/subscriptions/{subscription.pk}/release-hold/",
        {"reason": "customer called"},
        content_type="application/json",
    )
    assert api.status_code == 200, api.content
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


# --- 7. Run dates: at most BATCH_MAX_DAYS_AHEAD ahead; pause and resume use today ---------


@pytest.mark.django_db
def test_7_a_far_future_run_date_is_refused_and_a_run_ahead_does_not_resume_a_pause(sell):
    today = business_date()
    with pytest.raises(ValidationError) as refused:
        batch_run_request(
            job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=today + datetime.timedelta(8)
        )
    assert "run_date" in refused.value.message_dict
    assert BatchRun.objects.count() == 0
    # In the past: allowed (catch-up).
    batch_run_request(
        job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=today - datetime.timedelta(30)
    )

    second_due_today()
    order = sell()
    second = shipments(order)[1]
    subscription_pause(
        subscription_id=second.subscription_id,
        actor=ACTOR,
        reason_code="TRAVEL",
        until=today + datetime.timedelta(3),
    )
    run_payments(today + datetime.timedelta(7))

    second.refresh_from_db()
    assert second.subscription.status == SubscriptionStatus.ON_HOLD
    assert (second.status, gateway_sales(second)) == (OccurrenceStatus.SCHEDULED, [])


# --- 8. A chunk delivered again does not charge what the first pass deferred -------------


@pytest.mark.django_db
def test_8_a_chunk_delivered_again_charges_nothing_deferred_and_counts_once(sell):
    ContinuityParameters.objects.update(payment_lead_days=70)  # shipments 2 and 3 due
    order = sell()
    second, third = shipments(order)[1:3]
    give_card(second.subscription, SOFT_DECLINE)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    batch_chunk_execute(run_id=run.pk, chunk_number=number)
    run.refresh_from_db()
    counts = (run.processed_count, run.not_processed_count, run.succeeded_count)

    # The worker died after the chunk's work committed, before its ack: delivered again.
    BatchChunk.objects.filter(run=run, number=number).update(status=BatchChunk.Status.PENDING)
    BatchRun.objects.filter(pk=run.pk).update(status="running", finished_at=None)
    batch_chunk_execute(run_id=run.pk, chunk_number=number)

    run.refresh_from_db()
    third.refresh_from_db()
    assert (run.processed_count, run.not_processed_count, run.succeeded_count) == counts
    assert (third.status, gateway_sales(third)) == (OccurrenceStatus.SCHEDULED, [])
    assert gateway_sales(second) == [False]


# --- 9. A chunk that fails for good ends its run; a stalled run is found ---------------


@pytest.mark.django_db
def test_9_a_chunk_failing_for_good_ends_the_run_partial_or_failed(sell, monkeypatch):
    from batch import jobs
    from batch.tasks import run_chunk

    second_due_today()
    sell()
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a lost connection")

    monkeypatch.setattr(jobs.ProcessPaymentsJob, "process", broken)
    run_chunk.apply(args=(run.pk, number))

    run.refresh_from_db()
    chunk = BatchChunk.objects.get(run=run, number=number)
    assert (run.status, run.chunks_failed, chunk.status) == ("failed", 1, "failed")
    assert "RuntimeError: a bug, not a lost connection" in chunk.error
    assert run.finished_at is not None


@pytest.mark.django_db
def test_9_a_run_without_progress_is_found_by_the_watchdog(sell, settings):
    import time_machine

    from batch.services import batch_runs_stalled

    settings.BATCH_STALL_SECONDS = 300
    second_due_today()
    sell()
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    batch_run_plan(run_id=run.pk)  # planned, its chunk tasks then lost with the broker
    assert run.pk not in batch_runs_stalled()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=301)
    with time_machine.travel(later):
        assert batch_runs_stalled() == [run.pk]


# --- 10. The default parameters let a soft decline be retried before the ship date --------


@pytest.mark.django_db
def test_10_with_the_defaults_a_soft_decline_is_retried_before_the_ship_date(sell):
    ContinuityParameters.objects.all().delete()
    parameters = ContinuityParameters.load()  # the row as a new installation makes it
    assert parameters.payment_lead_days > parameters.retry_interval_days
    order = sell()
    second = shipments(order)[1]
    card = give_card(second.subscription, SOFT_DECLINE)
    first_try = second.ship_date - datetime.timedelta(parameters.payment_lead_days)
    with on_day(first_try):
        run_payments(first_try)
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_DECLINED
    assert second.subscription.status == SubscriptionStatus.ACTIVE
    assert first_try < second.next_payment_attempt_on < second.ship_date
    assert card.pk


@pytest.mark.django_db
def test_10_the_admin_refuses_parameters_that_could_never_retry(admin_client):
    parameters = ContinuityParameters.load()
    url = f"/admin/continuity/continuityparameters/{parameters.pk}/change/"
    page = admin_client.post(
        url,
        {
            "child_order_lead_days": 0,
            "payment_lead_days": 2,
            "max_child_orders_per_run": 100000,
            "reauthorization_limit": 3,
            "retry_interval_days": 2,
            "materialisation_horizon_days": 90,
        },
    )
    assert page.status_code == 200
    assert "must be more than the retry interval" in page.content.decode()
    parameters.refresh_from_db()
    assert parameters.payment_lead_days == 5


# --- 12. An unknown charge of a paused subscription is settled ---------------------------


@pytest.mark.django_db
def test_12_an_unknown_charge_on_a_paused_subscription_is_settled_by_the_next_run(sell):
    import time_machine

    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, TIMEOUT_BEFORE_CHARGE)
    run_payments()  # the request is lost: unknown
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    subscription_pause(subscription_id=second.subscription_id, actor=ACTOR, reason_code="TRAVEL")

    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=600)
    with time_machine.travel(later, tick=True):
        call_command("reconcile_payments", "--older-than", "0", stdout=io.StringIO())
        run_payments()

    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert second.subscription.status == SubscriptionStatus.ON_HOLD
    assert gateway_sales(second) == [True]
    assert Decimal(second.payment.amount) == second.amount
    assert audit_findings() == []
