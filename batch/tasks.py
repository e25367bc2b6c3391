"""Celery tasks of the batch jobs: each takes ids and calls one service.

acks_late with reject_on_worker_lost (settings): a task whose worker dies is delivered
again, and the services make a second delivery harmless. All of them go to the "batch"
queue through CELERY_TASK_ROUTES.
"""

from celery import group, shared_task
from django.db import OperationalError, transaction

from batch.models import BatchJob
from batch.services import (
    CHUNK_LOCK_RETRIES,
    ChunkIncomplete,
    batch_chunk_execute,
    batch_run_plan,
    batch_run_request,
    chunk_retry_delay,
)
from core.actors import Actor

# A lost database connection is worth retrying; anything else is a bug to look at.
TRANSIENT = (OperationalError,)


@shared_task(name="batch.run", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def run_batch(run_id: int) -> int:
    numbers = batch_run_plan(run_id=run_id)
    if numbers:
        # A group, not a chord: the chunk that finishes last finishes the run, so no
        # result backend is needed to know when all are done.
        group(run_chunk.s(run_id, number) for number in numbers).apply_async()
    return len(numbers)


@shared_task(
    name="batch.run_chunk",
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


def _scheduled(job: str) -> int:
    with transaction.atomic():
        run = batch_run_request(job=job, actor=Actor.job("beat"))
    # Beat's own task plans the run; the chunks go to every worker.
    run_batch(run.pk)
    return run.pk


@shared_task(name="batch.scheduled_process_payments")
def scheduled_process_payments() -> int:
    return _scheduled(BatchJob.PROCESS_PAYMENTS)


@shared_task(name="batch.scheduled_create_child_orders")
def scheduled_create_child_orders() -> int:
    return _scheduled(BatchJob.CREATE_CHILD_ORDERS)
