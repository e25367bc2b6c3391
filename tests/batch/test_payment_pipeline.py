"""The payment job's pipeline of slices (batch.jobs.payments): a slice's answers are
recorded, with what is left of the chunk, while the later slices are at the gateway, and
the sales of a slice are written together (continuity.charging). Races meet at a gateway
call held on the wire (tests.gated_gateway), with two real database connections."""

import contextlib
import threading

import pytest
from django.db import DatabaseError
from django.db.models import Q

import batch.jobs.payments as payments_job
from batch.models import BatchChunk, BatchJob, BatchRun
from batch.services import batch_chunk_execute, batch_run_plan, batch_run_request
from continuity.models import Occurrence, OccurrenceStatus
from core.actors import Actor
from core.dates import business_date
from core.models import AuditEntry, OutboxEvent
from payments.models import Payment, PaymentStatus
from tests import gated_gateway
from tests.continuity.test_money_findings import (
    audit_findings,
    gateway_sales,
    give_card,
    in_thread,
    run_payments,
    second_due_today,
    shipments,
)
from tests.payments.support import APPROVE, SOFT_DECLINE, TIMEOUT_BEFORE_CHARGE

ACTOR = Actor.job("test")

race = pytest.mark.django_db(transaction=True)


class NthCallGate:
    """Hold the `nth` sale call (before the simulator records it) until released."""

    operation = "sale"
    after = False

    def __init__(self, nth: int):
        self.nth = nth
        self.calls = 0
        self.reached = threading.Event()
        self._open = threading.Event()

    def hold(self) -> None:
        self.calls += 1
        if self.calls == self.nth:
            self.reached.set()
            if not self._open.wait(30):
                raise TimeoutError("the gate was never released")

    def release(self) -> None:
        self._open.set()


@contextlib.contextmanager
def nth_sale_held(nth: int):
    gate = NthCallGate(nth)
    with gated_gateway._lock:
        gated_gateway._gates.append(gate)
    try:
        yield gate
    finally:
        gate.release()
        with gated_gateway._lock:
            gated_gateway._gates.remove(gate)


def seconds_of(orders) -> list[Occurrence]:
    return [shipments(order)[1] for order in orders]


@race
def test_a_slice_is_recorded_while_a_later_one_is_on_the_wire_and_a_second_delivery_counts_once(
    sell, gated_gateway, monkeypatch
):
    """Slices of one shipment: the first is recorded (paid, counted, out of the chunk's
    queues) while the third is held at the gateway. A second delivery of the chunk runs
    meanwhile and finishes it; the first then stops without counting anything twice."""
    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 1)
    second_due_today()
    orders = [sell() for _ in range(3)]
    first, second, third = seconds_of(orders)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with nth_sale_held(3) as gate:
        worker, outcome = in_thread(lambda: batch_chunk_execute(run_id=run.pk, chunk_number=number))
        assert gate.reached.wait(10)
        # The first slice is committed: paid, counted, and its queue is out of the chunk.
        first.refresh_from_db()
        assert first.status == OccurrenceStatus.PAID
        run.refresh_from_db()
        assert (run.processed_count, run.succeeded_count) == (1, 1)
        chunk = BatchChunk.objects.get(run=run, number=number)
        assert chunk.status == BatchChunk.Status.PENDING
        assert sorted(queue[0] for queue in chunk.remaining) == sorted([second.pk, third.pk])
        # The other two are charging, their sales pending with their keys committed.
        assert {
            status
            for status in Occurrence.objects.filter(pk__in=[second.pk, third.pk]).values_list(
                "status", flat=True
            )
        } == {OccurrenceStatus.CHARGING}
        # A second delivery (a worker thought dead) does the rest, with the same keys.
        assert batch_chunk_execute(run_id=run.pk, chunk_number=number) is True
        gate.release()
        worker.join(30)
    assert outcome == {"value": False}, outcome
    run.refresh_from_db()
    assert (run.processed_count, run.succeeded_count) == (3, 3)
    assert BatchChunk.objects.get(run=run, number=number).status == BatchChunk.Status.DONE
    for occurrence in (first, second, third):
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
        assert Payment.objects.filter(occurrence=occurrence, operation="sale").count() == 1
    assert audit_findings() == []


