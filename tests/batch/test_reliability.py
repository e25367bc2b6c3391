"""Both batch jobs with real Celery workers on PostgreSQL and Redis: a job run
twice, two runs at once, a worker killed mid-run, a shipment that raises mid-chunk.

The work is done by other processes, so every test commits for real (transaction=True)
and builds its book of subscriptions through the order-entry services. What one clean run
does is written out below, kind of subscription by kind (EXPECTED_CHARGE and
expected_state), and every scenario must end in exactly that state: the same shipment
statuses and attempts, one approved sale per paid shipment in our database and in the
gateway's ledger, one child order per shipment (or per consolidated group), nothing
missed, nothing left pending.

A worker is stopped at a chosen point by holding a row lock from the test: the chunk
tasks then wait inside their own transaction, their work written but not committed (and,
for payments, the gateway's answers in hand), which is where a kill hurts most.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pprint import pformat

import pytest
from django.db import connection, transaction

from batch.models import BatchChunk, BatchJob, BatchRun, BatchRunProblem, BatchRunStatus
from batch.services import (
    batch_run_inline,
    batch_run_plan,
    batch_run_request,
)
from batch.tasks import batch_run_enqueue, run_batch, run_chunk
from continuity.models import (
    ContinuityParameters,
    Occurrence,
    OccurrenceLine,
    Subscription,
)
from continuity.planning import ProgramPlan, horizon_date, plan_occurrences
from core.actors import Actor
from core.dates import business_date
from orders.models import SalesOrder, SalesOrderKind, SalesOrderLine
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Card, Payment, PaymentStatus
from tests.batch.conftest import on_day
from tests.batch.test_process_payments import give_card
from tests.batch.workers import Worker, broker_reset, database_backends, stop_all, wait_for
from tests.payments.support import (
    APPROVE_AFTER_DECLINES,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS,
    LOST_CARD,
    SOFT_DECLINE,
    STOLEN_CARD,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.job("reliability test")
# Small chunks, so that a book of forty subscriptions makes eight chunk tasks.
CHUNK_SIZE = 5
FINISH_TIMEOUT = 60
DONE = (BatchRunStatus.SUCCEEDED, BatchRunStatus.FINISHED_WITH_PROBLEMS, BatchRunStatus.FAILED)


# --- The book: kinds of subscription and what one clean run does to each ----------------


@dataclass(frozen=True)
class Kind:
    name: str
    item: str
    count: int
    card: str | None = None  # the card the subscription is moved to after the sale
    card_expired_by_run_date: bool = False


KINDS = (
    Kind("approve", "88000", 24),
    Kind("soft_decline", "88000", 2, SOFT_DECLINE),
    Kind("insufficient_funds", "88000", 2, INSUFFICIENT_FUNDS),
    Kind("approve_after_declines", "88000", 1, APPROVE_AFTER_DECLINES),
    Kind("lost_card", "88000", 2, LOST_CARD),
    Kind("stolen_card", "88000", 1, STOLEN_CARD),
    Kind("expired_at_gateway", "88000", 1, EXPIRED_CARD),
    Kind("card_expired_by_run_date", "88000", 2, card_expired_by_run_date=True),
    Kind("prepaid", "88001", 3),  # billed up front: every shipment paid at submit
    Kind("open_ended", "88002", 2),  # planned 90 days ahead, consolidates child orders
)
# A shipment whose amount a broken import set to zero: our database refuses a sale of
# zero (payment_amount_gt_0) inside the shipment's savepoint.
ZERO_AMOUNT = Kind("zero_amount", "88000", 1)
SHIPMENTS_OF_ITEM = {"88000": 6, "88001": 3}  # 88002: up to the horizon
KIND = {kind.name: kind for kind in (*KINDS, ZERO_AMOUNT)}


@dataclass(frozen=True)
class Charge:
    """What one clean payment run does to a kind's second shipment."""

    status: str
    attempts: int
    retry_in_days: int | None  # next attempt, counted from the run date
    subscription: tuple[str, str]  # status, hold reason
    outcome: str | None  # the run's summary key; None: not due
    ledger: tuple[int, int] = (0, 0)  # approved, declined sales at the gateway (and ours)


PAID = Charge("paid", 1, None, ("active", ""), "paid", (1, 0))
DECLINED = Charge("payment_declined", 1, 2, ("active", ""), "declined", (0, 1))
ON_HOLD = Charge("payment_declined", 1, None, ("on_hold", "payment"), "on_hold", (0, 1))
EXPIRED = Charge("payment_declined", 1, None, ("on_hold", "card_expired"), "card_expired", (0, 1))
EXPIRED_HERE = Charge("payment_declined", 0, None, ("on_hold", "card_expired"), "card_expired")
NOT_DUE = Charge("paid", 0, None, ("active", ""), None)
# A sale our database refuses: reported, never sent to the gateway.
ERROR = Charge("scheduled", 0, None, ("active", ""), "error", (0, 0))

