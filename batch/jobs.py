"""The two continuity jobs, each declared once as a BatchJobSpec subclass in JOBS.

A job says how it selects its work (`plan`), what it must do before planning
(`before_planning`), how it does one chunk (`process`), what a dry run reports
(`dry_run_summary`) and what it adds to the run's summary when the run ends
(`summary`). batch.services runs any job through these and never asks which job it is.

The work on each shipment is done by continuity's services (charging, child orders),
which know nothing of runs.
"""

from __future__ import annotations

import datetime
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from batch.models import BatchChunk, BatchJob, BatchRun, BatchRunProblem, ProblemReason
from continuity.actions import subscriptions_resume_due
from continuity.charging import (
    ChargeOutcome,
    ChargeResult,
    PreparedCharge,
    charge_send,
    charges_prepare,
    charges_record,
)
from continuity.models import CHARGE_KEPT, NOT_SENT, ContinuityParameters, Subscription
from continuity.money_audit import money_audit
from continuity.refunds import occurrences_refund_due
from continuity.selectors import (
    NotCreatedReason,
    horizon_date,
    occurrences_due_for_child_orders,
    occurrences_due_for_payment,
    occurrences_not_ready_for_child_orders,
    subscriptions_to_plan,
)
from continuity.services import child_orders_create, subscriptions_materialise
from core.actors import Actor
from payments.models import PaymentStatus


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


class ChunkIncomplete(Exception):
    """Some of the chunk's shipments were held by another transaction; what could be done
    is committed and counted, the chunk stays pending and is tried again later."""


def record_problems(run: BatchRun, problems) -> None:
    BatchRunProblem.objects.bulk_create(
        [
            BatchRunProblem(run=run, occurrence_id=pk, reason=reason, detail=detail[:2000])
            for pk, reason, detail in problems
        ],
        batch_size=2000,
    )


class ChunkLedger:
    """The chunk's own row: locked first in every transaction that records the chunk's
    work (continuity.locks), so a second delivery of the same chunk waits, then reads
    what is left to do instead of doing or counting anything twice."""

    def __init__(self, run: BatchRun, chunk: BatchChunk):
        self.run = run
        self.chunk_pk = chunk.pk
        self.row: BatchChunk | None = None

    def lock(self) -> bool:
        """Lock the row (inside the caller's transaction); False when the chunk is over."""
        # order_by(): the model's default ordering joins the run and would lock it too.
        self.row = BatchChunk.objects.select_for_update().order_by().get(pk=self.chunk_pk)
        return self.row.status == BatchChunk.Status.PENDING

    def account(self, outcome: ChunkOutcome, *, remaining: list[list[int]], complete: bool) -> None:
        """Add what this part of the work did to the chunk and the run (atomically, with
        F() on the run), write what is left to do, and mark the chunk done when nothing
        is left."""
        row = self.row
        counts = Counter({key: value for key, value in row.counts.items() if key != "amount"})
        counts.update(outcome.counts)
        amount = Decimal(row.counts.get("amount", "0")) + outcome.amount
        row.counts = {**counts, **({"amount": str(amount)} if amount else {})}
        row.remaining = [] if complete else remaining
        fields = ["counts", "remaining"]
        if complete:
            row.status = BatchChunk.Status.DONE
            row.finished_at = timezone.now()
            fields += ["status", "finished_at"]
        row.save(update_fields=fields)
        record_problems(self.run, outcome.problems)
        errors = sum(1 for _pk, reason, _detail in outcome.problems if reason == "error")
        BatchRun.objects.filter(pk=self.run.pk).update(
            processed_count=F("processed_count") + outcome.processed,
            succeeded_count=F("succeeded_count") + outcome.succeeded,
            not_processed_count=F("not_processed_count") + len(outcome.problems) - errors,
            error_count=F("error_count") + errors,
            chunks_done=F("chunks_done") + (1 if complete else 0),
            last_progress_at=timezone.now(),
        )


def locked_problems(queues: list[list[int]]) -> list[tuple[int, str, str]]:
    """Shipments still held by another transaction on a chunk's last try: the first of
    each subscription's queue is an error, the rest wait behind it."""
    problems = []
    for head, *rest in queues:
        problems.append(
            (head, ProblemReason.ERROR, _("Held by another database session; not processed."))
        )
        problems += _deferred(rest)
    return problems


def _deferred(pks: list[int]) -> list[tuple[int, str, str]]:
    return [(pk, ProblemReason.DEFERRED, _("An earlier shipment is not paid yet.")) for pk in pks]


def actor_of(run: BatchRun) -> Actor:
    return Actor.job(f"{run.job} run #{run.pk}")


def scope_subscription_ids(run: BatchRun) -> list[int] | None:
    """The subscriptions a run filtered on item or order is about; None: all of them."""
    if run.item_id is None and run.sales_order_id is None:
        return None
    subscriptions = Subscription.objects.all()
    if run.item_id is not None:
        subscriptions = subscriptions.filter(item_id=run.item_id)
    if run.sales_order_id is not None:
        subscriptions = subscriptions.filter(parent_order_id=run.sales_order_id)
    return list(subscriptions.values_list("pk", flat=True))


