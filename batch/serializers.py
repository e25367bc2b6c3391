"""API representations of batch runs, and the request that starts one."""

from rest_framework import serializers

from batch.models import BatchJob, BatchRunStatus
from batch.presenters import batch_run_summary_line
from continuity.serializers import MoneyAuditSerializer
from core.rest_fields import BusinessDateField, StrictBooleanField, StrictCharField


class BatchRunCreateSerializer(serializers.Serializer):
    job = serializers.ChoiceField(choices=BatchJob.choices)
    item_number = StrictCharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        help_text="Only this continuity item's subscriptions (empty: every item).",
    )
    sales_order = StrictCharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        help_text="Only this continuity parent order's subscriptions.",
    )
    run_date = BusinessDateField(
        required=False, allow_null=True, help_text="The business date (default: today)."
    )
    dry_run = StrictBooleanField(
        default=False, help_text="Report what would happen without changing anything."
    )


class BatchRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job = serializers.ChoiceField(choices=BatchJob.choices)
    status = serializers.ChoiceField(choices=BatchRunStatus.choices)
    item_number = StrictCharField(source="item.item_number", allow_null=True)
    sales_order = serializers.CharField(source="sales_order.number", allow_null=True)
    run_date = serializers.DateField()
    dry_run = serializers.BooleanField()
    limit = serializers.IntegerField(allow_null=True)
    started_by = serializers.CharField(
        source="started_by_label", help_text="A user name, or beat, command..."
    )
    created_at = serializers.DateTimeField(help_text="Queued at.")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    selected_count = serializers.IntegerField(help_text="Shipments selected.")
    processed_count = serializers.IntegerField()
    succeeded_count = serializers.IntegerField()
    not_processed_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    chunks_done = serializers.IntegerField()
    chunks_failed = serializers.IntegerField(
        help_text="Chunks that raised an error not worth retrying: the run ends partial "
        "(or failed if none finished) and can be resumed."
    )
    last_progress_at = serializers.DateTimeField(
        allow_null=True, help_text="When a chunk last finished (the watchdog's clock)."
    )
    redispatch_count = serializers.IntegerField(
        help_text="Times its unfinished chunks were dispatched again (watchdog or supervisor)."
    )
    redispatched_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.DictField(help_text="The job's counts when it finished.")
    summary_line = serializers.SerializerMethodField(
        help_text="The run page's one-line summary, in the request's language."
    )
    error_message = serializers.CharField()

    def get_summary_line(self, run) -> str:
        return batch_run_summary_line(run)


class BatchRunDetailSerializer(BatchRunSerializer):
    problem_counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Shipments not processed, by reason (awaiting_payment, payment_declined, "
        "card_expired, on_hold, limit_reached, declined, deferred, unknown, error).",
    )
    child_orders = serializers.ListField(
        child=serializers.CharField(),
        help_text="Numbers of the child orders the run created (first 100).",
    )
    failed_chunks = serializers.ListField(
        child=serializers.DictField(), help_text="Each failed chunk's number and error."
    )
    money_audit = MoneyAuditSerializer(
        allow_null=True, help_text="The audit run at the end of a payment run."
    )
