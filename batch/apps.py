from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BatchConfig(AppConfig):
    name = "batch"
    verbose_name = _("Batch runs")

    def ready(self):
        from batch.metrics import BatchRunDurationCollector
        from core.metrics import metrics_collector_register

        # Batch run durations on /metrics (core.metrics).
        metrics_collector_register("batch_runs", BatchRunDurationCollector())