EXPECTED_CHARGE = {
    "approve": PAID,
    "soft_decline": DECLINED,
    "insufficient_funds": DECLINED,
    "approve_after_declines": DECLINED,
    "lost_card": ON_HOLD,
    "stolen_card": ON_HOLD,
    "expired_at_gateway": EXPIRED,
    "card_expired_by_run_date": EXPIRED_HERE,
    "prepaid": NOT_DUE,
    "open_ended": PAID,
    "zero_amount": ERROR,
}
NOT_CREATED_REASON = {
    ("on_hold", "payment"): "on_hold",
    ("on_hold", "card_expired"): "card_expired",
}


@dataclass
class Book:
    kind_of: dict[int, str]  # subscription id -> kind name
    payment_date: datetime.date  # the second shipments are due for payment
    child_order_date: datetime.date  # the first two shipments are due for child orders

    def subscriptions(self, kind: str) -> list[int]:
        return [pk for pk, name in self.kind_of.items() if name == kind]


def build_book(sell, kinds=KINDS) -> Book:
    """Sell every kind through the order-entry services; move the subscriptions of the
    declining kinds to their test card afterwards (the sale itself was approved).

    One transaction around it all: the services' own transactions become savepoints, and
    the book commits once instead of at every statement (three times faster)."""
    with transaction.atomic():
        return _build_book(sell, kinds)


def _build_book(sell, kinds) -> Book:
    kind_of = {}
    today = business_date()
    for kind in kinds:
        for _ in range(kind.count):
            order = sell(kind.item, start_date=today if kind.item == "88002" else None)
            if kind.card:
                give_card(order, kind.card)
            kind_of[Subscription.objects.get(parent_order=order).pk] = kind.name
    second = (
        Occurrence.objects.filter(subscription__item__item_number="88000", sequence=2)
        .values_list("ship_date", flat=True)
        .first()
    )
    parameters = ContinuityParameters.load()
    book = Book(
        kind_of=kind_of,
        payment_date=second - datetime.timedelta(days=parameters.payment_lead_days),
        child_order_date=second - datetime.timedelta(days=parameters.child_order_lead_days),
    )
    # Valid when it was added, past its expiry month on the payment run's date.
    expired = book.payment_date.replace(day=1) - datetime.timedelta(days=1)
    for name in {kind.name for kind in kinds if kind.card_expired_by_run_date}:
        cards = Subscription.objects.filter(pk__in=book.subscriptions(name)).values("card_id")
        Card.objects.filter(pk__in=cards).update(
            expiry_year=expired.year, expiry_month=expired.month
        )
    return book


def set_amount_to_zero(occurrence: Occurrence) -> None:
    """What a broken import could leave: a shipment of zero, which no sale may carry. Its
    lines and parts at zero too (the database holds a total to its parts, and a shipment
    is taxed again from its lines before its charge)."""
    zero = Decimal("0.00")
    OccurrenceLine.objects.filter(occurrence=occurrence).update(
        unit_price=zero, amount=zero, tax_amount=zero, gross_amount=zero
    )
    Occurrence.objects.filter(pk=occurrence.pk).update(
        amount=zero, subtotal=zero, delivery_amount=zero, delivery_tax_amount=zero, tax_amount=zero
    )


# --- State: what the database and the gateway hold ----------------------------------------


def state(book: Book) -> dict:
    """Everything a run may change, by kind of subscription: ids differ from test to
    test, the multiset of states must not."""
    occurrences = list(
        Occurrence.objects.filter(subscription_id__in=book.kind_of).values(
            "pk",
            "subscription_id",
            "sequence",
            "status",
            "payment_attempts",
            "next_payment_attempt_on",
            "payment_id",
            "child_order_id",
        )
    )
    group_size = Counter(o["child_order_id"] for o in occurrences if o["child_order_id"])
    ledger = Counter(
        (int(key.split("-")[1]), approved)
        for key, approved in SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__startswith="occurrence-", operation="sale")
        .values_list("idempotency_key", "approved")
    )
    ours = Counter(
        Payment.objects.filter(occurrence__isnull=False, operation="sale").values_list(
            "occurrence_id", "status"
        )
    )
    children = Counter(
        SalesOrder.objects.filter(kind=SalesOrderKind.CONTINUITY_CHILD).values_list(
            "parent_id", flat=True
        )
    )
    shipments, charges = Counter(), Counter()
    for o in occurrences:
        kind, pk, retry = book.kind_of[o["subscription_id"]], o["pk"], o["next_payment_attempt_on"]
        shipments[
            (
                kind,
                o["sequence"],
                o["status"],
                o["payment_attempts"],
                (retry - book.payment_date).days if retry else None,
                o["payment_id"] is not None,
                group_size[o["child_order_id"]],  # shipments in its child order; 0: none
            )
        ] += 1
        charges[
            (
                kind,
                o["sequence"],
                ledger[(pk, True)],
                ledger[(pk, False)],
                ours[(pk, PaymentStatus.APPROVED)],
                ours[(pk, PaymentStatus.DECLINED)],
            )
        ] += 1
    subscriptions = Subscription.objects.filter(pk__in=book.kind_of)
    return {
        "shipments": shipments,
        "charges": charges,
        "subscriptions": Counter(
            (book.kind_of[pk], status, hold_reason)
            for pk, status, hold_reason in subscriptions.values_list("pk", "status", "hold_reason")
        ),
        "child_orders": Counter(
            (book.kind_of[pk], children[parent])
            for pk, parent in subscriptions.values_list("pk", "parent_order_id")
        ),
        # Nothing left half-done: a sale sent and its answer never recorded.
        "unanswered_payments": Payment.objects.filter(
            status__in=[PaymentStatus.PENDING, PaymentStatus.UNKNOWN]
        ).count(),
    }


