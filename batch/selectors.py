from django.db.models import Count

from batch.models import BatchRun
from orders.models import SalesOrder


def batch_run_list(*, limit: int | None = 100):
    """The latest runs first; `limit=None` for a queryset the caller pages through."""
    runs = BatchRun.objects.select_related("item", "sales_order").order_by("-id")
    return runs if limit is None else runs[:limit]


# What the run list page (batch/history.html) shows of a run: the sales orders' and
# items' other columns (thirty of an order) and a run's summary are not read for it.
_RUN_LIST_COLUMNS = (
    "job",
    "status",
    "run_date",
    "dry_run",
    "processed_count",
    "selected_count",
    "started_by_label",
    "started_at",
    "item__item_number",
    "sales_order__number",
)


def batch_run_list_page(*, limit: int = 100) -> list[BatchRun]:
    """The latest runs for the run list page, each with `job_label` and `status_label`:
    get_FOO_display() hashes every (lazily translated) choice of its field on each call,
    which for two fields of 100 runs was a third of the page's time; the labels are
    translated once here instead."""
    runs = list(batch_run_list(limit=None).only(*_RUN_LIST_COLUMNS)[:limit])
    jobs = _choice_labels("job")
    statuses = _choice_labels("status")
    for run in runs:
        # As get_FOO_display(): a value that is no choice shows as itself.
        run.job_label = jobs.get(run.job, run.job)
        run.status_label = statuses.get(run.status, run.status)
    return runs


def _choice_labels(field: str) -> dict[str, str]:
    return {value: str(label) for value, label in BatchRun._meta.get_field(field).flatchoices}


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
