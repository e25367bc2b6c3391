"""Celery tasks of the batch jobs: each takes ids and calls one service; and the
functions that send them, the only place that knows how a run reaches the workers.

acks_late with reject_on_worker_lost (settings): a task whose worker dies is delivered
again, and the services make a second delivery harmless. All of them go to the "batch"
queue through CELERY_TASK_ROUTES.
"""

from celery import Task, group, shared_task
from django.db import OperationalError, transaction

from batch.jobs import registered_jobs
from batch.models import BatchRun
from batch.services import (
    CHUNK_LOCK_RETRIES,
    ChunkIncomplete,
    batch_chunk_execute,
    batch_chunk_fail,
    batch_run_plan,
    batch_run_redispatch,
    batch_run_request,
    batch_runs_stalled,
    chunk_retry_delay,
)
from core.actors import Actor

# A lost database connection is worth retrying; anything else is a bug to look at.
TRANSIENT = (OperationalError,)


def batch_run_enqueue(run: BatchRun) -> None:
    """Hand a new run to the workers once the transaction that recorded it commits."""
    transaction.on_commit(lambda: run_batch.delay(run.pk))


def batch_run_dispatch(run_id: int, *, plan_again: bool, chunks: list[int]) -> None:
    """Send a run's unfinished work again (batch_run_redispatch's answer), once the
    caller's transaction commits."""

    def send():
        if plan_again:
            run_batch.delay(run_id)
        elif chunks:
            group(run_chunk.s(run_id, number) for number in chunks).apply_async()

    transaction.on_commit(send)


def batch_run_resume(run_id: int, *, actor: Actor) -> None:
    """Dispatch a run's unfinished work again (the watchdog, or a supervisor by hand)."""
    plan_again, chunks = batch_run_redispatch(run_id=run_id, actor=actor)
    batch_run_dispatch(run_id, plan_again=plan_again, chunks=chunks)


@shared_task(name="batch.run", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def run_batch(run_id: int) -> int:
    numbers = batch_run_plan(run_id=run_id)
    if numbers:
        # A group, not a chord: the chunk that finishes last finishes the run, so no
        # result backend is needed to know when all are done.
        group(run_chunk.s(run_id, number) for number in numbers).apply_async()
    return len(numbers)


class ChunkTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """A chunk that raised something not worth retrying (or ran out of retries) is
        recorded as failed on its run, so that the run ends instead of running forever."""
        run_id, chunk_number = args[0], args[1]
        batch_chunk_fail(
            run_id=run_id, chunk_number=chunk_number, error=f"{type(exc).__name__}: {exc}"
        )


@shared_task(
    name="batch.run_chunk",
    base=ChunkTask,
    bind=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def run_chunk(self, run_id: int, chunk_number: int) -> bool:
    # After CHUNK_LOCK_RETRIES tries, shipments still held by another transaction are
    # reported as problems and the chunk is done (they stay due for the next run).
    final = self.request.retries >= CHUNK_LOCK_RETRIES
    try:
        return batch_chunk_execute(run_id=run_id, chunk_number=chunk_number, final=final)
    except ChunkIncomplete as error:
        raise self.retry(
            exc=error,
            countdown=chunk_retry_delay(self.request.retries + 1),
            max_retries=CHUNK_LOCK_RETRIES + 1,
        ) from error


@shared_task(name="batch.watch_runs")
def watch_runs() -> list[int]:
    """Beat, every minute: dispatch again every run without progress for
    BATCH_STALL_SECONDS (its tasks were lost with a broker restart, or its worker died)."""
    actor = Actor.job("watchdog")
    resumed = []
    for run_id in batch_runs_stalled():
        with transaction.atomic():
            batch_run_resume(run_id, actor=actor)
        resumed.append(run_id)
    return resumed


def _scheduled(job: str) -> int:
    with transaction.atomic():
        run = batch_run_request(job=job, actor=Actor.job("beat"))
    # Beat's own task plans the run; the chunks go to every worker.
    run_batch(run.pk)
    return run.pk


def _scheduled_task(job: str):
    """The task beat sends to start a run of `job` (its PeriodicTask names the task)."""

    def scheduled() -> int:
        return _scheduled(job)

    scheduled.__name__ = scheduled.__qualname__ = f"scheduled_{job}"
    return shared_task(name=f"batch.scheduled_{job}")(scheduled)


# One per registered job: batch.scheduled_process_payments, ...
SCHEDULED_TASKS = {job.name: _scheduled_task(job.name) for job in registered_jobs()}
