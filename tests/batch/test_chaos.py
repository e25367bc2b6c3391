"""Runs never stay `running` silently, with real Celery workers
on PostgreSQL and a Redis server of the test's own, killed for real:

- chaos: payment runs and a child-order run are under way when the worker is killed
  (SIGKILL, main process and pool) and Redis is restarted without persistence, as in the
  documented set-up, so every queued and unacknowledged task is gone. A new worker
  alone does nothing; the watchdog (batch.tasks.watch_runs, from beat) dispatches the
  stalled runs again and every run finishes, every due shipment charged exactly once;
- a run whose chunks were all done when its worker died (before it marked the run
  finished) and whose tasks Redis lost is finished by the watchdog;
- a supervisor resumes stalled runs by hand (the API and the run page's button);
- a chunk that fails with an error not worth retrying ends its run `partial` (or
  `failed` when no chunk finished) with the error on the run and the chunk, and the
  supervisor's resume does the rest once the cause is fixed.

Each test starts its own redis-server on a free port: restarting the shared one would
take the other suites' queues with it.
"""

from __future__ import annotations

import datetime
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from pprint import pformat

import kombu.pools
import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from batch.models import (
    FINISHED_RUN_STATUSES,
    BatchChunk,
    BatchJob,
    BatchRun,
    BatchRunStatus,
)
from batch.services import batch_run_plan, batch_run_request
from batch.tasks import batch_run_dispatch, batch_run_enqueue, run_chunk, watch_runs
from config.celery import app as celery_app
from continuity.models import ContinuityParameters, Occurrence, OccurrenceStatus
from continuity.money_audit import money_audit
from continuity.selectors import occurrences_due_for_child_orders, occurrences_due_for_payment
from core.actors import Actor
from core.dates import business_date
from orders.models import Item, SalesOrder, SalesOrderKind
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentStatus
from tests.api.conftest import token_client
from tests.batch.workers import Worker, WorkerFailed, database_backends, stop_all, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.job("chaos test")
# Two subscriptions (two due shipments each) a chunk: a run of many chunks.
CHUNK_SIZE = 4
# Shipments due up to this many days ahead are charged today: the second and third
# monthly shipments of every subscription (more than the retry interval, as required).
PAYMENT_LEAD_DAYS = 70
# The watchdog's patience in this test (settings.BATCH_STALL_SECONDS is 300 by default).
STALL_SECONDS = 2
FINISH_TIMEOUT = 45
# Milliseconds a gateway call takes in the workers: slow, so that a run can be killed
# with its charges at the gateway.
GATEWAY_LATENCY = 250
WELLNESS, PROTEIN = "88000", "88002"  # monthly, 6 shipments; monthly, open-ended


# --- A Redis server of the test's own ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """`redis-server` without persistence (as documented), in a process the test owns:
    killed, it forgets every message; started again on the same port, it is empty."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> RedisServer:
        self.starts += 1
        log = self.directory / f"redis-{self.starts}.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.directory),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(
            self._answers,
            timeout=10,
            what=f"redis-server on port {self.port}",
            logs=lambda: log.read_text(errors="replace"),
        )
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise WorkerFailed(f"redis-server exited with {self.process.returncode}.")
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            return client.ping()
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def keys(self) -> list[bytes]:
        client = redis.Redis.from_url(self.url)
        try:
            return list(client.scan_iter())
        finally:
            client.close()


def _forget_broker_connections() -> None:
    """This process's Celery app keeps its broker connections in pools, and kombu keeps
    those pools in a registry of its own, shared by every app and keyed by broker: clear
    both (closing a pool but leaving it registered would hand the next test a closed
    pool), so that the next message goes to the broker now configured."""
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def own_redis(tmp_path, settings):
    """A Redis of this test's own, the broker of the workers it starts (their
    environment is built from settings.CELERY_BROKER_URL) and of this process."""
    server = RedisServer(tmp_path).start()
    names = ("broker_url", "broker_read_url", "broker_write_url")
    previous = {name: celery_app.conf[name] for name in names}
    settings.CELERY_BROKER_URL = server.url
    celery_app.conf.update({name: server.url for name in names})
    _forget_broker_connections()
    yield server
    _forget_broker_connections()
    celery_app.conf.update(previous)
    server.kill()


