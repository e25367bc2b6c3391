"""Attacks on the payment job's pipeline of slices (batch.jobs.payments): an agent acting
between slices, a decline whose subscription has more shipments due, and a slice whose
writes together fail for one shipment only. Races use two real database connections."""

import threading

import pytest
from django.db import DatabaseError

import batch.jobs.payments as payments_job
import continuity.charging.prepare as prepare_module
from batch.jobs.chunks import ChunkIncomplete
from batch.models import BatchChunk, BatchJob
from batch.services import batch_chunk_execute, batch_run_plan, batch_run_request
from continuity.models import ContinuityParameters, Occurrence, OccurrenceStatus
from continuity.subscription_actions.cancel import subscription_cancel
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.models import AuditEntry, OutboxEvent
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentOperation, PaymentStatus
from tests.batch.test_payment_pipeline import nth_sale_held
from tests.continuity.test_money_findings import (
    audit_findings,
    gateway_sales,
    give_card,
    in_thread,
    run_payments,
    shipments,
)
from tests.payments.support import SOFT_DECLINE

ACTOR = Actor.job("test")

race = pytest.mark.django_db(transaction=True)


def two_due_today():
    """Payment lead days long enough that shipments 2 and 3 (one and two months ahead)
    are due today: each subscription's queue holds two shipments, one a round."""
    ContinuityParameters.objects.update(payment_lead_days=70)


def gateway_refunds(occurrence) -> list[bool]:
    return list(
        SimulatedTransaction.objects.using("gateway")
        .filter(operation="refund", idempotency_key__contains=f"-{occurrence.pk}-")
        .values_list("approved", flat=True)
    )


def every_entry_has_its_event():
    # Cards are not a model with outbound events (core.outbox); every other entry is.
    missing = (
        AuditEntry.objects.exclude(object_type="payments.card")
        .exclude(pk__in=OutboxEvent.objects.values("audit_entry_id"))
        .values_list("actor_label", "action", "object_type", "object_id")
    )
    assert list(missing) == []


@race
def test_a_cancel_between_slices_refunds_the_recorded_charge_and_stops_the_next_round(
    sell, gated_gateway, monkeypatch
):
    """Slices of one shipment. The first subscription's shipment 2 is recorded paid while
    the third slice is held at the gateway; the agent then cancels that subscription (its
    locks are free). The paid shipment is refunded once, and the run's next round, which
    would have charged shipment 3, charges nothing for it."""
    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 1)
    two_due_today()
    orders = [sell() for _ in range(3)]
    first_two, first_three = shipments(orders[0])[1:3]
    others = [shipments(order)[1] for order in orders[1:]]
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with nth_sale_held(3) as gate:
        worker, outcome = in_thread(lambda: batch_chunk_execute(run_id=run.pk, chunk_number=number))
        assert gate.reached.wait(10)
        first_two.refresh_from_db()
        assert first_two.status == OccurrenceStatus.PAID
        subscription_cancel(
            subscription_id=first_two.subscription_id, actor=ACTOR, reason_code="CUSTOMER"
        )
        gate.release()
        worker.join(30)
    assert outcome == {"value": True}, outcome
    first_two.refresh_from_db()
    first_three.refresh_from_db()
    assert gateway_sales(first_two) == [True]
    assert gateway_sales(first_three) == []
    assert not Payment.objects.filter(occurrence=first_three).exists()
    assert first_three.status == OccurrenceStatus.CANCELLED
    refunds = Payment.objects.filter(occurrence=first_two, operation=PaymentOperation.REFUND)
    assert [(r.status, r.amount) for r in refunds] == [
        (PaymentStatus.APPROVED, Payment.objects.get(occurrence=first_two, operation="sale").amount)
    ]
    for occurrence in others:
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
    every_entry_has_its_event()
    assert audit_findings() == []


