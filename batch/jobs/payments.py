"""Process continuity payments: charge every shipment that is due, in ship-date order per
subscription, the gateway called outside any transaction; then audit the money."""

from __future__ import annotations

import concurrent.futures
import contextvars
import datetime
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.db import connections, transaction
from django.utils.translation import gettext as _

from batch.jobs.base import BatchJobSpec, Plan, actor_of, plan_ahead
from batch.jobs.chunks import (
    ChunkIncomplete,
    ChunkLedger,
    ChunkOutcome,
    deferred_problems,
    locked_problems,
)
from batch.models import BatchChunk, BatchJob, BatchRun
from continuity.charging import (
    ChargeOutcome,
    ChargeResult,
    PreparedCharge,
    charge_send,
    charges_prepare,
    charges_record,
)
from continuity.models import CHARGE_IN_FLIGHT, CHARGE_KEPT, NOT_SENT, Subscription
from continuity.money_audit import money_audit
from continuity.refunds import occurrences_refund_due
from continuity.selectors import occurrences_due_for_payment
from core.formatting import amount_text, day_text
from payments.models import PaymentStatus

# Shipments prepared per transaction while earlier ones are at the gateway. Small enough
# that the gateway pool starts early (at 100 ms a call, 32 threads answer 100 charges in
# about 0.3 s), large enough that the lock query and commit of a slice stay cheap.
CHARGE_PREPARE_SLICE = 100
# Slices sent and not yet recorded, at most: the oldest is recorded (waiting for its last
# answers if need be) before another is prepared. Enough that the gateway pool always has
# a slice to work on while the worker records and prepares the others.
CHARGE_SLICES_IN_FLIGHT = 3


# A shipment found in one of these when its turn came lets the next shipment of its
# subscription be charged in the same run (it is paid, or will not be sent). Any other
# state (declined meanwhile by another run, in flight) keeps the rest waiting.
_LETS_NEXT_GO = frozenset({*CHARGE_KEPT, *NOT_SENT})


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


def _lets_next_go(result: ChargeResult) -> bool:
    return result.outcome == ChargeOutcome.PAID or (
        result.outcome == ChargeOutcome.SKIPPED and result.detail in _LETS_NEXT_GO
    )


