from django.db.models import Count

from batch.models import BatchRun
from orders.models import SalesOrder


def batch_run_list(*, limit: int | None = 100):
    """The latest runs first; `limit=None` for a queryset the caller pages through."""
    runs = BatchRun.objects.select_related("item", "sales_order").order_by("-id")
    return runs if limit is None else runs[:limit]


def batch_run_get(*, run_id: int) -> BatchRun:
    return BatchRun.objects.select_related("item", "sales_order", "started_by", "money_audit").get(
        pk=run_id
    )


def batch_run_problem_counts(run: BatchRun) -> dict[str, int]:
    return dict(run.problems.values_list("reason").annotate(count=Count("id")))


def batch_run_child_orders(run: BatchRun, *, limit: int = 100):
    return (
        SalesOrder.objects.filter(source_reference=f"batch-run:{run.pk}")
        .select_related("parent", "customer")
        .order_by("id")[:limit]
    )