def _plan_ahead(run: BatchRun) -> int:
    """Open-ended subscriptions get their shipments planned up to the horizon first."""
    through = horizon_date(run_date=run.run_date)
    ids = subscriptions_to_plan(
        through=through, item_id=run.item_id, parent_order_id=run.sales_order_id
    )
    if run.dry_run or not ids:
        return 0
    return subscriptions_materialise(subscription_ids=ids, through=through, actor=actor_of(run))


class BatchJobSpec:
    """What batch.services needs of a job. Subclasses are registered in JOBS."""

    job: str

    def before_planning(self, run: BatchRun) -> None:
        """Work done outside the planning transaction, before it, harmless to repeat
        (it may call the gateway, which never happens inside a transaction)."""
        subscriptions_resume_due(actor=actor_of(run))

    def plan(self, run: BatchRun) -> Plan:
        raise NotImplementedError

    def dry_run_summary(self, run: BatchRun, plan: Plan) -> dict:
        raise NotImplementedError

    def process(self, run: BatchRun, chunk: BatchChunk, *, final: bool = False) -> bool:
        """Do what is left of the chunk; False when it was over already. Raises
        ChunkIncomplete while shipments are held elsewhere (unless `final`)."""
        raise NotImplementedError

    def summary(self, run: BatchRun, totals: Counter, amount: Decimal) -> dict:
        """The job's own part of the summary of a run that has finished."""
        return {}


# --- Process continuity payments ---------------------------------------------------------

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

# A shipment found in one of these when its turn came lets the next shipment of its
# subscription be charged in the same run (it is paid, or will not be sent). Any other
# state (declined meanwhile by another run, in flight) keeps the rest waiting.
_LETS_NEXT_GO = frozenset({*CHARGE_KEPT, *NOT_SENT})


def _lets_next_go(result: ChargeResult) -> bool:
    return result.outcome == ChargeOutcome.PAID or (
        result.outcome == ChargeOutcome.SKIPPED and result.detail in _LETS_NEXT_GO
    )


class ProcessPaymentsJob(BatchJobSpec):
    job = BatchJob.PROCESS_PAYMENTS

    def before_planning(self, run: BatchRun) -> None:
        super().before_planning(run)
        # Refunds owed for shipments skipped or cancelled after they were paid.
        occurrences_refund_due(subscription_ids=scope_subscription_ids(run), actor=actor_of(run))

    def plan(self, run: BatchRun) -> Plan:
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

    def dry_run_summary(self, run: BatchRun, plan: Plan) -> dict:
        due = occurrences_due_for_payment(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        ).select_related("subscription__card")
        would = Counter()
        amount = Decimal("0.00")
        for occurrence in due:
            if occurrence.status in ("charging", "payment_unknown"):
                would["look_up"] += 1
            elif occurrence.subscription.card.is_expired_on(run.run_date):
                would["card_expired"] += 1
            else:
                would["charge"] += 1
                amount += occurrence.amount
        return {"would": dict(would), "would_charge_amount": str(amount)}

    def process(self, run: BatchRun, chunk: BatchChunk, *, final: bool = False) -> bool:
        """Charge what is left of the chunk in rounds: the first due shipment of every
        subscription, then the next one of those whose charge was approved, and so on.
        Each round commits its sales and keys, calls the gateway outside any transaction,
        then records the answers and what is left under the chunk's lock.

        A result counts only if its shipment is still first in its queue under that lock:
        another delivery of the chunk (a worker that died, a run dispatched again) that
        did the same shipment first has moved the queue on, so nothing counts twice and a
        shipment deferred behind a decline stays deferred.
        """
        actor = actor_of(run)
        ledger = ChunkLedger(run, chunk)
        queues = [list(queue) for queue in chunk.groups_to_do]
        waiting: list[list[int]] = []
        while True:
            heads = [queue[0] for queue in queues]
            results, locked_elsewhere, answers = self._round(run, actor, heads)
            with transaction.atomic():
                if not ledger.lock():
                    return False  # another delivery of this chunk finished it
                results += charges_record(answers=answers, run_date=run.run_date, actor=actor)
                outcome, advancing, waiting = self._account_round(
                    ledger.row.groups_to_do, results, locked_elsewhere, answers
                )
                done = not advancing and (final or not waiting)
                if done and waiting:
                    outcome.problems += locked_problems(waiting)
                ledger.account(outcome, remaining=advancing + waiting, complete=done)
            if not advancing:
                break
            # The queues held elsewhere wait for the chunk's next try.
            queues = advancing
        if waiting and not final:
            raise ChunkIncomplete(f"{len(waiting)} shipments held elsewhere")
        return True

    @staticmethod
    def _account_round(current, results, locked_elsewhere, answers):
        """What one round did to the chunk's queues as they are now (under its lock):
        the outcome to count, the queues that go on, those held elsewhere."""
        by_id = {result.occurrence_id: result for result in results}
        amounts = {charge.occurrence_id: charge.payment.amount for charge, _answer in answers}
        outcome = ChunkOutcome()
        advancing, waiting = [], []
        for queue in current:
            head, rest = queue[0], queue[1:]
            result = by_id.get(head)
            if result is None:
                # Not done this round: held elsewhere, or moved on by another delivery.
                (waiting if head in locked_elsewhere else advancing).append(queue)
                continue
            if _lets_next_go(result):
                if rest:
                    advancing.append(rest)
            else:
                outcome.problems += _deferred(rest)
            if result.outcome == ChargeOutcome.SKIPPED:
                continue
            outcome.processed += 1
            outcome.counts[result.outcome] += 1
            if result.outcome == ChargeOutcome.PAID:
                outcome.succeeded += 1
                outcome.amount += amounts[head]
                continue
            detail = result.detail
            if result.retry_on:
                detail = _("%(reason)s Next attempt on %(date)s.") % {
                    "reason": detail,
                    "date": result.retry_on.isoformat(),
                }
            reason = _CHARGE_PROBLEMS.get(result.outcome, ProblemReason.ERROR)
            outcome.problems.append((head, reason, detail))
        return outcome, advancing, waiting

    def _round(self, run, actor, heads):
        """Prepare the heads in slices, each slice sent while the next is prepared."""
        early: list[ChargeResult] = []
        locked_elsewhere: set[int] = set()
        in_flight: list[Future] = []
        for start in range(0, len(heads), CHARGE_PREPARE_SLICE):
            preparation = charges_prepare(
                occurrence_ids=heads[start : start + CHARGE_PREPARE_SLICE],
                run_date=run.run_date,
                actor=actor,
            )
            early += preparation.results
            locked_elsewhere.update(preparation.locked_elsewhere)
            in_flight += _send_start(preparation.prepared)
        return early, locked_elsewhere, [future.result() for future in in_flight]

    def summary(self, run: BatchRun, totals: Counter, amount: Decimal) -> dict:
        audit = money_audit(
            source=f"payment run #{run.pk}",
            ledger_since=(run.started_at or run.created_at) - datetime.timedelta(days=1),
        )
        BatchRun.objects.filter(pk=run.pk).update(money_audit=audit)
        run.money_audit = audit
        return {"amount_charged": str(amount), "money_audit_findings": audit.finding_count}


