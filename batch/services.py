"""Batch runs of the two continuity jobs: request, plan, chunks, finish.

batch/ orchestrates; the work on each shipment is done by continuity.services (charging,
child orders), which know nothing of runs. A run is planned by one task (select the work,
split it into chunks) and carried out by chunk tasks that any number of workers take in
parallel. A chunk is done exactly once: it locks its own row, and a chunk delivered again
after a worker died finds itself done or does only what is left.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from batch.models import (
    BatchChunk,
    BatchJob,
    BatchRun,
    BatchRunProblem,
    BatchRunStatus,
    ProblemReason,
)
from continuity.actions import occurrences_refund_due, subscriptions_resume_due
from continuity.models import ContinuityParameters, Subscription
from continuity.selectors import (
    NotCreatedReason,
    horizon_date,
    occurrences_due_for_child_orders,
    occurrences_due_for_payment,
    occurrences_not_ready_for_child_orders,
    subscriptions_to_plan,
)
from continuity.services import (
    ChargeOutcome,
    ChargeResult,
    PreparedCharge,
    child_orders_create,
    occurrences_charge_prepare,
    occurrences_charge_record,
    subscriptions_materialise,
)
from core.actors import Actor
from core.dates import business_date
from orders.models import Item, SalesOrder, SalesOrderKind
from payments.models import PaymentStatus
from payments.services import payment_sale_send

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
    if job not in BatchJob.values:
        errors["job"] = _("Unknown batch job %(job)s.") % {"job": job}
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
        run_date=run_date or business_date(),
        dry_run=dry_run,
        limit=limit,
        started_by_id=actor.user_id,
        started_by_label=actor.label,
    )


def batch_run_enqueue(run: BatchRun) -> None:
    """Hand the run to the workers once the transaction that recorded it commits."""
    # Imported here: the tasks module imports this one.
    from batch.tasks import run_batch

    transaction.on_commit(lambda: run_batch.delay(run.pk))


# --- Jobs --------------------------------------------------------------------------------


@dataclass
class Plan:
    groups: list[list[int]]
    not_processed: list[tuple[int, str]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class ChunkOutcome:
    processed: int = 0
    succeeded: int = 0
    counts: Counter = field(default_factory=Counter)
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    amount: Decimal = Decimal("0.00")
    # Shipments another transaction held (SKIP LOCKED): the chunk is not done until they
    # are tried again, so nothing is forgotten because a task died holding rows.
    locked_elsewhere: list[int] = field(default_factory=list)


class ChunkIncomplete(Exception):
    """Some of the chunk's shipments were held by another transaction; what could be done
    is committed and counted, the chunk stays pending and is tried again later."""


class ChunkLedger:
    """The chunk's own row: locked first in every transaction that records the chunk's
    work, so a second delivery of the same chunk waits, then finds the work recorded (or
    the chunk done) instead of counting it twice."""

    def __init__(self, run: BatchRun, chunk: BatchChunk):
        self.run = run
        self.chunk_pk = chunk.pk
        self.row: BatchChunk | None = None

    def lock(self) -> bool:
        """Lock the row (inside the caller's transaction); False when the chunk is done."""
        # order_by(): the model's default ordering joins the run and would lock it too.
        self.row = BatchChunk.objects.select_for_update().order_by().get(pk=self.chunk_pk)
        return self.row.status != BatchChunk.Status.DONE

    def account(self, outcome: ChunkOutcome, *, complete: bool) -> None:
        """Add what this part of the work did to the chunk and the run (atomically, with
        F() on the run), and mark the chunk done when nothing is left."""
        row = self.row
        counts = Counter({key: value for key, value in row.counts.items() if key != "amount"})
        counts.update(outcome.counts)
        amount = Decimal(row.counts.get("amount", "0")) + outcome.amount
        row.counts = {**counts, **({"amount": str(amount)} if amount else {})}
        fields = ["counts"]
        if complete:
            row.status = BatchChunk.Status.DONE
            row.finished_at = timezone.now()
            fields += ["status", "finished_at"]
        row.save(update_fields=fields)
        _record_problems(self.run, outcome.problems)
        errors = sum(1 for _pk, reason, _detail in outcome.problems if reason == "error")
        BatchRun.objects.filter(pk=self.run.pk).update(
            processed_count=F("processed_count") + outcome.processed,
            succeeded_count=F("succeeded_count") + outcome.succeeded,
            not_processed_count=F("not_processed_count") + len(outcome.problems) - errors,
            error_count=F("error_count") + errors,
            chunks_done=F("chunks_done") + (1 if complete else 0),
        )


def _locked_problems(ids: list[int]) -> list[tuple[int, str, str]]:
    return [
        (pk, ProblemReason.ERROR, _("Held by another database session; not processed."))
        for pk in ids
    ]


def _actor(run: BatchRun) -> Actor:
    return Actor.job(f"{run.job} run #{run.pk}")


def _plan_ahead(run: BatchRun) -> int:
    """Open-ended subscriptions get their shipments planned up to the horizon first."""
    through = horizon_date(run_date=run.run_date)
    ids = subscriptions_to_plan(
        through=through, item_id=run.item_id, parent_order_id=run.sales_order_id
    )
    if run.dry_run or not ids:
        return 0
    return subscriptions_materialise(subscription_ids=ids, through=through, actor=_actor(run))


# Shipments prepared per transaction while earlier ones are at the gateway. Small enough
# that the gateway pool starts early (at 100 ms a call, 32 threads answer 100 charges in
# about 0.3 s), large enough that the lock query and commit of a slice stay cheap.
CHARGE_PREPARE_SLICE = 100

_CHARGE_PROBLEMS = {
    ChargeOutcome.DECLINED: ProblemReason.DECLINED,
    ChargeOutcome.ON_HOLD: ProblemReason.ON_HOLD,
    ChargeOutcome.CARD_EXPIRED: ProblemReason.CARD_EXPIRED,
    ChargeOutcome.UNKNOWN: ProblemReason.UNKNOWN,
}


class ProcessPaymentsJob:
    @staticmethod
    def plan(run: BatchRun) -> Plan:
        planned = _plan_ahead(run)
        due = occurrences_due_for_payment(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        ).values_list("pk", "subscription_id")
        # One group per subscription, its due shipments in ship-date order: a chunk holds
        # them together and charges them one after the other, so a card that declines is
        # not tried again for the next shipment in the same run.
        groups: dict[int, list[int]] = {}
        for pk, subscription_id in due:
            groups.setdefault(subscription_id, []).append(pk)
        return Plan(groups=list(groups.values()), extra={"planned_occurrences": planned})

    @staticmethod
    def dry_run_summary(run: BatchRun, plan: Plan) -> dict:
        due = occurrences_due_for_payment(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        ).select_related("subscription__card")
        would = Counter()
        amount = Decimal("0.00")
        for occurrence in due:
            if occurrence.status == "payment_unknown":
                would["look_up"] += 1
            elif occurrence.subscription.card.is_expired_on(run.run_date):
                would["card_expired"] += 1
            else:
                would["charge"] += 1
                amount += occurrence.amount
        return {"would": dict(would), "would_charge_amount": str(amount)}

    @staticmethod
    def process(run: BatchRun, chunk: BatchChunk, *, final: bool = False) -> bool:
        """Charge the chunk in rounds: the first due shipment of every subscription, then
        the next one of those whose charge was approved, and so on. Each round commits
        its sales and keys, calls the gateway outside any transaction, then records the
        answers and counts them under the chunk's lock."""
        actor = _actor(run)
        ledger = ChunkLedger(run, chunk)
        queues = [list(group) for group in chunk.groups]
        locked_elsewhere: list[int] = []
        while queues:
            heads = [queue[0] for queue in queues]
            early: list[ChargeResult] = []
            in_flight: list[Future] = []
            for start in range(0, len(heads), CHARGE_PREPARE_SLICE):
                preparation = occurrences_charge_prepare(
                    occurrence_ids=heads[start : start + CHARGE_PREPARE_SLICE],
                    run_date=run.run_date,
                    actor=actor,
                )
                early += preparation.results
                locked_elsewhere += preparation.locked_elsewhere
                # Sent while the next slice is prepared, not after the whole round.
                in_flight += _send_start(preparation.prepared)
            answers = [future.result() for future in in_flight]
            with transaction.atomic():
                if not ledger.lock():
                    return False  # another delivery of this chunk finished it
                results = occurrences_charge_record(
                    answers=answers, run_date=run.run_date, actor=actor
                )
                outcome = ChunkOutcome()
                deferred: list[int] = []
                by_id = {result.occurrence_id: result for result in [*early, *results]}
                next_queues = []
                for queue in queues:
                    result = by_id.get(queue[0])
                    rest = queue[1:]
                    if result is not None and result.outcome in (
                        ChargeOutcome.PAID,
                        ChargeOutcome.SKIPPED,
                    ):
                        if rest:
                            next_queues.append(rest)
                    else:
                        deferred += rest
                    if result is None or result.outcome == ChargeOutcome.SKIPPED:
                        continue
                    outcome.processed += 1
                    outcome.counts[result.outcome] += 1
                    if result.outcome == ChargeOutcome.PAID:
                        outcome.succeeded += 1
                        continue
                    detail = result.detail
                    if result.retry_on:
                        detail = _("%(reason)s Next attempt on %(date)s.") % {
                            "reason": detail,
                            "date": result.retry_on.isoformat(),
                        }
                    reason = _CHARGE_PROBLEMS.get(result.outcome, ProblemReason.ERROR)
                    outcome.problems.append((result.occurrence_id, reason, detail))
                outcome.problems += [
                    (pk, ProblemReason.DEFERRED, _("An earlier shipment is not paid yet."))
                    for pk in deferred
                ]
                paid = {r.occurrence_id for r in results if r.outcome == ChargeOutcome.PAID}
                outcome.amount = sum(
                    (
                        charge.payment.amount
                        for charge, _answer in answers
                        if charge.occurrence_id in paid
                    ),
                    Decimal("0.00"),
                )
                queues = next_queues
                done = not queues and (final or not locked_elsewhere)
                if not queues and final:
                    outcome.problems += _locked_problems(locked_elsewhere)
                ledger.account(outcome, complete=done)
        if locked_elsewhere and not final:
            raise ChunkIncomplete(f"{len(locked_elsewhere)} shipments held elsewhere")
        return True


@cache
def _gateway_pool() -> ThreadPoolExecutor:
    # Gateway calls wait on the network, not on the CPU: many at once is what makes
    # hundreds of charges a second possible at 100 ms a call. The threads (and their
    # database connections, through which the simulator writes its ledger) live as long
    # as the worker process.
    return ThreadPoolExecutor(
        max_workers=settings.PAYMENT_GATEWAY_CONCURRENCY, thread_name_prefix="gateway"
    )


def _send_one(prepared: PreparedCharge):
    try:
        return prepared, payment_sale_send(prepared.payment, fresh=prepared.fresh)
    finally:
        # Outside a request, Django does not recycle connections by itself.
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()


def _answered(prepared: PreparedCharge, answer) -> Future:
    future = Future()
    future.set_result((prepared, answer))
    return future


def _send_start(prepared: list[PreparedCharge]) -> list[Future]:
    """Hand committed charges to the gateway pool; each future answers (charge, answer).
    A sale already approved (its answer recorded, but not on its shipment) needs no call."""
    futures = []
    for charge in prepared:
        if charge.payment.status == PaymentStatus.APPROVED:
            futures.append(_answered(charge, None))
        elif settings.PAYMENT_GATEWAY_CONCURRENCY <= 1:
            # In this thread, on this connection (tests run so: their data is uncommitted).
            futures.append(_answered(charge, payment_sale_send(charge.payment, fresh=charge.fresh)))
        else:
            futures.append(_gateway_pool().submit(_send_one, charge))
    return futures


class CreateChildOrdersJob:
    @staticmethod
    def plan(run: BatchRun) -> Plan:
        planned = _plan_ahead(run)
        due = occurrences_due_for_child_orders(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        ).values_list("pk", "subscription_id", "subscription__plan__consolidate")
        groups: list[list[int]] = []
        by_subscription: dict[int, list[int]] = {}
        for pk, subscription_id, consolidate in due:
            if consolidate:
                if subscription_id not in by_subscription:
                    by_subscription[subscription_id] = []
                    groups.append(by_subscription[subscription_id])
                by_subscription[subscription_id].append(pk)
            else:
                groups.append([pk])
        cap = ContinuityParameters.load().max_child_orders_per_run
        if run.limit:
            cap = min(cap, run.limit)
        kept, over = groups[:cap], groups[cap:]
        not_processed = occurrences_not_ready_for_child_orders(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        )
        not_processed += [(pk, NotCreatedReason.LIMIT_REACHED) for group in over for pk in group]
        return Plan(
            groups=kept, not_processed=not_processed, extra={"planned_occurrences": planned}
        )

    @staticmethod
    def dry_run_summary(run: BatchRun, plan: Plan) -> dict:
        return {
            "would_create": len(plan.groups),
            "would_fulfil": sum(len(group) for group in plan.groups),
        }

    @staticmethod
    def process(run: BatchRun, chunk: BatchChunk, *, final: bool = False) -> bool:
        """The chunk's child orders, its counts and its "done" mark in one transaction."""
        ledger = ChunkLedger(run, chunk)
        with transaction.atomic():
            if not ledger.lock():
                return False
            result = child_orders_create(
                groups=chunk.groups,
                run_date=run.run_date,
                actor=_actor(run),
                source_reference=f"batch-run:{run.pk}",
            )
            problems = list(result.problems)
            if final:
                problems += _locked_problems(list(result.locked_elsewhere))
            outcome = ChunkOutcome(
                processed=result.fulfilled_occurrences + len(problems),
                succeeded=result.fulfilled_occurrences,
                counts=Counter(
                    {
                        "created": result.created_orders,
                        "fulfilled": result.fulfilled_occurrences,
                        "completed_subscriptions": result.completed_subscriptions,
                    }
                ),
                problems=problems,
            )
            complete = final or not result.locked_elsewhere
            ledger.account(outcome, complete=complete)
        if not complete:
            raise ChunkIncomplete(f"{len(result.locked_elsewhere)} shipments held elsewhere")
        return True


JOBS = {
    BatchJob.PROCESS_PAYMENTS: ProcessPaymentsJob,
    BatchJob.CREATE_CHILD_ORDERS: CreateChildOrdersJob,
}


# --- Running -----------------------------------------------------------------------------


def _chunks(groups: list[list[int]], size: int) -> list[list[list[int]]]:
    """Split groups into chunks of about `size` shipments; a group is never split."""
    chunks, current, count = [], [], 0
    for group in groups:
        if current and count + len(group) > size:
            chunks.append(current)
            current, count = [], 0
        current.append(group)
        count += len(group)
    if current:
        chunks.append(current)
    return chunks


def _record_problems(run: BatchRun, problems) -> None:
    BatchRunProblem.objects.bulk_create(
        [
            BatchRunProblem(run=run, occurrence_id=pk, reason=reason, detail=detail[:2000])
            for pk, reason, detail in problems
        ],
        batch_size=2000,
    )


TERMINAL_STATUSES = (
    BatchRunStatus.SUCCEEDED,
    BatchRunStatus.FINISHED_WITH_PROBLEMS,
    BatchRunStatus.FAILED,
)


def batch_run_plan(*, run_id: int) -> list[int]:
    """Plan a run: select its work and split it into chunks. Returns the numbers of the
    chunks still to carry out.

    Safe to deliver twice: the run's row stays locked while it is planned, so a second
    delivery waits, then finds the chunks and returns those not done (to be sent again:
    the planner that made them may have died before sending them). A dry run finishes
    here; so does a run with nothing to do.
    """
    _before_planning(run_id)
    try:
        with transaction.atomic():
            run = BatchRun.objects.select_for_update().get(pk=run_id)
            if run.status in TERMINAL_STATUSES:
                return []
            if run.chunk_count:
                return list(
                    run.chunks.filter(status=BatchChunk.Status.PENDING)
                    .order_by("number")
                    .values_list("number", flat=True)
                )
            run.status = BatchRunStatus.RUNNING
            run.started_at = run.started_at or timezone.now()
            run.save(update_fields=["status", "started_at"])
            job = JOBS[run.job]
            plan = job.plan(run)
            if run.dry_run:
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
            chunks = _chunks(plan.groups, settings.BATCH_CHUNK_SIZE)
            _record_problems(run, [(pk, reason, "") for pk, reason in plan.not_processed])
            BatchChunk.objects.bulk_create(
                [
                    BatchChunk(run=run, number=number, groups=groups)
                    for number, groups in enumerate(chunks, start=1)
                ]
            )
            run.selected_count = sum(len(group) for group in plan.groups)
            run.chunk_count = len(chunks)
            run.not_processed_count = len(plan.not_processed)
            run.summary = {**plan.extra}
            run.save(
                update_fields=["selected_count", "chunk_count", "not_processed_count", "summary"]
            )
            if not chunks:
                _finish_if_done(run)
            return list(range(1, len(chunks) + 1))
    except Exception as error:
        # Recorded on the run for the supervisor, and raised again for the worker's log.
        BatchRun.objects.filter(pk=run_id).update(
            status=BatchRunStatus.FAILED,
            finished_at=timezone.now(),
            error_message=f"{type(error).__name__}: {error}",
        )
        raise


def _scope_subscription_ids(run: BatchRun) -> list[int] | None:
    """The subscriptions a run filtered on item or order is about; None: all of them."""
    if run.item_id is None and run.sales_order_id is None:
        return None
    subscriptions = Subscription.objects.all()
    if run.item_id is not None:
        subscriptions = subscriptions.filter(item_id=run.item_id)
    if run.sales_order_id is not None:
        subscriptions = subscriptions.filter(parent_order_id=run.sales_order_id)
    return list(subscriptions.values_list("pk", flat=True))


def _before_planning(run_id: int) -> None:
    """Done outside the planning transaction, before it, and harmless to repeat: pauses
    whose date has come end, and (payment job) refunds owed for shipments skipped or
    cancelled after they were paid are made. A refund calls the gateway, which must
    never happen inside an open transaction."""
    run = BatchRun.objects.get(pk=run_id)
    if run.status in TERMINAL_STATUSES or run.chunk_count or run.dry_run:
        return
    actor = _actor(run)
    subscriptions_resume_due(run_date=run.run_date, actor=actor)
    if run.job == BatchJob.PROCESS_PAYMENTS:
        occurrences_refund_due(subscription_ids=_scope_subscription_ids(run), actor=actor)


def batch_chunk_execute(*, run_id: int, chunk_number: int, final: bool = False) -> bool:
    """Carry out one chunk; False when it was already done. Raises ChunkIncomplete when
    some shipments were held by another transaction (to be tried again); on the `final`
    attempt those are reported as problems and the chunk is done."""
    run = BatchRun.objects.select_related("item", "sales_order").get(pk=run_id)
    chunk = BatchChunk.objects.get(run_id=run_id, number=chunk_number)
    if chunk.status != BatchChunk.Status.DONE:
        did_work = JOBS[run.job].process(run, chunk, final=final)
    else:
        did_work = False
    # Also when delivered again: the delivery that did the work may have died before
    # finishing the run.
    batch_run_finish_if_done(run_id=run_id)
    return did_work


def batch_run_finish_if_done(*, run_id: int) -> BatchRun:
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run_id)
        _finish_if_done(run)
    return run