def expected_state(book: Book, *, charged: bool, child_orders: bool) -> dict:
    """The state after one clean payment run on book.payment_date (charged), then one
    clean child-order run on book.child_order_date (child_orders)."""
    last_run = book.child_order_date if child_orders else book.payment_date
    shipments, charges, subscriptions, children = Counter(), Counter(), Counter(), Counter()
    for pk, name in book.kind_of.items():
        item = KIND[name].item
        charge = EXPECTED_CHARGE[name] if charged else NOT_DUE
        count = SHIPMENTS_OF_ITEM.get(item) or _planned_shipments(pk, last_run)
        created = []
        for sequence in range(1, count + 1):
            due_for_payment = sequence == 2 and item != "88001" and charge.outcome
            if item == "88001" or sequence == 1:  # paid by the sale at submit
                row = ["paid", 0, None, True]
            elif due_for_payment:
                row = [
                    charge.status,
                    charge.attempts,
                    charge.retry_in_days,
                    charge.status == "paid",
                ]
            else:
                row = ["scheduled", 0, None, False]
            # The child-order window takes every first shipment and the second ones of
            # the programs that ship monthly from the order date.
            in_window = sequence == 1 or (sequence == 2 and item != "88001")
            if (
                child_orders
                and charge.subscription[0] == "active"
                and in_window
                and row[0] == "paid"
            ):
                created.append(["child_created", *row[1:]])
            else:
                shipments[(name, sequence, *row, 0)] += 1
            ledger = charge.ledger if due_for_payment else (0, 0)
            charges[(name, sequence, *ledger, *ledger)] += 1
        consolidated = item == "88002"
        for sequence, row in enumerate(created, start=1):
            shipments[(name, sequence, *row, len(created) if consolidated else 1)] += 1
        subscriptions[(name, *charge.subscription)] += 1
        children[(name, min(len(created), 1) if consolidated else len(created))] += 1
    return {
        "shipments": shipments,
        "charges": charges,
        "subscriptions": subscriptions,
        "child_orders": children,
        "unanswered_payments": 0,
    }


def _planned_shipments(subscription_id: int, last_run: datetime.date) -> int:
    """An open-ended subscription's shipments through the horizon of the last run."""
    subscription = Subscription.objects.get(pk=subscription_id)
    return len(
        plan_occurrences(
            plan=ProgramPlan.from_json(subscription.plan),
            first_shipment=subscription.first_shipment_date,
            quantity=subscription.quantity,
            through=horizon_date(run_date=last_run),
        )
    )


def differences(book: Book, *, charged: bool, child_orders: bool) -> dict:
    now = state(book)
    expected = expected_state(book, charged=charged, child_orders=child_orders)
    return {
        key: (
            {
                "more than one clean run": now[key] - expected[key],
                "missing": expected[key] - now[key],
            }
            if isinstance(now[key], Counter)
            else {"now": now[key], "expected": expected[key]}
        )
        for key in expected
        if now[key] != expected[key]
    }


def assert_clean_run_state(book: Book, *, charged: bool, child_orders: bool) -> dict:
    assert_charged_at_most_once()
    found = differences(book, charged=charged, child_orders=child_orders)
    assert not found, pformat(found)
    return state(book)


def assert_charged_at_most_once() -> None:
    """Money, whatever the rest: no shipment has two approved sales at the gateway, and
    every approved sale of a shipment is our record of it and pays that shipment."""
    approved = dict(
        SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__startswith="occurrence-", operation="sale", approved=True)
        .values_list("idempotency_key", "reference")
    )
    by_shipment = Counter(int(key.split("-")[1]) for key in approved)
    assert [pk for pk, count in by_shipment.items() if count > 1] == []
    ours = {
        payment.idempotency_key: payment
        for payment in Payment.objects.filter(idempotency_key__in=approved)
    }
    assert {key: ours[key].gateway_reference for key in ours} == approved
    assert all(payment.status == PaymentStatus.APPROVED for payment in ours.values())
    paying = dict(
        Occurrence.objects.filter(payment__idempotency_key__in=approved).values_list(
            "payment__idempotency_key", "pk"
        )
    )
    assert {key: payment.occurrence_id for key, payment in ours.items()} == paying


# --- What one clean run reports -----------------------------------------------------------


def due_for_payment(book: Book) -> int:
    return sum(1 for name in book.kind_of.values() if EXPECTED_CHARGE[name].outcome)


def expected_payment_outcomes(book: Book) -> dict:
    return dict(
        Counter(
            EXPECTED_CHARGE[name].outcome
            for name in book.kind_of.values()
            if EXPECTED_CHARGE[name].outcome
        )
    )