@pytest.fixture
def start_worker(tmp_path, own_redis, settings):
    """Start a worker (two pool processes) on the test's Redis; it boots while the test
    builds its book (wait_ready() before use). Every worker is stopped at the end."""
    settings.BATCH_CHUNK_SIZE = CHUNK_SIZE
    settings.BATCH_STALL_SECONDS = STALL_SECONDS
    started: list[Worker] = []

    def start(**overrides) -> Worker:
        env = {
            "BATCH_CHUNK_SIZE": str(CHUNK_SIZE),
            # Slow gateway, two calls at a time a process: the runs last long enough to
            # be killed in the middle.
            "PAYMENT_GATEWAY_LATENCY_MS": str(GATEWAY_LATENCY),
            "PAYMENT_GATEWAY_CONCURRENCY": "2",
            # The worker's own minimum (10 s); the watchdog runs in this process, on
            # STALL_SECONDS, as beat would send it to a worker so configured.
            "BATCH_STALL_SECONDS": "10",
            **overrides,
        }
        worker = Worker(tmp_path, **env).start()
        started.append(worker)
        return worker

    yield start
    stop_all(started)


# --- The book ------------------------------------------------------------------------------


def build_book(sell, *, wellness: int, protein: int) -> None:
    """Subscriptions sold through the order-entry services, all on a good card; the
    payment lead makes the second and third shipments of each due today."""
    parameters = ContinuityParameters.load()
    parameters.payment_lead_days = PAYMENT_LEAD_DAYS
    parameters.save()
    today = business_date()
    with transaction.atomic():
        for _ in range(wellness):
            sell(WELLNESS)
        for _ in range(protein):
            sell(PROTEIN, start_date=today)


def due_shipments() -> set[int]:
    return set(occurrences_due_for_payment(run_date=business_date()).values_list("pk", flat=True))


def request_runs(*specs: tuple[str, str]) -> list[BatchRun]:
    """Record runs (job, item number or "") for today, as the page and the API do."""
    return [batch_run_request(job=job, actor=ACTOR, item_number=item) for job, item in specs]


def enqueue(*specs: tuple[str, str]) -> list[BatchRun]:
    with transaction.atomic():
        runs = request_runs(*specs)
        for run in runs:
            batch_run_enqueue(run)
    return runs


def runs_now(runs: list[BatchRun]) -> list[BatchRun]:
    rows = BatchRun.objects.in_bulk([run.pk for run in runs])
    return [rows[run.pk] for run in runs]


def finished(runs, workers, *, timeout=FINISH_TIMEOUT, between=lambda: None) -> list[BatchRun]:
    """Wait for every run to finish, calling `between` at every look (the watchdog)."""

    def all_done():
        between()
        now = runs_now(runs)
        return now if all(run.status in FINISHED_RUN_STATUSES for run in now) else None

    return wait_for(
        all_done,
        timeout=timeout,
        what=f"runs {[run.pk for run in runs]} to finish",
        interval=0.5,
        logs=lambda: (
            pformat(list(BatchRun.objects.filter(pk__in=[run.pk for run in runs]).values()))
            + "\n"
            + "\n".join(worker.log_tail() for worker in workers)
        ),
    )


def counters(run: BatchRun) -> tuple:
    return (
        run.status,
        run.error_count,
        run.chunks_done,
        run.chunks_failed,
        run.chunk_count,
        run.error_message,
    )


# --- What must hold whatever happened ------------------------------------------------------


def assert_charged_exactly_once(due: set[int]) -> None:
    """Every due shipment paid by one approved sale at the gateway (keys
    occurrence-<pk>-sale-<attempt>), which is ours and is the shipment's payment; no
    other shipment charged; no answer left unrecorded; the money audit finds nothing."""
    sales = SimulatedTransaction.objects.using("gateway").filter(
        idempotency_key__startswith="occurrence-", operation="sale"
    )
    approved = dict(sales.filter(approved=True).values_list("idempotency_key", "reference"))
    by_shipment = Counter(int(key.split("-")[1]) for key in approved)
    assert by_shipment == Counter(due)
    assert not sales.filter(approved=False).exists()
    paying = dict(
        Occurrence.objects.filter(pk__in=due).values_list("pk", "payment__idempotency_key")
    )
    assert {int(key.split("-")[1]): key for key in approved} == paying
    assert set(Occurrence.objects.filter(pk__in=due).values_list("status", flat=True)) == {
        OccurrenceStatus.PAID
    }
    ours = dict(
        Payment.objects.filter(idempotency_key__in=approved).values_list(
            "idempotency_key", "gateway_reference"
        )
    )
    assert ours == approved
    assert not Payment.objects.filter(
        status__in=[PaymentStatus.PENDING, PaymentStatus.UNKNOWN]
    ).exists()
    audit = money_audit(source="chaos", save=False)
    assert audit.finding_count == 0, pformat(audit.findings)


# --- Chaos: the worker killed and Redis restarted mid-run ---------------------------------


