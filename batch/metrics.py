"""continuity_batch_run_duration_seconds: how long finished batch runs took, by job and
final status, as a histogram (see core.metrics for why it is read from the database)."""

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from batch.models import FINISHED_RUN_STATUSES, BatchRun

# Seconds: a run of a few shipments takes seconds, a night's book tens of minutes.
BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class BatchRunDurationCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(
            "continuity_batch_run_duration_seconds",
            "Time from a batch run's start to its finish (a resumed run counts from its "
            "first start), by job and final status.",
            labels=["job", "status"],
        )
        duration = ExpressionWrapper(
            F("finished_at") - F("started_at"), output_field=DurationField()
        )
        rows = (
            BatchRun.objects.filter(
                status__in=FINISHED_RUN_STATUSES,
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .annotate(duration=duration)
            .values("job", "status")
            .annotate(
                n=Count("id"),
                total=Sum("duration"),
                **{
                    f"le_{bound}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
                    for bound in BUCKETS
                },
            )
            .order_by("job", "status")
        )
        for row in rows:
            buckets = [(str(float(bound)), row[f"le_{bound}"]) for bound in BUCKETS]
            histogram.add_metric(
                [row["job"], row["status"]],
                buckets=[*buckets, ("+Inf", row["n"])],
                sum_value=(row["total"] or timedelta()).total_seconds(),
            )
        yield histogram
