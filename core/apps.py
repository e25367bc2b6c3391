from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Audit trail")

    def ready(self):
        from core.metrics import NotificationsOwedCollector, metrics_collector_register

        # The product's metrics on /metrics (core.metrics).
        metrics_collector_register("notifications", NotificationsOwedCollector())