def test_runs_whose_tasks_died_with_the_worker_and_redis_are_finished_by_the_watchdog(
    sell, start_worker, own_redis
):
    """Three overlapping payment runs and a child-order run; the worker is killed while
    sales are at the gateway, and Redis restarted: every queued and unacknowledged task
    is gone. Nothing happens until the watchdog dispatches the stalled runs again; then
    every run finishes well and every due shipment is charged exactly once."""
    worker = start_worker()
    build_book(sell, wellness=14, protein=4)
    due = due_shipments()
    assert len(due) == 2 * 18
    first_shipments = Occurrence.objects.filter(sequence=1).count()
    worker.wait_ready()

    # Three payment runs that overlap (one per item and one for everything: each
    # shipment is charged by one of them or another) and a child-order run.
    runs = enqueue(
        (BatchJob.PROCESS_PAYMENTS, WELLNESS),
        (BatchJob.PROCESS_PAYMENTS, PROTEIN),
        (BatchJob.PROCESS_PAYMENTS, ""),
        (BatchJob.CREATE_CHILD_ORDERS, ""),
    )
    payment_runs = runs[:3]

    def charges_in_flight():
        # A run under way, and sales just committed, their gateway calls (GATEWAY_LATENCY)
        # far from answered.
        under_way = BatchRun.objects.filter(
            pk__in=[run.pk for run in payment_runs], chunks_done__gte=1
        ).exists()
        just_sent = timezone.now() - datetime.timedelta(milliseconds=GATEWAY_LATENCY // 3)
        return (
            under_way
            and Payment.objects.filter(
                status=PaymentStatus.PENDING,
                occurrence__status=OccurrenceStatus.CHARGING,
                created_at__gte=just_sent,
            ).exists()
        )

    wait_for(
        charges_in_flight,
        timeout=FINISH_TIMEOUT,
        what="a payment run under way with charges in flight",
        interval=0.02,
        logs=worker.log_tail,
    )

    worker.kill()
    # The dead worker's sessions are rolled back (or their last commit finished).
    wait_for(
        lambda: all(backend["state"] == "idle" for backend in database_backends()),
        timeout=10,
        what="the killed sessions to end",
    )
    in_flight = set(
        Occurrence.objects.filter(status=OccurrenceStatus.CHARGING).values_list("pk", flat=True)
    )
    assert in_flight and in_flight <= due, "The worker was killed with no charge in flight."
    own_redis.restart()
    assert own_redis.keys() == []  # every queued and unacknowledged task is gone
    at_kill = {run.pk: counters(run) for run in runs_now(runs)}
    stalled = {
        pk for pk, (status, *_rest) in at_kill.items() if status not in FINISHED_RUN_STATUSES
    }
    assert {run.pk for run in payment_runs} & stalled, (
        f"The payment runs finished before the worker was killed: {pformat(at_kill)}"
    )

    # A new worker alone finds nothing to do: the runs would stay `running` for good.
    successor = start_worker().wait_ready()
    time.sleep(STALL_SECONDS)
    assert {run.pk: counters(run) for run in runs_now(runs)} == at_kill

    # The watchdog, every half second as beat would send it (every minute in production).
    resumed: list[int] = []
    runs = finished(runs, [worker, successor], between=lambda: resumed.extend(watch_runs()))

    assert stalled <= set(resumed)
    assert {run.pk for run in runs if run.redispatch_count} == stalled, pformat(at_kill)
    # Each one finished well: nothing failed, nothing held elsewhere for good.
    assert [counters(run) for run in runs] == [
        (BatchRunStatus.SUCCEEDED, 0, run.chunk_count, 0, run.chunk_count, "") for run in runs
    ]
    # Money: every due shipment charged once, by one run or another, counted once.
    assert_charged_exactly_once(due)
    assert sum(run.succeeded_count for run in payment_runs_of(runs)) == len(due)
    assert [run.summary["money_audit_findings"] for run in payment_runs_of(runs)] == [0, 0, 0]
    # Child orders: one per first shipment (those ship today), each exactly once.
    child_run = runs[3]
    assert (child_run.summary["created"], child_run.summary["fulfilled"]) == (
        first_shipments,
        first_shipments,
    )
    assert (
        SalesOrder.objects.filter(kind=SalesOrderKind.CONTINUITY_CHILD).count() == first_shipments
    )
    assert not occurrences_due_for_child_orders(run_date=business_date()).exists()


def payment_runs_of(runs: list[BatchRun]) -> list[BatchRun]:
    return [run for run in runs if run.job == BatchJob.PROCESS_PAYMENTS]


def sessions_waiting_for_the_run_row(count: int) -> list[int] | None:
    """The workers' sessions, if at least `count`, waiting for a run's row lock
    (batch_run_finish_if_done: SELECT ... FROM batch_batchrun ... FOR UPDATE)."""
    pids = [
        backend["pid"]
        for backend in database_backends()
        if backend["wait_event_type"] == "Lock"
        and 'FROM "batch_batchrun"' in backend["query"]
        and "FOR UPDATE" in backend["query"]
    ]
    return pids if len(pids) >= count else None


def sessions_gone(pids: list[int]) -> bool:
    return not {backend["pid"] for backend in database_backends()} & set(pids)


def test_a_run_whose_chunks_were_all_done_when_its_worker_died_is_finished_by_the_watchdog(
    sell, start_worker, own_redis
):
    """The worker dies after the run's last chunks committed and before it marked the run
    finished (they wait for the run's row, which the test holds), and Redis forgets
    their unacknowledged tasks: no chunk is left to dispatch, and the watchdog must
    still finish the run (it stayed `running` for good, dispatched again every
    BATCH_STALL_SECONDS)."""
    worker = start_worker()
    build_book(sell, wellness=4, protein=0)
    due = due_shipments()
    (run,) = request_runs((BatchJob.PROCESS_PAYMENTS, WELLNESS))
    numbers = batch_run_plan(run_id=run.pk)
    assert numbers == [1, 2]
    worker.wait_ready()

    with transaction.atomic():
        # FOR KEY SHARE lets the chunks count their work and commit, and stops
        # batch_run_finish_if_done (SELECT ... FOR UPDATE of the run) after them. The
        # tasks are sent inside this transaction only so that they start after the lock.
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM batch_batchrun WHERE id = %s FOR KEY SHARE", [run.pk])
        for number in numbers:
            run_chunk.apply_async(args=[run.pk, number])
        stuck = wait_for(
            lambda: (
                BatchRun.objects.filter(pk=run.pk, chunks_done=2).exists()
                and sessions_waiting_for_the_run_row(2)
            ),
            timeout=30,
            what="both chunks to commit and wait to finish the run",
            logs=worker.log_tail,
        )
        worker.kill()
    wait_for(lambda: sessions_gone(stuck), timeout=10, what="the killed sessions to end")
    own_redis.restart()
    run.refresh_from_db()
    assert (run.status, run.chunks_done, run.chunk_count) == (BatchRunStatus.RUNNING, 2, 2)

    time.sleep(STALL_SECONDS)
    assert watch_runs() == [run.pk]

    run.refresh_from_db()
    assert counters(run) == (BatchRunStatus.SUCCEEDED, 0, 2, 0, 2, "")
    assert (run.redispatch_count, run.succeeded_count, run.summary["paid"]) == (1, 8, 8)
    assert run.summary["money_audit_findings"] == 0
    assert_charged_exactly_once(due)
    assert watch_runs() == []


# --- A supervisor resumes stalled runs by hand ---------------------------------------------


def supervisor():
    return get_user_model().objects.get(username="supervisor")


def test_a_supervisor_resumes_stalled_runs_from_the_api_and_the_run_page(
    sell, start_worker, own_redis
):
    """Two runs whose tasks Redis lost: one planned (running, its chunk tasks gone), one
    still queued (its planning task gone). No watchdog here: the supervisor's resume
    alone gets them going, and each finishes as one clean run would."""
    build_book(sell, wellness=6, protein=2)
    due = due_shipments()
    wellness, protein = request_runs(
        (BatchJob.PROCESS_PAYMENTS, WELLNESS), (BatchJob.PROCESS_PAYMENTS, PROTEIN)
    )
    # Planned, and its chunks sent to a broker that restarts before any worker takes them.
    numbers = batch_run_plan(run_id=wellness.pk)
    assert len(numbers) == 3
    with transaction.atomic():
        batch_run_dispatch(wellness.pk, plan_again=False, chunks=numbers)
        batch_run_enqueue(protein)
    assert own_redis.keys() != []
    own_redis.restart()
    worker = start_worker().wait_ready()
    time.sleep(1)
    wellness, protein = runs_now([wellness, protein])
    assert (wellness.status, wellness.chunks_done, protein.status) == (
        BatchRunStatus.RUNNING,
        0,
        BatchRunStatus.QUEUED,
    )

    api = token_client(supervisor())
    response = api.post(f"/api/v1/batch-runs/{wellness.pk}/resume/")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["redispatch_count"]) == ("running", 1)
    page = Client()
    page.force_login(supervisor())
    response = page.post(f"/batch/runs/{protein.pk}/resume/")
    assert (response.status_code, response["Location"]) == (302, f"/batch/runs/{protein.pk}/")

    runs = finished([wellness, protein], [worker])

    assert [(run.status, run.redispatch_count, run.chunks_done) for run in runs] == [
        (BatchRunStatus.SUCCEEDED, 1, 3),
        (BatchRunStatus.SUCCEEDED, 1, 1),
    ]
    assert sum(run.succeeded_count for run in runs) == len(due) == 2 * 8
    assert_charged_exactly_once(due)
    # A run that finished well has nothing to resume.
    response = api.post(f"/api/v1/batch-runs/{wellness.pk}/resume/")
    assert response.status_code == 409, response.content