@race
def test_a_decline_in_one_slice_defers_the_subscription_s_next_shipment_even_with_a_second_delivery(
    sell, gated_gateway, monkeypatch
):
    """The declining subscription's shipment 2 is in the first slice; while a later slice
    is held at the gateway, a second delivery of the chunk runs to the end. Shipment 3 of
    the declining subscription is charged by neither delivery; the others are charged
    once each (our sales and the gateway's ledger)."""
    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 1)
    two_due_today()
    orders = [sell() for _ in range(3)]
    declined_two, declined_three = shipments(orders[0])[1:3]
    give_card(declined_two.subscription, SOFT_DECLINE)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with nth_sale_held(3) as gate:
        worker, outcome = in_thread(lambda: batch_chunk_execute(run_id=run.pk, chunk_number=number))
        assert gate.reached.wait(10)
        second_delivery = batch_chunk_execute(run_id=run.pk, chunk_number=number)
        gate.release()
        worker.join(30)
    assert "error" not in outcome, outcome
    # Whichever delivery ends the chunk says so; the other stops (False) or ends too.
    assert True in (second_delivery, outcome["value"])
    declined_two.refresh_from_db()
    declined_three.refresh_from_db()
    assert declined_two.status == OccurrenceStatus.PAYMENT_DECLINED
    assert gateway_sales(declined_two) == [False]
    assert gateway_sales(declined_three) == []
    assert declined_three.status == OccurrenceStatus.SCHEDULED
    for order in orders[1:]:
        for occurrence in shipments(order)[1:3]:
            occurrence.refresh_from_db()
            assert occurrence.status == OccurrenceStatus.PAID, occurrence
            assert gateway_sales(occurrence) == [True]
            assert Payment.objects.filter(occurrence=occurrence, operation="sale").count() == 1
    run.refresh_from_db()
    # Paid: 2 shipments of each of the two good subscriptions; declined: one.
    assert (run.processed_count, run.succeeded_count) == (5, 4)
    every_entry_has_its_event()
    assert audit_findings() == []


@pytest.mark.django_db
def test_a_slice_whose_sales_fail_together_and_then_for_one_shipment_charges_the_others(
    sell, monkeypatch
):
    """The slice's sales written together fail, and on its own one shipment's sale fails
    too: that shipment is an error with nothing written for it (no sale, no key, no
    entry, still scheduled), the others are charged once with their rows."""
    second_due_today_ = ContinuityParameters.objects.update(payment_lead_days=40)
    assert second_due_today_
    orders = [sell() for _ in range(3)]
    broken_one = shipments(orders[1])[1]
    real = prepare_module.payment_sale_create

    def together_fails(*args, **kwargs):
        raise DatabaseError("the statement failed")

    def one_fails(**kwargs):
        if kwargs["occurrence"].pk == broken_one.pk:
            raise DatabaseError("this one failed")
        return real(**kwargs)

    monkeypatch.setattr(prepare_module, "payment_sales_create", together_fails)
    monkeypatch.setattr(prepare_module, "payment_sale_create", one_fails)
    entries_before = set(
        AuditEntry.objects.filter(object_id=str(broken_one.pk)).values_list("pk", flat=True)
    )
    run = run_payments()
    assert (run.processed_count, run.succeeded_count, run.error_count) == (3, 2, 1)
    broken_one.refresh_from_db()
    assert broken_one.status == OccurrenceStatus.SCHEDULED
    assert not Payment.objects.filter(occurrence=broken_one).exists()
    assert gateway_sales(broken_one) == []
    assert (
        set(AuditEntry.objects.filter(object_id=str(broken_one.pk)).values_list("pk", flat=True))
        == entries_before
    )
    for order in (orders[0], orders[2]):
        occurrence = shipments(order)[1]
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
        assert Payment.objects.filter(occurrence=occurrence, operation="sale").count() == 1
    every_entry_has_its_event()
    assert audit_findings() == []


class WorkerDied(Exception):
    """Stands for a worker killed between two slices (not an error the job catches)."""


