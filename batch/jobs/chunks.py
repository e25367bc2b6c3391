"""What every job's `process` uses to do a chunk exactly once: the chunk's own row as a
ledger, the outcome a part of the work adds to it, and the problems it records."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from batch.models import BatchChunk, BatchRun, BatchRunProblem
from continuity.models import ShipmentProblem


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
        errors = sum(
            1 for _pk, reason, _detail in outcome.problems if reason == ShipmentProblem.ERROR
        )
        if connection.vendor == "postgresql":
            # The transaction's deferred foreign-key checks (every row the chunk wrote)
            # done now, before the run's row is locked for its counts: the other worker
            # processes, whose chunks end on the same row, then wait only for this
            # commit's WAL flush, not for the checks as well.
            connection.check_constraints()
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
            (head, ShipmentProblem.ERROR, _("Held by another database session; not processed."))
        )
        problems += deferred_problems(rest)
    return problems


def deferred_problems(pks: list[int]) -> list[tuple[int, str, str]]:
    """Shipments left for a later run because an earlier one of their subscription
    was not paid in this one."""
    return [(pk, ShipmentProblem.DEFERRED, _("An earlier shipment is not paid yet.")) for pk in pks]