def assert_payment_run(run: BatchRun, book: Book) -> None:
    due, outcomes = due_for_payment(book), expected_payment_outcomes(book)
    paid, errors = outcomes.get("paid", 0), outcomes.get("error", 0)
    assert (
        run.status,
        run.selected_count,
        run.processed_count,
        run.succeeded_count,
        run.not_processed_count,
        run.error_count,
        run.chunk_count,
        run.chunks_done,
    ) == (
        BatchRunStatus.FINISHED_WITH_PROBLEMS if errors else BatchRunStatus.SUCCEEDED,
        due,
        due,
        paid,
        due - paid - errors,
        errors,
        -(-due // CHUNK_SIZE),
        -(-due // CHUNK_SIZE),
    )
    assert {key: run.summary.get(key) for key in outcomes} == outcomes
    problems = {key: count for key, count in outcomes.items() if key != "paid"}
    assert run.summary["not_processed"] == problems
    assert BatchRunProblem.objects.filter(run=run).count() == sum(problems.values())
    # The money audit made at the end of the run found our books and the gateway's agree.
    assert run.money_audit is not None
    assert (run.summary["money_audit_findings"], run.money_audit.findings) == (0, [])


def expected_child_orders(book: Book) -> tuple[int, int, dict]:
    """Child orders created, shipments fulfilled and shipments not created by reason, by
    one clean child-order run after one clean payment run."""
    expected = expected_state(book, charged=True, child_orders=True)
    created = sum(orders * count for (_kind, orders), count in expected["child_orders"].items())
    fulfilled = sum(
        count for key, count in expected["shipments"].items() if key[2] == "child_created"
    )
    not_created = Counter()
    for name in book.kind_of.values():
        charge = EXPECTED_CHARGE[name]
        if charge.subscription[0] == "on_hold":
            in_window = 1 if KIND[name].item == "88001" else 2
            not_created[NOT_CREATED_REASON[charge.subscription]] += in_window
        elif charge.status == "payment_declined":
            not_created["payment_declined"] += 1
        elif charge.status == "scheduled":
            not_created["awaiting_payment"] += 1
    return created, fulfilled, dict(not_created)


def assert_child_order_run(run: BatchRun, book: Book) -> None:
    created, fulfilled, not_created = expected_child_orders(book)
    assert (
        run.status,
        run.selected_count,
        run.processed_count,
        run.succeeded_count,
        run.not_processed_count,
        run.error_count,
        run.chunks_done,
    ) == (
        BatchRunStatus.SUCCEEDED,
        fulfilled,
        fulfilled,
        fulfilled,
        sum(not_created.values()),
        0,
        run.chunk_count,
    )
    assert (run.summary["created"], run.summary["fulfilled"]) == (created, fulfilled)
    assert run.summary["not_processed"] == not_created


# --- Runs and workers ---------------------------------------------------------------------


def enqueue(job: str, run_date: datetime.date, count: int = 1) -> list[BatchRun]:
    """Record runs and hand them to the workers when the transaction commits, as the
    page, the API and the command do, on the run's day (a run date is at most
    BATCH_MAX_DAYS_AHEAD after today)."""
    with on_day(run_date), transaction.atomic():
        runs = [batch_run_request(job=job, actor=ACTOR, run_date=run_date) for _ in range(count)]
        for run in runs:
            batch_run_enqueue(run)
    return runs


def finished(runs: list[BatchRun], workers: list[Worker], *, timeout=FINISH_TIMEOUT):
    ids = [run.pk for run in runs]

    def all_done():
        rows = {row.pk: row for row in BatchRun.objects.filter(pk__in=ids)}
        return [rows[pk] for pk in ids] if all(r.status in DONE for r in rows.values()) else None

    return wait_for(
        all_done,
        timeout=timeout,
        what=f"runs {ids} to finish",
        interval=0.1,
        logs=lambda: (
            pformat(list(BatchRun.objects.filter(pk__in=ids).values()))
            + "\n"
            + "\n".join(worker.log_tail() for worker in workers)
        ),
    )


def run_inline(job: str, run_date: datetime.date) -> BatchRun:
    with on_day(run_date):
        return batch_run_inline(batch_run_request(job=job, actor=ACTOR, run_date=run_date))


CHUNK_ROW = ('FROM "batch_batchchunk"', "FOR UPDATE")  # a chunk task's last step
RUN_ROW = ('FROM "batch_batchrun"', "FOR UPDATE")  # batch_run_finish_if_done
# Django's foreign keys are checked at commit (DEFERRABLE INITIALLY DEFERRED): a problem
# row of the planning task waits there for its shipment's row.
AT_COMMIT = ("COMMIT",)


def sessions_waiting(count: int, fragments: tuple[str, ...]) -> list[int] | None:
    """The database sessions, if at least `count`, waiting for a lock in a statement
    that holds every fragment."""
    pids = [
        backend["pid"]
        for backend in database_backends()
        if backend["wait_event_type"] == "Lock"
        and all(fragment in backend["query"] for fragment in fragments)
    ]
    return pids if len(pids) >= count else None


def chunk_tasks(worker: Worker, event: str) -> list[str]:
    """Ids of the chunk tasks a worker logged as received, or succeeded."""
    return re.findall(rf"Task batch\.run_chunk\[([0-9a-f-]+)\] {event}", worker.log())


def sessions_gone(pids: list[int]) -> bool:
    return not {backend["pid"] for backend in database_backends()} & set(pids)


@contextmanager
def chunks_held_at_their_commit(run: BatchRun, workers: list[Worker], count: int = 2):
    """Lock the run's pending chunk rows: a chunk task that has done its work waits for
    its row, in its transaction, before the chunk's "done" mark, counters and work
    commit together. Yields the sessions of the `count` chunk tasks waiting so; when the
    block ends, the lock goes and the waiting tasks (those still alive) commit."""
    with transaction.atomic():
        # Ordered by number, not by the model's ordering: that one joins the run's row,
        # and FOR UPDATE would lock it too.
        pending = BatchChunk.objects.filter(run=run, status="pending").order_by("number")
        list(pending.select_for_update(of=("self",)))
        yield wait_for(
            lambda: sessions_waiting(count, CHUNK_ROW),
            timeout=30,
            what=f"{count} chunk tasks of run {run.pk} to wait at their commit",
            logs=lambda: pformat(database_backends()) + "\n" + logs(*workers),
        )


def logs(*workers: Worker) -> str:
    return "\n".join(worker.log_tail() for worker in workers)


def worker_env(**overrides) -> dict[str, str]:
    return {
        "BATCH_CHUNK_SIZE": str(CHUNK_SIZE),
        # Four gateway calls at once per process, 50 ms each on the wire: the chunks of
        # two runs truly overlap.
        "PAYMENT_GATEWAY_CONCURRENCY": "4",
        "PAYMENT_GATEWAY_LATENCY_MS": "50",
        **overrides,
    }


# Redis delivers a message again once it has been unacknowledged this long (seconds):
# short, so that a worker started after a kill takes the dead worker's tasks at once.
SHORT_VISIBILITY = "1"


@pytest.fixture(autouse=True)
def clean_broker(settings):
    settings.BATCH_CHUNK_SIZE = CHUNK_SIZE
    broker_reset()
    yield
    broker_reset()


@pytest.fixture
def start_worker(tmp_path):
    """Start a worker of two pool processes; it boots while the test builds its book
    (wait_ready() before use). Whatever is still running at the end is stopped."""
    started: list[Worker] = []

    def start(**overrides) -> Worker:
        worker = Worker(tmp_path, **worker_env(**overrides)).start()
        started.append(worker)
        return worker

    yield start
    stop_all(started)


# --- (a) A job run twice: the second run changes nothing ---------------------------------


def test_each_job_run_twice_by_workers_changes_nothing_the_second_time(sell, start_worker):
    worker = start_worker()
    book = build_book(sell)
    worker.wait_ready()

    (charge,) = finished(enqueue(BatchJob.PROCESS_PAYMENTS, book.payment_date), [worker])
    assert_payment_run(charge, book)
    charged = assert_clean_run_state(book, charged=True, child_orders=False)
    (charge_again,) = finished(enqueue(BatchJob.PROCESS_PAYMENTS, book.payment_date), [worker])

    assert (charge_again.status, charge_again.selected_count, charge_again.chunk_count) == (
        BatchRunStatus.SUCCEEDED,
        0,
        0,
    )
    assert state(book) == charged

    (create,) = finished(enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date), [worker])
    assert_child_order_run(create, book)
    created = assert_clean_run_state(book, charged=True, child_orders=True)
    (create_again,) = finished(
        enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date), [worker]
    )

    assert (create_again.status, create_again.selected_count, create_again.chunk_count) == (
        BatchRunStatus.SUCCEEDED,
        0,
        0,
    )
    assert "created" not in create_again.summary
    assert state(book) == created