class ProcessPaymentsJob(BatchJobSpec):
    name = BatchJob.PROCESS_PAYMENTS

    def before_planning(self, run: BatchRun) -> None:
        super().before_planning(run)
        # Refunds owed for shipments skipped or cancelled after they were paid.
        occurrences_refund_due(subscription_ids=scope_subscription_ids(run), actor=actor_of(run))

    def plan(self, run: BatchRun) -> Plan:
        planned = plan_ahead(run)
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
            if occurrence.status in CHARGE_IN_FLIGHT:
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
        A round is a pipeline of slices: each slice commits its sales and keys, goes to
        the gateway outside any transaction, and has its answers recorded, with what is
        left of the chunk, under the chunk's lock while the later slices are at the
        gateway (_Slice). The slice that ends the round also decides whether the chunk
        is done, in the same transaction as its answers.

        A result counts only if its shipment is still first in its queue under that lock:
        another delivery of the chunk (a worker that died, a run dispatched again) that
        did the same shipment first has moved the queue on, so nothing counts twice and a
        shipment deferred behind a decline stays deferred.
        """
        actor = actor_of(run)
        ledger = ChunkLedger(run, chunk)
        queues = [list(queue) for queue in chunk.groups_to_do]
        while True:
            heads = [queue[0] for queue in queues]
            # Heads whose rows another transaction holds: their queues wait, this round.
            held: set[int] = set()
            in_flight: deque[_Slice] = deque()
            ended = None
            if not heads:
                # Nothing left (a delivery after the work was done): the round's one
                # transaction still marks the chunk done.
                in_flight.append(_Slice([], []))
            try:
                for start in range(0, len(heads), CHARGE_PREPARE_SLICE):
                    preparation = charges_prepare(
                        occurrence_ids=heads[start : start + CHARGE_PREPARE_SLICE],
                        run_date=run.run_date,
                        actor=actor,
                    )
                    held.update(preparation.locked_elsewhere)
                    in_flight.append(_Slice(preparation.results, _send_start(preparation.prepared)))
                    # Record the older slices whose answers are in (or that have waited
                    # long enough) while this one is at the gateway; the newest is kept
                    # for the end of the round, whose transaction decides the chunk.
                    while len(in_flight) > 1 and (
                        len(in_flight) > CHARGE_SLICES_IN_FLIGHT or in_flight[0].answered()
                    ):
                        if not self._record(run, actor, ledger, in_flight.popleft()):
                            return False  # another delivery of this chunk finished it
                while len(in_flight) > 1:
                    if not self._record(run, actor, ledger, in_flight.popleft()):
                        return False
                ended = self._record(
                    run, actor, ledger, in_flight.popleft(), held=held, final=final
                )
            finally:
                # A delivery that stops early leaves no call behind it: the answers it
                # does not record are the other delivery's (same keys), or a lookup's.
                concurrent.futures.wait([future for part in in_flight for future in part.futures])
            if not ended:
                return False
            advancing, waiting = ended
            if not advancing:
                break
            # The queues held elsewhere wait for the chunk's next try.
            queues = advancing
        if waiting and not final:
            raise ChunkIncomplete(f"{len(waiting)} shipments held elsewhere")
        return True

    def _record(self, run, actor, ledger, part, *, held=None, final=False):
        """Record one slice's answers and account for its queues under the chunk's lock.
        With `held` (the round's last slice): also decide what the next round does and
        whether the chunk is done; returns (advancing, waiting). Otherwise True. False
        when another delivery finished the chunk."""
        answers = [future.result() for future in part.futures]
        with transaction.atomic():
            if not ledger.lock():
                return False
            results = part.early + charges_record(
                answers=answers, run_date=run.run_date, actor=actor
            )
            outcome, remaining = self._account(ledger.row.groups_to_do, results, answers)
            if held is None:
                ledger.account(outcome, remaining=remaining, complete=False)
                return True
            advancing = [queue for queue in remaining if queue[0] not in held]
            waiting = [queue for queue in remaining if queue[0] in held]
            done = not advancing and (final or not waiting)
            if done and waiting:
                outcome.problems += locked_problems(waiting)
            ledger.account(outcome, remaining=advancing + waiting, complete=done)
        return advancing, waiting

    @staticmethod
    def _account(current, results, answers):
        """What one slice's results do to the chunk's queues as they are now (under its
        lock): the outcome to count, and the queues left (the slice's own moved on, the
        others as they are)."""
        by_id = {result.occurrence_id: result for result in results}
        amounts = {charge.occurrence_id: charge.payment.amount for charge, _answer in answers}
        outcome = ChunkOutcome()
        remaining = []
        for queue in current:
            head, rest = queue[0], queue[1:]
            result = by_id.get(head)
            if result is None:
                # Not this slice's, held elsewhere, or moved on by another delivery.
                remaining.append(queue)
                continue
            if _lets_next_go(result):
                if rest:
                    remaining.append(rest)
            else:
                outcome.problems += deferred_problems(rest)
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
                    "date": day_text(result.retry_on),
                }
            # A charge that did not go through comes to its ShipmentProblem.
            outcome.problems.append((head, result.outcome, detail))
        return outcome, remaining

    def after_run(self, run: BatchRun) -> dict:
        """Compare our books with the gateway's ledger since the run began (a day
        earlier: a sale the previous run left unknown may be answered by now)."""
        audit = money_audit(
            source=f"payment run #{run.pk}",
            ledger_since=(run.started_at or run.created_at) - datetime.timedelta(days=1),
        )
        BatchRun.objects.filter(pk=run.pk).update(money_audit=audit)
        return {"money_audit_findings": audit.finding_count}

    def summary(self, run: BatchRun, totals: Counter, amount: Decimal) -> dict:
        return {"amount_charged": str(amount)}

    def summary_line(self, run: BatchRun) -> str:
        summary = run.summary or {}
        if run.dry_run:
            would = summary.get("would", {})
            return _(
                "Dry run. Shipments to charge: %(charge)d (%(amount)s %(currency)s). Unknown "
                "outcomes to look up: %(look_up)d. Cards expired: %(expired)d."
            ) % {
                "charge": would.get("charge", 0),
                "amount": amount_text(summary.get("would_charge_amount", "0.00")),
                "currency": settings.CURRENCY,
                "look_up": would.get("look_up", 0),
                "expired": would.get("card_expired", 0),
            }
        return _(
            "Shipments charged: %(paid)d (%(amount)s %(currency)s). Declined, to be retried: "
            "%(declined)d. On hold: %(on_hold)d. Card expired: %(expired)d. Outcome unknown: "
            "%(unknown)d. Errors: %(errors)d."
        ) % {
            "paid": summary.get("paid", 0),
            "amount": amount_text(summary.get("amount_charged", "0.00")),
            "currency": settings.CURRENCY,
            "declined": summary.get("declined", 0),
            "on_hold": summary.get("on_hold", 0),
            "expired": summary.get("card_expired", 0),
            "unknown": summary.get("unknown", 0),
            "errors": summary.get("not_processed", {}).get("error", 0),
        }


@dataclass
class _Slice:
    """Heads of queues prepared together: what the preparation found without a call,
    and the calls on their way (each future answers (charge, answer))."""

    early: list[ChargeResult]
    futures: list[Future]

    def answered(self) -> bool:
        return all(future.done() for future in self.futures)


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
            # In a copy of this thread's context: the pool thread's log lines carry the
            # chunk's and the task's fields.
            futures.append(
                _gateway_pool().submit(contextvars.copy_context().run, _send_one, charge)
            )
    return futures