@pytest.mark.django_db
def test_a_worker_dying_between_slices_leaves_sent_keys_that_the_next_delivery_settles_once(
    sell, monkeypatch
):
    """Slices of one shipment: the first slice is recorded, then the worker dies while
    recording the second (the third is sent too). The second and third shipments are
    left charging, their keys charged at the gateway. The chunk's next delivery sends
    the same keys again: each shipment is paid once in our books and in the gateway's
    ledger, and the run counts three charges, not five."""
    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 1)
    ContinuityParameters.objects.update(payment_lead_days=40)
    orders = [sell() for _ in range(3)]
    seconds = [shipments(order)[1] for order in orders]
    real = payments_job.charges_record
    calls = {"n": 0}

    def dies_on_the_second_slice(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise WorkerDied()
        return real(**kwargs)

    monkeypatch.setattr(payments_job, "charges_record", dies_on_the_second_slice)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with pytest.raises(WorkerDied):
        batch_chunk_execute(run_id=run.pk, chunk_number=number)
    statuses = [Occurrence.objects.get(pk=o.pk).status for o in seconds]
    assert statuses == [
        OccurrenceStatus.PAID,
        OccurrenceStatus.CHARGING,
        OccurrenceStatus.CHARGING,
    ]
    assert [gateway_sales(o) for o in seconds] == [[True], [True], [True]]
    run.refresh_from_db()
    assert (run.processed_count, run.succeeded_count) == (1, 1)
    monkeypatch.setattr(payments_job, "charges_record", real)
    assert batch_chunk_execute(run_id=run.pk, chunk_number=number) is True
    run.refresh_from_db()
    assert (run.processed_count, run.succeeded_count) == (3, 3)
    for occurrence in seconds:
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
        sale = Payment.objects.get(occurrence=occurrence, operation="sale")
        assert sale.status == PaymentStatus.APPROVED and occurrence.payment_id == sale.pk
        assert list(occurrence.allocations.values_list("payment_id", flat=True)) == [sale.pk]
    every_entry_has_its_event()
    assert audit_findings() == []


@pytest.mark.django_db
def test_an_answer_that_cannot_be_recorded_is_settled_by_the_next_run_without_a_second_charge(
    sell, monkeypatch
):
    """The approvals written together fail, and on its own one shipment's answer fails
    too: that shipment is an error and stays charging with its sale pending (the gateway
    took the money). The others are paid. The next run settles it with the same key: one
    charge in the gateway's ledger, one approved sale, allocated once."""
    import continuity.charging.record as record_module

    ContinuityParameters.objects.update(payment_lead_days=40)
    orders = [sell() for _ in range(3)]
    seconds = [shipments(order)[1] for order in orders]
    broken_one = seconds[1]
    real = record_module.payment_record_answer

    def together_fails(*args, **kwargs):
        raise DatabaseError("the statement failed")

    def one_fails(*, payment_id, **kwargs):
        if Payment.objects.get(pk=payment_id).occurrence_id == broken_one.pk:
            raise DatabaseError("this one failed")
        return real(payment_id=payment_id, **kwargs)

    monkeypatch.setattr(record_module, "payments_record_approvals", together_fails)
    monkeypatch.setattr(record_module, "payment_record_answer", one_fails)
    run = run_payments()
    assert (run.processed_count, run.succeeded_count, run.error_count) == (3, 2, 1)
    broken_one.refresh_from_db()
    assert broken_one.status == OccurrenceStatus.CHARGING
    assert gateway_sales(broken_one) == [True]
    assert Payment.objects.get(occurrence=broken_one, operation="sale").status == (
        PaymentStatus.PENDING
    )
    monkeypatch.setattr(record_module, "payments_record_approvals", real_approvals())
    monkeypatch.setattr(record_module, "payment_record_answer", real)
    run_payments()
    for occurrence in seconds:
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
        [sale] = Payment.objects.filter(occurrence=occurrence, operation="sale")
        assert sale.status == PaymentStatus.APPROVED
        assert list(occurrence.allocations.values_list("payment_id", flat=True)) == [sale.pk]
    every_entry_has_its_event()
    assert audit_findings() == []


def real_approvals():
    from payments.services import payments_record_approvals

    return payments_record_approvals


@race
def test_the_child_order_job_during_a_cancel_of_a_prepaid_subscription_orders_and_completes_nothing(
    sell, gated_gateway
):
    """A prepaid subscription (every shipment paid) is cancelled; its first refund is on
    the wire while the child-order job runs over every shipment (the lock and read in
    one query, the bulk completion). The job makes no child order and does not complete
    the subscription; each shipment is refunded once; a later run does nothing either."""
    from batch.services import batch_run_inline

    order = sell("88001")
    subscription_id = shipments(order)[0].subscription_id
    ContinuityParameters.objects.update(child_order_lead_days=400)
    with gated_gateway_refund() as gate:
        canceller, outcome = in_thread(
            lambda: subscription_cancel(
                subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
            )
        )
        assert gate.reached.wait(10)
        first = batch_run_inline(
            batch_run_request(
                job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date()
            )
        )
        gate.release()
        canceller.join(30)
    assert "error" not in outcome, outcome
    second = batch_run_inline(
        batch_run_request(job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date())
    )
    for run in (first, second):
        assert run.summary.get("created", 0) == 0, run.summary
        assert run.summary.get("completed_subscriptions", 0) == 0, run.summary
    from continuity.models import Subscription

    assert Subscription.objects.get(pk=subscription_id).status == "cancelled"
    for occurrence in shipments(order):
        assert occurrence.child_order_id is None
        assert occurrence.status == OccurrenceStatus.CANCELLED
        refunds = Payment.objects.filter(occurrence=occurrence, operation=PaymentOperation.REFUND)
        assert [(r.status, r.amount) for r in refunds] == [
            (PaymentStatus.APPROVED, occurrence.amount)
        ]
    every_entry_has_its_event()
    assert audit_findings() == []


def gated_gateway_refund():
    from tests.gated_gateway import gateway_gate

    return gateway_gate("refund")


class Pause:
    """Wraps a function so that its first call, after it returns, waits until released:
    the transaction around it keeps its locks meanwhile."""

    def __init__(self, function):
        self.function = function
        self.reached = threading.Event()
        self.opened = threading.Event()

    def __call__(self, *args, **kwargs):
        value = self.function(*args, **kwargs)
        if not self.reached.is_set():
            self.reached.set()
            assert self.opened.wait(30), "never released"
        return value


@race
def test_a_cancel_holding_the_subscription_makes_the_child_order_job_skip_it_then_nothing(
    sell, monkeypatch
):
    """The agent's cancel holds the subscription's lock (in its transaction) while the
    child-order job runs: the job's one locking query skips every shipment of it (none
    ordered, the subscription not completed); once the cancel commits, the next run
    orders nothing and every shipment is refunded once."""
    import continuity.subscription_actions.cancel as cancel_module
    from batch.services import batch_run_inline

    order = sell("88001")
    subscription_id = shipments(order)[0].subscription_id
    ContinuityParameters.objects.update(child_order_lead_days=400)
    before = [(o.pk, o.status, o.child_order_id) for o in shipments(order)]
    pause = Pause(cancel_module.cancel_preview)
    monkeypatch.setattr(cancel_module, "cancel_preview", pause)
    canceller, outcome = in_thread(
        lambda: subscription_cancel(
            subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
        )
    )
    try:
        assert pause.reached.wait(10)
        # One delivery of the chunk (batch_run_inline would try it again until the
        # cancel is done): every shipment is held elsewhere, so none is ordered and the
        # chunk is to be tried again.
        first = batch_run_request(
            job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date()
        )
        [number] = batch_run_plan(run_id=first.pk)
        with pytest.raises(ChunkIncomplete):
            batch_chunk_execute(run_id=first.pk, chunk_number=number)
        after = [(o.pk, o.status, o.child_order_id) for o in shipments(order)]
        assert after == before
    finally:
        pause.opened.set()
        canceller.join(30)
    assert "error" not in outcome, outcome
    second = batch_run_inline(
        batch_run_request(job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date())
    )
    # The first run's chunk, delivered again once the cancel is done, orders nothing.
    assert batch_chunk_execute(run_id=first.pk, chunk_number=number) is True
    for run in (first, second):
        run.refresh_from_db()
        assert (run.summary or {}).get("created", 0) == 0, run.summary
        assert (run.summary or {}).get("completed_subscriptions", 0) == 0, run.summary
    from continuity.models import Subscription

    assert Subscription.objects.get(pk=subscription_id).status == "cancelled"
    for occurrence in shipments(order):
        assert (occurrence.child_order_id, occurrence.status) == (
            None,
            OccurrenceStatus.CANCELLED,
        )
        refunds = Payment.objects.filter(occurrence=occurrence, operation=PaymentOperation.REFUND)
        assert [(r.status, r.amount) for r in refunds] == [
            (PaymentStatus.APPROVED, occurrence.amount)
        ]
    every_entry_has_its_event()
    assert audit_findings() == []


@race
def test_a_cancel_waiting_for_the_child_order_job_finds_the_subscription_completed_and_is_refused(
    sell, monkeypatch
):
    """The child-order job holds the shipments and their subscription (its transaction,
    after the child orders are written) while the agent cancels: the cancel waits, then
    finds the subscription completed by the job in bulk (its shipments ordered and
    released) and is refused: nothing refunded, nothing written."""
    import continuity.child_orders as child_orders_module
    from batch.services import batch_run_inline

    order = sell("88001")
    subscription_id = shipments(order)[0].subscription_id
    ContinuityParameters.objects.update(child_order_lead_days=400)
    pause = Pause(child_orders_module._child_orders_notify)
    monkeypatch.setattr(child_orders_module, "_child_orders_notify", pause)
    job, job_outcome = in_thread(
        lambda: batch_run_inline(
            batch_run_request(
                job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date()
            )
        )
    )
    try:
        assert pause.reached.wait(10)
        canceller, outcome = in_thread(
            lambda: subscription_cancel(
                subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
            )
        )
    finally:
        pause.opened.set()
        job.join(30)
        canceller.join(30)
    assert "error" not in job_outcome, job_outcome
    assert job_outcome["value"].summary["created"] == 3
    assert job_outcome["value"].summary["completed_subscriptions"] == 1
    from continuity.models import Subscription

    # The cancel read the subscription under its lock once the job committed: completed,
    # so it is refused, with nothing written.
    assert Subscription.objects.get(pk=subscription_id).status == "completed"
    assert isinstance(outcome.get("error"), Conflict), outcome
    assert not AuditEntry.objects.filter(action__icontains="cancel").exists()
    assert not AuditEntry.objects.filter(to_status="cancelled").exists()
    for occurrence in shipments(order):
        assert occurrence.child_order_id is not None
        assert occurrence.status == OccurrenceStatus.CHILD_CREATED
        assert not Payment.objects.filter(
            occurrence=occurrence, operation=PaymentOperation.REFUND
        ).exists()
    every_entry_has_its_event()
    assert audit_findings() == []


@race
@pytest.mark.parametrize("action", ["skip_next", "change_card"])
def test_an_agent_between_rounds_is_heeded_by_the_next_round(
    sell, gated_gateway, monkeypatch, action
):
    """Shipment 2 of the first subscription is recorded paid while a later slice of the
    round is held at the gateway; the agent then skips its shipment 3 (not charged by the
    next round, nothing to refund) or changes its card (shipment 3 charged once, on the
    new card)."""
    from continuity.subscription_actions.card_and_ship_to import (
        subscription_change_card_with_reason,
    )
    from continuity.subscription_actions.shipments import subscription_skip_shipment

    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 1)
    two_due_today()
    orders = [sell() for _ in range(3)]
    first_two, first_three = shipments(orders[0])[1:3]
    subscription = first_two.subscription
    new_card = None
    if action == "change_card":
        old_card_id = subscription.card_id
        new_card = give_card(subscription, "4111111111111111")
        type(subscription).objects.filter(pk=subscription.pk).update(card_id=old_card_id)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with nth_sale_held(3) as gate:
        worker, outcome = in_thread(lambda: batch_chunk_execute(run_id=run.pk, chunk_number=number))
        assert gate.reached.wait(10)
        first_two.refresh_from_db()
        assert first_two.status == OccurrenceStatus.PAID
        if action == "skip_next":
            subscription_skip_shipment(
                subscription_id=subscription.pk,
                occurrence_id=first_three.pk,
                actor=ACTOR,
                reason_code="TRAVEL",
            )
        else:
            subscription_change_card_with_reason(
                subscription_id=subscription.pk,
                card_id=new_card.pk,
                actor=ACTOR,
                reason_code="CUSTOMER",
            )
        gate.release()
        worker.join(30)
    assert outcome == {"value": True}, outcome
    first_two.refresh_from_db()
    first_three.refresh_from_db()
    assert gateway_sales(first_two) == [True]
    if action == "skip_next":
        assert first_three.status == OccurrenceStatus.SKIPPED
        assert gateway_sales(first_three) == []
        assert not Payment.objects.filter(occurrence=first_three).exists()
    else:
        assert first_three.status == OccurrenceStatus.PAID
        assert gateway_sales(first_three) == [True]
        [sale] = Payment.objects.filter(occurrence=first_three, operation="sale")
        assert sale.card_id == new_card.pk
    assert not Payment.objects.filter(operation=PaymentOperation.REFUND).exists()
    run.refresh_from_db()
    paid = 5 if action == "skip_next" else 6
    assert (run.processed_count, run.succeeded_count) == (paid, paid)
    every_entry_has_its_event()
    assert audit_findings() == []