# --- (b) Two runs started at once: no duplicate, nothing missed --------------------------


def test_two_payment_runs_at_once_charge_every_shipment_exactly_once(sell, start_worker):
    pair = [start_worker(), start_worker()]
    book = build_book(sell)
    for worker in pair:
        worker.wait_ready()

    runs = finished(enqueue(BatchJob.PROCESS_PAYMENTS, book.payment_date, count=2), pair)

    assert [run.status for run in runs] == [BatchRunStatus.SUCCEEDED] * 2
    # Money first: one approved sale per paid shipment, whatever else went wrong.
    assert_charged_at_most_once()
    assert sum(run.succeeded_count for run in runs) == expected_payment_outcomes(book)["paid"]
    found = differences(book, charged=True, child_orders=False)
    assert not found, pformat(found)
    # Each shipment was taken by one run or the other: together, one clean run.
    assert sum(run.processed_count for run in runs) == due_for_payment(book)


def test_two_child_order_runs_at_once_create_each_child_order_once(sell, start_worker):
    pair = [start_worker(), start_worker()]
    book = build_book(sell)
    run_inline(BatchJob.PROCESS_PAYMENTS, book.payment_date)
    for worker in pair:
        worker.wait_ready()

    runs = finished(enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date, count=2), pair)

    assert [run.status for run in runs] == [BatchRunStatus.SUCCEEDED] * 2
    assert_clean_run_state(book, charged=True, child_orders=True)
    created, fulfilled, not_created = expected_child_orders(book)
    # Each shipment was taken by one run or the other: together, exactly one clean run.
    assert sum(run.summary.get("created", 0) for run in runs) == created
    assert sum(run.processed_count for run in runs) == fulfilled
    assert sum(run.succeeded_count for run in runs) == fulfilled
    assert [run.summary["not_processed"] for run in runs] == [not_created] * 2