# --- A chunk that fails ends its run -------------------------------------------------------


def test_a_chunk_that_fails_ends_its_run_partial_or_failed_with_the_error(
    sell, start_worker, own_redis
):
    """A chunk task that raises an error not worth retrying (here: its shipment list was
    corrupted, a stand-in for any bug or bad data) is recorded as failed on its run
    (ChunkTask.on_failure): the run ends `partial` when other chunks were done, `failed`
    when none was, with the error on the run and the chunk, instead of running forever.
    Once the cause is fixed, the supervisor's resume does what is left."""
    worker = start_worker()
    build_book(sell, wellness=6, protein=2)
    due = due_shipments()
    wellness, protein = request_runs(
        (BatchJob.PROCESS_PAYMENTS, WELLNESS), (BatchJob.PROCESS_PAYMENTS, PROTEIN)
    )
    assert batch_run_plan(run_id=wellness.pk) == [1, 2, 3]
    assert batch_run_plan(run_id=protein.pk) == [1]
    broken = BatchChunk.objects.get(run=wellness, number=2)
    good_groups = broken.groups
    BatchChunk.objects.filter(pk=broken.pk).update(groups=[["not-a-shipment"]])
    BatchChunk.objects.filter(run=protein).update(groups=[[]])
    worker.wait_ready()
    with transaction.atomic():
        batch_run_dispatch(wellness.pk, plan_again=False, chunks=[1, 2, 3])
        batch_run_dispatch(protein.pk, plan_again=False, chunks=[1])

    wellness, protein = finished([wellness, protein], [worker])

    assert (
        wellness.status,
        wellness.chunks_done,
        wellness.chunks_failed,
        wellness.succeeded_count,
    ) == (BatchRunStatus.PARTIAL, 2, 1, 8)
    assert wellness.error_message.startswith("1 of 3 chunks failed; chunk 2: ValueError: ")
    broken.refresh_from_db()
    assert broken.status == BatchChunk.Status.FAILED
    assert broken.error.startswith("ValueError: ") and "not-a-shipment" in broken.error
    assert wellness.error_message.endswith(broken.error)
    assert (protein.status, protein.chunks_done, protein.chunks_failed) == (
        BatchRunStatus.FAILED,
        0,
        1,
    )
    assert protein.error_message == (
        "1 of 1 chunks failed; chunk 1: IndexError: list index out of range"
    )
    assert BatchChunk.objects.get(run=protein).error == "IndexError: list index out of range"
    # The API shows the failed chunks.
    api = token_client(supervisor())
    detail = api.get(f"/api/v1/batch-runs/{wellness.pk}/").json()
    assert (detail["status"], detail["failed_chunks"]) == (
        "partial",
        [{"number": 2, "error": broken.error}],
    )
    # The failed chunk's shipments were left as they were, due for the next try.
    left = {pk for group in good_groups for pk in group}
    assert set(Occurrence.objects.filter(pk__in=left).values_list("status", flat=True)) == {
        OccurrenceStatus.SCHEDULED
    }
    assert not Payment.objects.filter(occurrence__in=left).exists()

    # The cause fixed, the supervisor resumes the run from its page: the failed chunk is
    # done, and the run ends as one clean run.
    BatchChunk.objects.filter(pk=broken.pk).update(groups=good_groups)
    page = Client()
    page.force_login(supervisor())
    assert page.post(f"/batch/runs/{wellness.pk}/resume/").status_code == 302
    (wellness,) = finished([wellness], [worker])
    assert counters(wellness) == (BatchRunStatus.SUCCEEDED, 0, 3, 0, 3, "")
    assert (wellness.redispatch_count, wellness.succeeded_count) == (1, 12)
    protein_shipments = set(
        Occurrence.objects.filter(
            pk__in=due, subscription__item=Item.objects.get(item_number=PROTEIN)
        ).values_list("pk", flat=True)
    )
    assert_charged_exactly_once(due - protein_shipments)
    assert not Payment.objects.filter(occurrence__in=protein_shipments).exists()