@pytest.fixture
def pools_closed():
    """The gateway pool's and the ledger's threads live as long as the process, each with
    its connections: closed after the test (each thread takes one task, held at a
    barrier until all have theirs), or the test database could not be dropped."""
    from django.db import connections

    from payments.gateways.simulator import gateway as simulator

    yield
    for pool in (payments_job._gateway_pool(), simulator._ledger_pool(2)):
        size = pool._max_workers
        barrier = threading.Barrier(size)

        def close(barrier=barrier):
            barrier.wait(10)
            connections.close_all()

        for future in [pool.submit(close) for _ in range(size)]:
            future.result(20)
        pool.shutdown(wait=True)
    payments_job._gateway_pool.cache_clear()
    simulator._ledger_pool.cache_clear()


@race
def test_two_deliveries_at_once_through_the_gateway_pool_and_ledger_threads_charge_once(
    sell, settings, monkeypatch, pools_closed
):
    """No gate, no shortcut: the gateway pool's threads (their own connections) and the
    simulator's ledger threads, slices of two, and the chunk delivered twice at once.
    Every shipment is charged once in our books and in the gateway's ledger, whichever
    delivery sent or recorded it, and the run counts each charge once."""
    settings.PAYMENT_GATEWAY_CONCURRENCY = 4
    settings.PAYMENT_SIMULATOR_LEDGER_THREADS = 2
    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 2)
    two_due_today()
    orders = [sell() for _ in range(5)]
    due = [occurrence for order in orders for occurrence in shipments(order)[1:3]]
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    start = threading.Barrier(2)

    def deliver():
        start.wait(10)
        try:
            return batch_chunk_execute(run_id=run.pk, chunk_number=number)
        except ChunkIncomplete:
            return "incomplete"

    one, first = in_thread(deliver)
    two, second = in_thread(deliver)
    one.join(60)
    two.join(60)
    assert "error" not in first and "error" not in second, (first, second)
    while BatchChunk.objects.get(run=run, number=number).status != BatchChunk.Status.DONE:
        # A delivery that found the other's shipments held comes back (as a retry would).
        assert batch_chunk_execute(run_id=run.pk, chunk_number=number) in (True, False)
    for occurrence in due:
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
        [sale] = Payment.objects.filter(occurrence=occurrence, operation="sale")
        assert sale.status == PaymentStatus.APPROVED and occurrence.payment_id == sale.pk
        assert list(occurrence.allocations.values_list("payment_id", flat=True)) == [sale.pk]
    run.refresh_from_db()
    assert (run.processed_count, run.succeeded_count) == (10, 10)
    every_entry_has_its_event()
    assert audit_findings() == []
