"""The log lines of a batch chunk carry its run and chunk, and in a worker the Celery task:
in this process (the chunk task applied here) and in a real worker, whose gateway calls
run in a pool of threads."""

from __future__ import annotations

import datetime
import logging

import pytest
from django.db import transaction

from batch.models import BatchJob, BatchRun, BatchRunStatus
from batch.services import batch_run_plan, batch_run_request
from batch.tasks import batch_run_enqueue, run_chunk
from continuity.models import ContinuityParameters, Occurrence
from core.actors import Actor
from tests.batch.conftest import on_day
from tests.batch.test_process_payments import give_card
from tests.batch.workers import Worker, broker_reset, wait_for
from tests.log_capture import captured_log, json_lines
from tests.payments.support import TIMEOUT_BEFORE_CHARGE

ACTOR = Actor.job("log test")


def due_date(sell) -> datetime.date:
    """Two subscriptions whose second shipments are due for payment on the day returned:
    one is charged, the other's gateway call times out (a warning that the payments app
    writes, inside the chunk)."""
    charged = sell()
    give_card(sell(), TIMEOUT_BEFORE_CHARGE)
    second = Occurrence.objects.get(subscription__parent_order=charged, sequence=2)
    lead = ContinuityParameters.load().payment_lead_days
    return second.ship_date - datetime.timedelta(days=lead)


def chunk_events(run: BatchRun, number: int) -> list[str]:
    return [
        f"Batch run {run.pk} chunk {number} started (process_payments)",
        f"Batch run {run.pk} chunk {number} done",
    ]


@pytest.mark.django_db
def test_a_chunks_lines_carry_its_run_chunk_and_task(sell):
    run_date = due_date(sell)
    with on_day(run_date):
        run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date)
        (number,) = batch_run_plan(run_id=run.pk)
        with captured_log() as log:
            result = run_chunk.apply(args=(run.pk, number))
            logging.getLogger("continuity.test").info("after the chunk")

    assert result.successful()
    *chunk_lines, succeeded, after = json_lines(log.getvalue())
    events = [line["event"] for line in chunk_lines]
    started, done = chunk_events(run, number)
    assert events[0] == started
    assert done in events
    assert [event for event in events if event.startswith("Gateway timeout for payment ")]
    for line in chunk_lines:
        assert (line["batch_run_id"], line["chunk"]) == (run.pk, number), line
        assert (line["task_id"], line["task_name"]) == (result.id, "batch.run_chunk"), line
    # Celery's own line, once the chunk is over, names the task.
    assert succeeded["event"].startswith(f"Task batch.run_chunk[{result.id}] succeeded in 0.")
    assert (succeeded["task_id"], succeeded["task_name"]) == (result.id, "batch.run_chunk")
    assert "chunk" not in succeeded
    # Nothing stays bound once the task is over.
    assert set(after) == {"timestamp", "level", "logger", "event"}


@pytest.fixture
def worker(tmp_path):
    broker_reset()
    # Two gateway calls at once: the timeout's warning is written by a pool thread.
    worker = Worker(tmp_path, PAYMENT_GATEWAY_CONCURRENCY="2", LOG_FORMAT="json").start()
    yield worker
    worker.stop()
    broker_reset()


@pytest.mark.django_db(transaction=True)
def test_a_workers_lines_are_json_with_the_task_and_the_chunk(sell, worker):
    run_date = due_date(sell)
    with on_day(run_date), transaction.atomic():
        run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date)
        batch_run_enqueue(run)
    worker.wait_ready()
    wait_for(
        lambda: (
            BatchRun.objects.get(pk=run.pk).status != BatchRunStatus.RUNNING
            and BatchRun.objects.get(pk=run.pk).finished_at
        ),
        timeout=60,
        what=f"run {run.pk} to finish",
        logs=worker.log_tail,
    )

    # Celery's banner goes to the terminal before logging starts; every line after it is
    # a JSON object.
    text = worker.log()
    lines = json_lines(text[text.index('{"timestamp"') :])
    assert any(line["event"].endswith(" ready.") for line in lines)
    in_chunk = [line for line in lines if line.get("chunk") is not None]
    started, done = chunk_events(run, 1)
    events = [line["event"] for line in in_chunk]
    assert events[0] == started and done in events
    (timeout,) = [line for line in in_chunk if line["event"].startswith("Gateway timeout")]
    assert timeout["level"] == "warning"
    for line in in_chunk:
        assert (line["batch_run_id"], line["chunk"], line["task_name"]) == (
            run.pk,
            1,
            "batch.run_chunk",
        ), line
    assert len({line["task_id"] for line in in_chunk}) == 1