@cache
def _gateway_pool() -> ThreadPoolExecutor:
    # Gateway calls wait on the network, not on the CPU: many at once is what makes
    # hundreds of charges a second possible at 100 ms a call. The threads (and their
    # database connections, through which the simulator writes its ledger) live as long
    # as the worker process.
    return ThreadPoolExecutor(
        max_workers=settings.PAYMENT_GATEWAY_CONCURRENCY, thread_name_prefix="gateway"
    )


def _send_one(charge: PreparedCharge):
    try:
        return charge, charge_send(charge)
    finally:
        # Outside a request, Django does not recycle connections by itself.
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()


def _answered(charge: PreparedCharge, answer) -> Future:
    future = Future()
    future.set_result((charge, answer))
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
            futures.append(_answered(charge, charge_send(charge)))
        else:
            futures.append(_gateway_pool().submit(_send_one, charge))
    return futures


# --- Create continuity child orders ------------------------------------------------------


class CreateChildOrdersJob(BatchJobSpec):
    job = BatchJob.CREATE_CHILD_ORDERS

    def plan(self, run: BatchRun) -> Plan:
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

    def dry_run_summary(self, run: BatchRun, plan: Plan) -> dict:
        return {
            "would_create": len(plan.groups),
            "would_fulfil": sum(len(group) for group in plan.groups),
        }

    def process(self, run: BatchRun, chunk: BatchChunk, *, final: bool = False) -> bool:
        """What is left of the chunk's child orders, its counts and what is still left,
        in one transaction."""
        ledger = ChunkLedger(run, chunk)
        with transaction.atomic():
            if not ledger.lock():
                return False
            groups = ledger.row.groups_to_do
            result = child_orders_create(
                groups=groups,
                run_date=run.run_date,
                actor=actor_of(run),
                source_reference=f"batch-run:{run.pk}",
            )
            held = set(result.locked_elsewhere)
            waiting = [
                [pk for pk in group if pk in held]
                for group in groups
                if any(pk in held for pk in group)
            ]
            problems = list(result.problems)
            complete = final or not waiting
            if final:
                problems += [
                    (pk, ProblemReason.ERROR, _("Held by another database session; not processed."))
                    for group in waiting
                    for pk in group
                ]
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
            ledger.account(outcome, remaining=waiting, complete=complete)
        if not complete:
            raise ChunkIncomplete(f"{len(held)} shipments held elsewhere")
        return True


JOBS: dict[str, BatchJobSpec] = {
    job.job: job for job in (ProcessPaymentsJob(), CreateChildOrdersJob())
}