@race
def test_an_agent_may_act_on_a_subscription_whose_slice_is_recorded_while_the_run_goes_on(
    sell, gated_gateway, monkeypatch
):
    """The first slice's locks end with its transaction: the subscription it paid is free
    for an agent while the run's later slices are at the gateway."""
    from continuity.subscription_actions.pause import subscription_pause

    monkeypatch.setattr(payments_job, "CHARGE_PREPARE_SLICE", 1)
    second_due_today()
    orders = [sell() for _ in range(3)]
    first, _second, third = seconds_of(orders)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with nth_sale_held(3) as gate:
        worker, outcome = in_thread(lambda: batch_chunk_execute(run_id=run.pk, chunk_number=number))
        assert gate.reached.wait(10)
        done = {}
        pauser, pause_outcome = in_thread(
            lambda: subscription_pause(
                subscription_id=first.subscription_id, actor=ACTOR, reason_code="TRAVEL"
            )
        )
        pauser.join(10)
        done["paused while the run was on the wire"] = not pauser.is_alive()
        gate.release()
        worker.join(30)
        pauser.join(30)
    assert done == {"paused while the run was on the wire": True}
    assert "error" not in pause_outcome, pause_outcome
    assert outcome == {"value": True}, outcome
    third.refresh_from_db()
    assert third.status == OccurrenceStatus.PAID
    run.refresh_from_db()
    assert (run.processed_count, run.succeeded_count) == (3, 3)
    assert audit_findings() == []


@pytest.mark.django_db
def test_answers_of_every_kind_in_one_slice_are_recorded_each_with_its_rows(sell):
    """Approved sales are recorded together, the rest one by one, in the same slice: each
    payment has its status change's audit entry and outbound event, each shipment its
    own, and the approved sale its allocation."""
    second_due_today()
    orders = [sell() for _ in range(3)]
    paid, declined, unknown = seconds_of(orders)
    give_card(declined.subscription, SOFT_DECLINE)
    give_card(unknown.subscription, TIMEOUT_BEFORE_CHARGE)
    give_card(paid.subscription, APPROVE)
    run = run_payments()
    assert (run.processed_count, run.succeeded_count) == (3, 1)
    statuses = {
        occurrence.pk: occurrence.status
        for occurrence in Occurrence.objects.filter(pk__in=[paid.pk, declined.pk, unknown.pk])
    }
    assert statuses == {
        paid.pk: OccurrenceStatus.PAID,
        declined.pk: OccurrenceStatus.PAYMENT_DECLINED,
        unknown.pk: OccurrenceStatus.PAYMENT_UNKNOWN,
    }
    sale = Payment.objects.get(occurrence=paid, operation="sale")
    assert sale.status == PaymentStatus.APPROVED
    assert sale.gateway_reference.startswith("sim_")
    assert sale.answered_at is not None and sale.sending_until is None
    paid.refresh_from_db()
    assert paid.payment_id == sale.pk and paid.payment_attempts == 1
    assert list(paid.allocations.values_list("payment_id", "amount")) == [(sale.pk, sale.amount)]
    sale_entries = AuditEntry.objects.filter(
        object_type="payments.payment", object_id=str(sale.pk)
    ).order_by("id")
    assert [(e.action, e.from_status, e.to_status) for e in sale_entries] == [
        ("payment_created", "", "pending"),
        ("status_change", "pending", "approved"),
    ]
    assert sale_entries[1].details == {
        "gateway_reference": sale.gateway_reference,
        "key": sale.idempotency_key,
    }
    shipment_entries = AuditEntry.objects.filter(
        object_type="continuity.occurrence", object_id=str(paid.pk), action="status_change"
    ).order_by("id")
    assert [(e.from_status, e.to_status) for e in shipment_entries] == [
        ("scheduled", "charging"),
        ("charging", "paid"),
    ]
    # Every entry of the run is an outbound event, in the order of the entries.
    entries = AuditEntry.objects.filter(actor_label=f"{run.job} run #{run.pk}")
    events = OutboxEvent.objects.filter(audit_entry__in=entries)
    assert events.count() == entries.count()
    assert list(
        events.filter(
            Q(object_type="payments.payment", object_id=str(sale.pk))
            | Q(object_type="continuity.occurrence", object_id=str(paid.pk))
        )
        .order_by("audit_entry_id")
        .values_list("type", flat=True)
    ) == ["payment.pending", "shipment.charging", "payment.approved", "shipment.paid"]
    assert audit_findings() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "together",
    [
        "continuity.charging.prepare.payment_sales_create",
        "continuity.charging.record.payments_record_approvals",
    ],
)
def test_when_writing_a_slice_together_fails_each_shipment_is_written_on_its_own(
    sell, monkeypatch, together
):
    def broken(*args, **kwargs):
        raise DatabaseError("the statement failed")

    monkeypatch.setattr(together, broken)
    second_due_today()
    orders = [sell() for _ in range(2)]
    run = run_payments()
    assert (run.processed_count, run.succeeded_count, run.error_count) == (2, 2, 0)
    for occurrence in seconds_of(orders):
        assert occurrence.status == OccurrenceStatus.PAID
        assert gateway_sales(occurrence) == [True]
    assert BatchRun.objects.get(pk=run.pk).summary["paid"] == 2
    assert audit_findings() == []
