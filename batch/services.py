"""Batch runs of the continuity jobs: request, plan, chunks, finish, recover.

batch/ orchestrates; the work on each shipment is done by continuity's services, through
the job declarations of batch.jobs. A run is planned by one task (select the work, split
it into chunks) and carried out by chunk tasks that any number of workers take in
parallel. A chunk is done exactly once: it locks its own row and keeps what is left to
do, so a chunk delivered again (a worker died, the run was dispatched again) does only
what is left.

A run never stays `running` silently: a chunk that fails is recorded on the run (it ends
`partial` or `failed` with the error), and a run without progress for
BATCH_STALL_SECONDS is dispatched again by the watchdog (batch.tasks.watch_runs), which
a supervisor can also do by hand.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from batch.jobs import job_for, job_is_registered
from batch.jobs.chunks import ChunkIncomplete, record_problems
from batch.models import (
    FINISHED_RUN_STATUSES,
    RESUMABLE_RUN_STATUSES,
    UNFINISHED_RUN_STATUSES,
    BatchChunk,
    BatchRun,
    BatchRunStatus,
)
from continuity.models import Subscription
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.formatting import day_text
from core.limits import DATE_MESSAGE, is_business_date
from core.logs import logged_with
from orders.models import Item, SalesOrder, SalesOrderKind

logger = logging.getLogger(__name__)

# --- Requesting a run ------------------------------------------------------------------


def batch_run_request(
    *,
    job: str,
    actor: Actor,
    item_number: str = "",
    order_number: str = "",
    run_date: datetime.date | None = None,
    dry_run: bool = False,
    limit: int | None = None,
) -> BatchRun:
    """Check the parameters and record a queued run. Every refusal names its field."""
    errors: dict[str, str] = {}
    if not job_is_registered(job):
        errors["job"] = _("Unknown batch job %(job)s.") % {"job": job}
    today = business_date()
    latest = today + datetime.timedelta(days=settings.BATCH_MAX_DAYS_AHEAD)
    if run_date is not None and not is_business_date(run_date):
        errors["run_date"] = str(DATE_MESSAGE)
    elif run_date is not None and run_date > latest:
        # A run dated far ahead would charge shipments early. A date in the past is a
        # catch-up run and is allowed.
        errors["run_date"] = _(
            "The run date can be at most %(days)d days after today: %(latest)s at the latest."
        ) % {"days": settings.BATCH_MAX_DAYS_AHEAD, "latest": day_text(latest)}
    item = None
    item_number = (item_number or "").strip()
    if item_number:
        item = Item.objects.filter(item_number=item_number).first()
        if item is None:
            errors["item_number"] = _("Item number %(number)s does not exist.") % {
                "number": item_number
            }
        elif not item.is_continuity:
            errors["item_number"] = _("Item %(number)s is not a continuity item.") % {
                "number": item_number
            }
    order = None
    order_number = (order_number or "").strip()
    if order_number:
        order = SalesOrder.objects.filter(number=order_number).first()
        if order is None:
            errors["sales_order"] = _("Sales order %(number)s does not exist.") % {
                "number": order_number
            }
        elif order.kind != SalesOrderKind.CONTINUITY_PARENT:
            errors["sales_order"] = _(
                "Sales order %(number)s is not a continuity parent order."
            ) % {"number": order_number}
        elif (
            item is not None
            and not Subscription.objects.filter(parent_order=order, item=item).exists()
        ):
            errors["sales_order"] = _(
                "Sales order %(number)s does not sell continuity item %(item)s."
            ) % {"number": order_number, "item": item_number}
    if limit is not None and limit < 1:
        errors["limit"] = _("The limit must be 1 or more.")
    if errors:
        raise ValidationError(errors)
    return BatchRun.objects.create(
        job=job,
        item=item,
        sales_order=order,
        run_date=run_date or today,
        dry_run=dry_run,
        limit=limit,
        started_by_id=actor.user_id,
        started_by_label=actor.label,
    )


# --- Planning ------------------------------------------------------------------------------


def _chunks(groups: Iterable[list[int]], size: int) -> Iterator[list[list[int]]]:
    """Split groups into chunks of about `size` shipments; a group is never split."""
    current, count = [], 0
    for group in groups:
        if current and count + len(group) > size:
            yield current
            current, count = [], 0
        current.append(group)
        count += len(group)
    if current:
        yield current


# Chunk rows written per INSERT while a plan is read: a run of a million shipments never
# holds its whole plan in memory (docs/benchmarks.md, "A million shipments").
CHUNKS_PER_INSERT = 50


def _chunks_write(run: BatchRun, groups: Iterable[list[int]]) -> tuple[int, int]:
    """Write the run's chunks as the plan's groups come; (chunks, shipments)."""
    pending: list[BatchChunk] = []
    chunk_count = selected = 0
    for chunk_count, chunk in enumerate(_chunks(groups, settings.BATCH_CHUNK_SIZE), start=1):
        selected += sum(len(group) for group in chunk)
        pending.append(BatchChunk(run=run, number=chunk_count, groups=chunk))
        if len(pending) == CHUNKS_PER_INSERT:
            BatchChunk.objects.bulk_create(pending)
            pending = []
    BatchChunk.objects.bulk_create(pending)
    return chunk_count, selected


@logged_with(batch_run_id="run_id")
def batch_run_plan(*, run_id: int) -> list[int]:
    """Plan a run: select its work and split it into chunks. Returns the numbers of the
    chunks still to carry out.

    Safe to deliver twice: the run's row stays locked while it is planned, so a second
    delivery waits, then finds the chunks and returns those not done (to be sent again:
    the planner that made them may have died before sending them). A dry run finishes
    here; so does a run with nothing to do.
    """
    run = BatchRun.objects.get(pk=run_id)
    job = job_for(run.job)
    if run.status not in FINISHED_RUN_STATUSES and not run.chunk_count and not run.dry_run:
        job.before_planning(run)
    try:
        with transaction.atomic():
            run = BatchRun.objects.select_for_update().get(pk=run_id)
            if run.status in FINISHED_RUN_STATUSES:
                return []
            if run.chunk_count:
                return list(
                    run.chunks.filter(status=BatchChunk.Status.PENDING)
                    .order_by("number")
                    .values_list("number", flat=True)
                )
            run.status = BatchRunStatus.RUNNING
            run.started_at = run.started_at or timezone.now()
            run.last_progress_at = timezone.now()
            run.save(update_fields=["status", "started_at", "last_progress_at"])
            plan = job.plan(run)
            if run.dry_run:
                # A dry run counts the whole plan (a job may give its groups one by one).
                plan.groups = list(plan.groups)
                summary = {
                    **job.dry_run_summary(run, plan),
                    **plan.extra,
                    "not_processed": dict(Counter(reason for _pk, reason in plan.not_processed)),
                }
                _finish(
                    run,
                    status=BatchRunStatus.SUCCEEDED,
                    summary=summary,
                    selected=sum(len(group) for group in plan.groups),
                )
                return []
            chunk_count, selected = _chunks_write(run, plan.groups)
            # After the groups: a job may add to its left-out shipments as it gives them.
            record_problems(run, [(pk, reason, "") for pk, reason in plan.not_processed])
            run.selected_count = selected
            run.chunk_count = chunk_count
            run.not_processed_count = len(plan.not_processed)
            run.summary = {**plan.extra}
            run.save(
                update_fields=["selected_count", "chunk_count", "not_processed_count", "summary"]
            )
    except Exception as error:
        # Recorded on the run for the supervisor, and raised again for the worker's log.
        BatchRun.objects.filter(pk=run_id).update(
            status=BatchRunStatus.FAILED,
            finished_at=timezone.now(),
            error_message=f"{type(error).__name__}: {error}",
        )
        raise
    if not chunk_count:
        # Nothing to do: finished the one way every run is, with its job's after-work.
        batch_run_finish_if_done(run_id=run_id)
    return list(range(1, chunk_count + 1))


# --- Chunks --------------------------------------------------------------------------------


@logged_with(batch_run_id="run_id", chunk="chunk_number")
def batch_chunk_execute(*, run_id: int, chunk_number: int, final: bool = False) -> bool:
    """Carry out what is left of one chunk; False when it was over already. Raises
    ChunkIncomplete when some shipments were held by another transaction (to be tried
    again); on the `final` attempt those are reported as problems and the chunk is done."""
    run = BatchRun.objects.select_related("item", "sales_order").get(pk=run_id)
    chunk = BatchChunk.objects.get(run_id=run_id, number=chunk_number)
    if chunk.status == BatchChunk.Status.PENDING:
        logger.info("Batch run %s chunk %s started (%s)", run_id, chunk_number, run.job)
        did_work = job_for(run.job).process(run, chunk, final=final)
        logger.info("Batch run %s chunk %s done", run_id, chunk_number)
    else:
        logger.info("Batch run %s chunk %s was over already", run_id, chunk_number)
        did_work = False
    # Also when delivered again: the delivery that did the work may have died before
    # finishing the run.
    batch_run_finish_if_done(run_id=run_id)
    return did_work


@logged_with(batch_run_id="run_id", chunk="chunk_number")
def batch_chunk_fail(*, run_id: int, chunk_number: int, error: str) -> None:
    """Record a chunk that failed with an error not worth retrying (a bug, bad data): the
    chunk is failed with the error, and the run finishes once every chunk is over. What
    the chunk did before the error stays done; resuming the run tries the rest again."""
    with transaction.atomic():
        chunk = (
            BatchChunk.objects.select_for_update()
            .order_by()
            .filter(run_id=run_id, number=chunk_number)
            .first()
        )
        if chunk is None or chunk.status != BatchChunk.Status.PENDING:
            return
        chunk.status = BatchChunk.Status.FAILED
        chunk.error = error[:2000]
        chunk.finished_at = timezone.now()
        chunk.save(update_fields=["status", "error", "finished_at"])
        BatchRun.objects.filter(pk=run_id).update(
            chunks_failed=F("chunks_failed") + 1, last_progress_at=timezone.now()
        )
    logger.error("Batch run %s chunk %s failed: %s", run_id, chunk_number, error)
    batch_run_finish_if_done(run_id=run_id)


# --- Finishing -------------------------------------------------------------------------------


def batch_run_finish_if_done(*, run_id: int) -> BatchRun:
    # The job's after_run (the payment job's money audit asks the gateway) before the
    # run's lock is taken, so that no chunk or watchdog waits on a gateway call, and the
    # run is finished with it in its summary: whoever sees a finished run sees its audit.
    # Two deliveries that meet may both do it; one finishes the run.
    looked, after = False, None
    while True:
        run = BatchRun.objects.get(pk=run_id)
        if not looked and _all_chunks_over(run):
            looked, after = True, job_for(run.job).after_run(run)
        with transaction.atomic():
            run = BatchRun.objects.select_for_update().get(pk=run_id)
            if _all_chunks_over(run) and not looked:
                # The last chunk committed between our look and our lock: do the job's
                # part first, outside the lock, then try again.
                continue
            _finish_if_done(run, after=after)
        return run


def _all_chunks_over(run: BatchRun) -> bool:
    return (
        run.status == BatchRunStatus.RUNNING
        and run.chunks_done + run.chunks_failed >= run.chunk_count
    )


def _finish_if_done(run: BatchRun, *, after: dict | None) -> bool:
    """Finish a running run whose chunks are all over (caller holds the run's lock), with
    `after` (what the job's after_run returned: batch_run_finish_if_done, the one way a
    run finishes) in its summary. True when this call finished it."""
    if not _all_chunks_over(run):
        return False
    totals: Counter = Counter()
    amount = Decimal("0.00")
    for counts in run.chunks.values_list("counts", flat=True):
        amount += Decimal(counts.get("amount", "0"))
        totals.update({key: value for key, value in counts.items() if key != "amount"})
    not_processed = Counter(run.problems.values_list("reason", flat=True))
    job = job_for(run.job)
    summary = {
        **run.summary,
        **totals,
        "not_processed": dict(not_processed),
        **job.summary(run, totals, amount),
        **(after or {}),
    }
    error = ""
    if run.chunks_failed:
        status = BatchRunStatus.PARTIAL if run.chunks_done else BatchRunStatus.FAILED
        failed = run.chunks.filter(status=BatchChunk.Status.FAILED).order_by("number")
        first = failed.first()
        error = _("%(count)d of %(total)d chunks failed; chunk %(number)d: %(error)s") % {
            "count": run.chunks_failed,
            "total": run.chunk_count,
            "number": first.number,
            "error": first.error,
        }
    elif run.error_count:
        status = BatchRunStatus.FINISHED_WITH_PROBLEMS
    else:
        status = BatchRunStatus.SUCCEEDED
    _finish(run, status=status, summary=summary, error=error)
    return True


def _finish(
    run: BatchRun,
    *,
    status: str,
    summary: dict | None = None,
    error: str = "",
    selected: int | None = None,
) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.error_message = error
    fields = ["status", "finished_at", "error_message"]
    if summary is not None:
        run.summary = summary
        fields.append("summary")
    if selected is not None:
        run.selected_count = selected
        fields.append("selected_count")
    BatchRun.objects.filter(pk=run.pk).update(**{name: getattr(run, name) for name in fields})


# --- Recovering ------------------------------------------------------------------------------


def batch_runs_stalled(*, now: datetime.datetime | None = None) -> list[int]:
    """Runs queued or running without progress for BATCH_STALL_SECONDS: their tasks were
    lost (a broker restarted without persistence) or their worker died."""
    now = now or timezone.now()
    quiet_since = now - datetime.timedelta(seconds=settings.BATCH_STALL_SECONDS)
    return list(
        BatchRun.objects.filter(status__in=UNFINISHED_RUN_STATUSES)
        .filter(
            Q(last_progress_at__lt=quiet_since)
            | Q(last_progress_at__isnull=True, created_at__lt=quiet_since)
        )
        .filter(Q(redispatched_at__isnull=True) | Q(redispatched_at__lt=quiet_since))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def batch_run_can_resume(run: BatchRun) -> bool:
    """What batch_run_redispatch accepts: the run page offers Resume on the same rule."""
    return run.status in RESUMABLE_RUN_STATUSES and not run.dry_run


@logged_with(batch_run_id="run_id")
def batch_run_redispatch(*, run_id: int, actor: Actor) -> tuple[bool, list[int]]:
    """Get an unfinished run going again: failed chunks become pending, the run running.
    Returns (plan again, chunk numbers to dispatch) for the caller to send once this
    commits (batch.tasks.batch_run_dispatch). Safe: a chunk does only what is left, and
    one still being worked on by a live worker waits on its lock.

    Refused (Conflict) for a run that finished well, or a dry run.
    """
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run_id)
        if not batch_run_can_resume(run):
            raise Conflict(
                _("Batch run %(id)s has nothing to resume: its status is %(status)s.")
                % {"id": run.pk, "status": run.get_status_display()}
            )
        failed = BatchChunk.objects.filter(run=run, status=BatchChunk.Status.FAILED)
        count = failed.update(status=BatchChunk.Status.PENDING, error="", finished_at=None)
        now = timezone.now()
        plan_again = not run.chunk_count
        run.status = BatchRunStatus.QUEUED if plan_again else BatchRunStatus.RUNNING
        run.chunks_failed = max(run.chunks_failed - count, 0)
        run.finished_at = None
        run.error_message = ""
        run.redispatch_count += 1
        run.redispatched_at = now
        run.last_progress_at = now
        run.save(
            update_fields=[
                "status",
                "chunks_failed",
                "finished_at",
                "error_message",
                "redispatch_count",
                "redispatched_at",
                "last_progress_at",
            ]
        )
        logger.warning(
            "Batch run %s dispatched again by %s (%s time)",
            run.pk,
            actor.label,
            run.redispatch_count,
        )
        chunks = list(
            run.chunks.filter(status=BatchChunk.Status.PENDING)
            .order_by("number")
            .values_list("number", flat=True)
        )
    if not plan_again and not chunks:
        # Every chunk is over: the worker died (or its task was lost) after the last
        # chunk committed and before it finished the run. No task would.
        batch_run_finish_if_done(run_id=run_id)
    return plan_again, chunks


# --- In this process -------------------------------------------------------------------------

# How often a chunk whose shipments another transaction holds is tried again (with a
# growing pause) before they are reported as problems; they stay due for the next run.
CHUNK_LOCK_RETRIES = 12


def chunk_retry_delay(attempt: int) -> int:
    """Seconds before try `attempt` (1, 2, ...) of a chunk that met locked rows."""
    return min(2**attempt, 60)


def batch_run_inline(run: BatchRun, *, progress: Callable[[BatchRun], None] | None = None):
    """Carry out a run in this process, chunk after chunk (management commands)."""
    for number in batch_run_plan(run_id=run.pk):
        for attempt in range(CHUNK_LOCK_RETRIES + 1):
            try:
                batch_chunk_execute(
                    run_id=run.pk, chunk_number=number, final=attempt == CHUNK_LOCK_RETRIES
                )
                break
            except ChunkIncomplete:
                time.sleep(chunk_retry_delay(attempt + 1))
        if progress:
            run.refresh_from_db()
            progress(run)
    run.refresh_from_db()
    return run