# --- (c) A worker killed mid-run -----------------------------------------------------------


def test_a_worker_killed_after_the_gateway_answered_leaves_nothing_charged_twice(
    sell, start_worker
):
    """The whole worker (main process and pool) is killed while two chunk tasks hold
    the gateway's answers, not yet committed: the sales are pending in our database,
    done at the gateway. A new worker takes the unacknowledged tasks again (acks_late),
    looks the sales up instead of charging again, and finishes the run as one clean run
    would have; a re-run then finds nothing to do."""
    worker = start_worker(CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY)
    book = build_book(sell)
    worker.wait_ready()
    (run,) = enqueue(BatchJob.PROCESS_PAYMENTS, book.payment_date)
    wait_for(
        lambda: BatchRun.objects.filter(pk=run.pk, chunks_done__gte=1).exists(),
        timeout=FINISH_TIMEOUT,
        what="a first chunk to be done",
        logs=lambda: logs(worker),
    )

    with chunks_held_at_their_commit(run, [worker]) as stuck:
        worker.kill()
    killed_at = time.monotonic()
    in_flight = set(chunk_tasks(worker, "received")) - set(chunk_tasks(worker, "succeeded"))
    # The dead tasks' sessions roll back when the lock is released to them.
    wait_for(lambda: sessions_gone(stuck), timeout=10, what="the killed sessions to end")

    run.refresh_from_db()
    assert run.status == BatchRunStatus.RUNNING
    assert 1 <= run.chunks_done <= run.chunk_count - 2
    assert len(in_flight) == 2
    pending = list(
        Payment.objects.filter(status=PaymentStatus.PENDING, occurrence__isnull=False).values_list(
            "idempotency_key", flat=True
        )
    )
    answered = SimulatedTransaction.objects.using("gateway").filter(idempotency_key__in=pending)
    assert len(pending) >= 1
    assert answered.count() == len(pending)
    assert answered.filter(approved=True).exists()

    time.sleep(max(0.0, killed_at + float(SHORT_VISIBILITY) + 0.2 - time.monotonic()))
    successor = start_worker(CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY).wait_ready()
    (run,) = finished([run], [worker, successor])

    assert in_flight <= set(chunk_tasks(successor, "succeeded"))
    assert_payment_run(run, book)
    charged = assert_clean_run_state(book, charged=True, child_orders=False)
    (rerun,) = finished(enqueue(BatchJob.PROCESS_PAYMENTS, book.payment_date), [successor])
    assert (rerun.status, rerun.selected_count) == (BatchRunStatus.SUCCEEDED, 0)
    assert state(book) == charged


def test_pool_processes_killed_mid_chunk_have_their_chunks_done_again_at_once(sell, start_worker):
    """Only the pool processes die (SIGKILL), with their chunks' child orders written
    and not committed: the worker rejects their tasks back to the queue
    (task_reject_on_worker_lost), new pool processes do them, and the run ends as one
    clean run; a re-run creates nothing."""
    worker = start_worker()
    book = build_book(sell)
    run_inline(BatchJob.PROCESS_PAYMENTS, book.payment_date)
    worker.wait_ready()
    (run,) = enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date)
    wait_for(
        lambda: BatchRun.objects.filter(pk=run.pk, chunks_done__gte=1).exists(),
        timeout=FINISH_TIMEOUT,
        what="a first chunk to be done",
        logs=lambda: logs(worker),
    )

    with chunks_held_at_their_commit(run, [worker]) as stuck:
        # The main process is paused while its pool dies, so that it gives the tasks
        # back only once the dead sessions have rolled back (see the next test).
        os.kill(worker.process.pid, signal.SIGSTOP)
        killed = worker.kill_pool()
    in_flight = set(chunk_tasks(worker, "received")) - set(chunk_tasks(worker, "succeeded"))
    wait_for(lambda: sessions_gone(stuck), timeout=10, what="the killed sessions to end")
    os.kill(worker.process.pid, signal.SIGCONT)
    (run,) = finished([run], [worker])

    # The same worker, with new pool processes, did the two tasks again.
    assert worker.process.poll() is None
    assert set(killed).isdisjoint(worker.pool_pids())
    assert "WorkerLostError" in worker.log()
    assert len(in_flight) == 2
    assert in_flight <= set(chunk_tasks(worker, "succeeded"))
    assert_child_order_run(run, book)
    created = assert_clean_run_state(book, charged=True, child_orders=True)
    (rerun,) = finished(enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date), [worker])
    assert (rerun.status, rerun.selected_count) == (BatchRunStatus.SUCCEEDED, 0)
    assert state(book) == created