def _finish_if_done(run: BatchRun) -> None:
    """Finish a running run whose chunks are all done (caller holds the run's lock)."""
    if run.status != BatchRunStatus.RUNNING or run.chunks_done < run.chunk_count:
        return
    totals: Counter = Counter()
    amount = Decimal("0.00")
    for counts in run.chunks.values_list("counts", flat=True):
        amount += Decimal(counts.get("amount", "0"))
        totals.update({key: value for key, value in counts.items() if key != "amount"})
    not_processed = Counter(run.problems.values_list("reason", flat=True))
    summary = {**run.summary, **totals, "not_processed": dict(not_processed)}
    if run.job == BatchJob.PROCESS_PAYMENTS:
        summary["amount_charged"] = str(amount)
    status = BatchRunStatus.FINISHED_WITH_PROBLEMS if run.error_count else BatchRunStatus.SUCCEEDED
    _finish(run, status=status, summary=summary)


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
    fields = ["status", "finished_at"]
    if summary is not None:
        run.summary = summary
        fields.append("summary")
    if error:
        run.error_message = error
        fields.append("error_message")
    if selected is not None:
        run.selected_count = selected
        fields.append("selected_count")
    BatchRun.objects.filter(pk=run.pk).update(**{name: getattr(run, name) for name in fields})


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
