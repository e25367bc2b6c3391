from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from batch.models import BatchChunk, BatchRun, BatchRunProblem
from core.admin import LargeTableAdminMixin, ReadOnlyAdminMixin


@admin.register(BatchRun)
class BatchRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Runs are started from the batch pages, the API, the commands or beat, and written
    only by the jobs themselves."""

    list_display = (
        "__str__",
        "job",
        "status",
        "run_date",
        "item",
        "sales_order",
        "dry_run",
        "started_by_label",
        "created_at",
        "finished_at",
        "selected_count",
        "succeeded_count",
        "not_processed_count",
        "error_count",
    )
    list_filter = ("job", "status", "dry_run", "run_date")
    search_fields = ("=sales_order__number", "=item__item_number", "=started_by_label")
    search_help_text = _("Exact sales order number, item number or who started the run.")
    list_select_related = ("item", "sales_order")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "job",
                    "status",
                    "item",
                    "sales_order",
                    "run_date",
                    "dry_run",
                    "limit",
                    # The label names the user too, or the job that started the run;
                    # the model's started_by (user) has the same verbose name.
                    "started_by_label",
                    "created_at",
                    "started_at",
                    "finished_at",
                )
            },
        ),
        (
            _("Results"),
            {
                "fields": (
                    "selected_count",
                    "processed_count",
                    "succeeded_count",
                    "not_processed_count",
                    "error_count",
                    "chunk_count",
                    "chunks_done",
                    "summary",
                    "problems_by_reason",
                    "error_message",
                )
            },
        ),
    )
    readonly_fields = ("problems_by_reason",)

    @admin.display(description=BatchRunProblem._meta.verbose_name_plural)
    def problems_by_reason(self, run):
        # A run can leave many thousands of problems: an inline would render every one.
        # Counts per reason here, and the list (filtered to this run) one click away.
        counts = (
            run.problems.values_list("reason")
            .annotate(count=Count("id"))
            .order_by("-count", "reason")
        )
        changelist = reverse("admin:batch_batchrunproblem_changelist")
        links = format_html_join(
            mark_safe("<br>"),
            '<a href="{}?{}">{}</a>: {}',
            (
                (changelist, urlencode({"run__id__exact": run.pk, "reason": reason}), reason, count)
                for reason, count in counts
            ),
        )
        return links or self.get_empty_value_display()


@admin.register(BatchRunProblem)
class BatchRunProblemAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "run", "reason", "occurrence", "detail", "created_at")
    search_fields = ("=reason", "=run__id")
    search_help_text = _("Exact reason or batch run number.")
    list_select_related = ("run", "occurrence")


@admin.register(BatchChunk)
class BatchChunkAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """A run's slices of work, written only by the chunk tasks."""

    list_display = ("__str__", "run", "number", "status", "counts", "finished_at")
    list_filter = ("status",)
    search_fields = ("=run__id",)
    list_select_related = ("run",)