def test_a_chunk_given_back_while_the_dead_tasks_rows_are_still_locked_does_them(
    sell, start_worker
):
    """Pool processes killed mid-chunk, the main process not paused: the tasks come back
    while the dead tasks' sessions still hold the shipments' rows (here they wait for the
    test's lock; in production, a long statement, or a machine gone until TCP keepalive
    gives up, hours by default, longer than the visibility timeout)."""
    worker = start_worker()
    book = build_book(sell)
    run_inline(BatchJob.PROCESS_PAYMENTS, book.payment_date)
    worker.wait_ready()
    with on_day(book.child_order_date):
        run = batch_run_request(
            job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=book.child_order_date
        )
        # The planning task's work, done here so that the first two chunks can be held
        # before they start.
        numbers = batch_run_plan(run_id=run.pk)

    with transaction.atomic():
        first_two = BatchChunk.objects.filter(run=run, number__in=numbers[:2]).order_by("number")
        list(first_two.select_for_update(of=("self",)))
        for number in numbers:
            run_chunk.apply_async(args=[run.pk, number], queue="batch")
        stuck = wait_for(
            lambda: sessions_waiting(2, CHUNK_ROW),
            timeout=30,
            what="the first two chunks to wait at their commit",
            logs=lambda: logs(worker),
        )
        worker.kill_pool()
        # Given back to the end of the queue (reject_on_worker_lost), the two chunks are
        # done again after the others, while the dead sessions still hold their rows.
        wait_for(
            lambda: sessions_waiting(4, CHUNK_ROW),
            timeout=30,
            what="the two chunks, given back, to wait at their commit",
            logs=lambda: logs(worker),
        )
    wait_for(lambda: sessions_gone(stuck), timeout=10, what="the killed sessions to end")
    (run,) = finished([run], [worker])

    assert_child_order_run(run, book)
    assert_clean_run_state(book, charged=True, child_orders=True)


def test_a_run_whose_last_chunk_was_done_by_a_killed_worker_finishes(sell, start_worker):
    """The worker is killed after its chunks committed and before it marked the run
    finished (it waits for the run's row). The tasks were not acknowledged: delivered
    again to a new worker, they find their chunk done, and must still finish the run."""
    worker = start_worker(CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY)
    book = build_book(sell, (replace(KINDS[0], count=6), *KINDS[1:3]))  # 2 chunks
    worker.wait_ready()
    with on_day(book.payment_date):
        run = batch_run_request(
            job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=book.payment_date
        )
        # The planning task's work, done here so that the lock below is taken in time.
        numbers = batch_run_plan(run_id=run.pk)
    assert numbers == [1, 2]

    with transaction.atomic():
        # FOR KEY SHARE lets the chunks update the run's counters and commit, and stops
        # batch_run_finish_if_done (SELECT ... FOR UPDATE of the run) after them. The
        # tasks are sent inside this transaction only so that they start after the lock.
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM batch_batchrun WHERE id = %s FOR KEY SHARE", [run.pk])
        for number in numbers:
            run_chunk.apply_async(args=[run.pk, number], queue="batch")
        stuck = wait_for(
            lambda: (
                BatchRun.objects.filter(pk=run.pk, chunks_done=2).exists()
                and sessions_waiting(2, RUN_ROW)
            ),
            timeout=30,
            what="both chunks to commit and wait to finish the run",
            logs=lambda: logs(worker),
        )
        killed_at = time.monotonic()
        worker.kill()
    wait_for(lambda: sessions_gone(stuck), timeout=10, what="the killed sessions to end")
    assert BatchRun.objects.get(pk=run.pk).status == BatchRunStatus.RUNNING

    time.sleep(max(0.0, killed_at + float(SHORT_VISIBILITY) + 0.2 - time.monotonic()))
    successor = start_worker(CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY).wait_ready()
    (run,) = finished([run], [worker, successor], timeout=20)

    assert_payment_run(run, book)
    assert_clean_run_state(book, charged=True, child_orders=False)


