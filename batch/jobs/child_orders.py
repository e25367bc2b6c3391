"""Create continuity child orders: one child order per paid shipment that is due (one
for several shipments when the program consolidates), up to the run's cap."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from django.db import transaction
from django.utils.translation import gettext as _

from batch.jobs.base import BatchJobSpec, Plan, actor_of, plan_ahead
from batch.jobs.chunks import ChunkIncomplete, ChunkLedger, ChunkOutcome
from batch.models import BatchChunk, BatchJob, BatchRun
from batch.selectors import batch_run_child_orders
from continuity.child_orders import child_orders_create
from continuity.fulfilment import child_orders_release_due, parent_orders_close
from continuity.models import ContinuityParameters, ShipmentProblem
from continuity.selectors import (
    occurrences_due_for_child_orders_grouped,
    occurrences_not_ready_for_child_orders,
)

# The reasons the summary line always names (with 0 when none), in this order; the
# others only when they happened.
ALWAYS_NAMED_REASONS = [
    ShipmentProblem.AWAITING_PAYMENT,
    ShipmentProblem.PAYMENT_DECLINED,
    ShipmentProblem.CARD_EXPIRED,
    ShipmentProblem.ON_HOLD,
]
NAMED_WHEN_COUNTED_REASONS = [ShipmentProblem.LIMIT_REACHED, ShipmentProblem.ERROR]


class CreateChildOrdersJob(BatchJobSpec):
    name = BatchJob.CREATE_CHILD_ORDERS
    limit_help = "Create at most this many child orders."

    def plan(self, run: BatchRun) -> Plan:
        planned = plan_ahead(run)
        cap = ContinuityParameters.load().max_child_orders_per_run
        if run.limit:
            cap = min(cap, run.limit)
        not_processed = occurrences_not_ready_for_child_orders(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        )
        return Plan(
            groups=self._groups(run, cap, not_processed),
            not_processed=not_processed,
            extra={"planned_occurrences": planned},
        )

    @staticmethod
    def _groups(run: BatchRun, cap: int, not_processed: list) -> Iterator[list[int]]:
        """The due shipments' groups, one by one, in the order of their first shipment:
        one group per shipment, or one per subscription whose program consolidates.
        Groups past the cap go to `not_processed` (limit reached)."""
        due = occurrences_due_for_child_orders_grouped(
            run_date=run.run_date, item_id=run.item_id, parent_order_id=run.sales_order_id
        )
        given = 0
        for group in due:
            if given < cap:
                given += 1
                yield group
            else:
                not_processed += [(pk, ShipmentProblem.LIMIT_REACHED) for pk in group]

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
                    (
                        pk,
                        ShipmentProblem.ERROR,
                        _("Held by another database session; not processed."),
                    )
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

    def after_run(self, run: BatchRun) -> dict | None:
        """Once the run's child orders are written: release those due to the warehouse
        (when the parameters release them some days before the ship date), and complete
        the parent orders that are done (the D365 close job), within the run's filters."""
        if run.dry_run:
            return None
        actor = actor_of(run)
        released = child_orders_release_due(
            run_date=run.run_date,
            actor=actor,
            item_id=run.item_id,
            parent_order_id=run.sales_order_id,
        )
        closed = parent_orders_close(
            actor=actor,
            parent_order_ids=[run.sales_order_id] if run.sales_order_id else None,
            item_id=run.item_id,
        )
        return {"released": released, "parent_orders_completed": len(closed)}

    def summary_line(self, run: BatchRun) -> str:
        summary = run.summary or {}
        if run.dry_run:
            text = _("Dry run. Child orders to create: %(orders)d (shipments: %(shipments)d).") % {
                "orders": summary.get("would_create", 0),
                "shipments": summary.get("would_fulfil", 0),
            }
        else:
            text = _("Child orders created: %(count)d.") % {"count": summary.get("created", 0)}
        text = f"{text} " + _("Not created: %(reasons)s") % {
            "reasons": _not_created_text(summary.get("not_processed", {}))
        }
        # Named only when they happened, so that the line stays short on most days.
        if released := summary.get("released"):
            text += ". " + _("Released to the warehouse: %(count)d") % {"count": released}
        if closed := summary.get("parent_orders_completed"):
            text += ". " + _("Parent orders completed: %(count)d") % {"count": closed}
        return text

    def child_orders(self, run: BatchRun):
        return batch_run_child_orders(run)


def _not_created_text(counts: dict) -> str:
    reasons = ALWAYS_NAMED_REASONS + [
        reason for reason in NAMED_WHEN_COUNTED_REASONS if counts.get(reason)
    ]
    return ", ".join(f"{reason.label} {counts.get(reason, 0)}" for reason in reasons)