def test_a_run_whose_planning_task_was_killed_is_planned_when_delivered_again(sell, start_worker):
    """The worker dies while the planning task commits the run's chunks, before it sends
    them (its COMMIT waits for a shipment the test holds: the foreign key of the
    shipment's problem row is checked at commit; the server finishes the COMMIT it was
    sent). A re-run ends as one clean run; the killed run must be finished by its
    planning task, delivered again."""
    worker = start_worker(CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY)
    book = build_book(sell)
    run_inline(BatchJob.PROCESS_PAYMENTS, book.payment_date)
    worker.wait_ready()
    declined = (
        Occurrence.objects.filter(
            subscription_id__in=book.subscriptions("soft_decline"), sequence=2
        )
        .order_by("pk")
        .first()
    )
    with on_day(book.child_order_date):
        run = batch_run_request(
            job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=book.child_order_date
        )

    with transaction.atomic():
        held = Occurrence.objects.filter(pk=declined.pk).order_by("pk")
        list(held.select_for_update(of=("self",)))
        # Sent inside this transaction only so that the task starts after the lock.
        run_batch.apply_async(args=[run.pk], queue="batch")
        stuck = wait_for(
            lambda: sessions_waiting(1, AT_COMMIT),
            timeout=30,
            what="the planning task to wait for the held shipment",
            logs=lambda: logs(worker),
        )
        worker.kill()
    killed_at = time.monotonic()
    wait_for(lambda: sessions_gone(stuck), timeout=10, what="the killed session to end")
    run.refresh_from_db()
    assert (run.status, run.chunks_done) == (BatchRunStatus.RUNNING, 0)
    assert run.chunk_count == run.chunks.count() > 1
    assert chunk_tasks(worker, "received") == []
    (planning,) = re.findall(r"Task batch\.run\[([0-9a-f-]+)\] received", worker.log())

    time.sleep(max(0.0, killed_at + float(SHORT_VISIBILITY) + 0.2 - time.monotonic()))
    successor = start_worker(CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY).wait_ready()
    chunks_sent = wait_for(
        lambda: re.findall(
            rf"Task batch\.run\[{planning}\] succeeded in \S+: (\d+)", successor.log()
        ),
        timeout=30,
        what="the planning task to be delivered again",
        logs=lambda: logs(successor),
    )
    # Delivered again, the planning task sends the chunks its dead delivery committed.
    assert chunks_sent == [str(run.chunk_count)]
    (rerun,) = finished(enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date), [successor])
    run, rerun = finished([run, rerun], [successor])

    assert [run.status, rerun.status] == [BatchRunStatus.SUCCEEDED] * 2
    assert_clean_run_state(book, charged=True, child_orders=True)
    created, fulfilled, _not_created = expected_child_orders(book)
    assert run.summary.get("created", 0) + rerun.summary.get("created", 0) == created
    assert run.processed_count + rerun.processed_count == fulfilled


# --- (d) A shipment that raises mid-chunk --------------------------------------------------


def test_a_shipment_that_raises_mid_chunk_is_reported_and_the_rest_is_done(sell, start_worker):
    """Payments: a shipment whose amount was set to zero cannot get a sale: the database
    refuses it (payment_amount_gt_0). Child orders: a stray child-order line already
    claims a shipment's line. Each raises inside its own savepoint, in the middle of its
    chunk: it is reported as an error, nothing is sent to the gateway for it, and every
    other shipment of the chunk and of the run is done."""
    worker = start_worker()
    kinds = (replace(KINDS[0], count=2), ZERO_AMOUNT, replace(KINDS[0], count=22), *KINDS[1:])
    book = build_book(sell, kinds)
    broken = Occurrence.objects.get(
        subscription_id__in=book.subscriptions("zero_amount"), sequence=2
    )
    set_amount_to_zero(broken)
    worker.wait_ready()

    (charge,) = finished(enqueue(BatchJob.PROCESS_PAYMENTS, book.payment_date), [worker])

    assert_payment_run(charge, book)
    problem = BatchRunProblem.objects.get(run=charge, reason="error")
    assert problem.occurrence_id == broken.pk
    assert "payment_amount_gt_0" in problem.detail
    assert BatchChunk.objects.get(run=charge, number=1).groups[2] == [broken.pk]
    assert not Payment.objects.filter(occurrence=broken).exists()
    assert (
        not SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__startswith=f"occurrence-{broken.pk}-")
        .exists()
    )
    assert_clean_run_state(book, charged=True, child_orders=False)

    # The third "approve" subscription's first shipment, fourth of the first chunk.
    bad = Occurrence.objects.get(subscription_id=book.subscriptions("approve")[2], sequence=1)
    line = OccurrenceLine.objects.filter(occurrence=bad).first()
    stray = SalesOrder.objects.create(
        number="SO-STRAY1",
        customer_id=bad.subscription.customer_id,
        kind=SalesOrderKind.CONTINUITY_CHILD,
        parent_id=bad.subscription.parent_order_id,
        currency="USD",
    )
    SalesOrderLine.objects.create(
        order=stray,
        line_number=1,
        item=line.item,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=line.amount,
        occurrence_line=line,
    )

    (create,) = finished(enqueue(BatchJob.CREATE_CHILD_ORDERS, book.child_order_date), [worker])

    created, fulfilled, not_created = expected_child_orders(book)
    assert (create.status, create.error_count, create.processed_count, create.succeeded_count) == (
        BatchRunStatus.FINISHED_WITH_PROBLEMS,
        1,
        fulfilled,
        fulfilled - 1,
    )
    assert (create.summary["created"], create.summary["fulfilled"]) == (created - 1, fulfilled - 1)
    assert create.summary["not_processed"] == {**not_created, "error": 1}
    problem = BatchRunProblem.objects.get(run=create, reason="error")
    assert problem.occurrence_id == bad.pk
    assert "IntegrityError" in problem.detail
    first_chunk = [
        pk for group in BatchChunk.objects.get(run=create, number=1).groups for pk in group
    ]
    assert first_chunk.index(bad.pk) == 3
    assert list(
        Occurrence.objects.filter(pk__in=first_chunk)
        .exclude(pk=bad.pk)
        .values_list("status", flat=True)
    ) == ["child_created"] * (len(first_chunk) - 1)
    found = differences(book, charged=True, child_orders=True)
    assert found == {
        "shipments": {
            "more than one clean run": Counter({("approve", 1, "paid", 0, None, True, 0): 1}),
            "missing": Counter({("approve", 1, "child_created", 0, None, True, 1): 1}),
        }
    }
