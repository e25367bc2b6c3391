from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _schedules_follow_business_zone(sender, using, apps=None, **kwargs):
    """After every migrate: the admin shows beat's schedules in the current zone.

    `flush` (a transactional test's teardown among others) sends post_migrate too, without
    the migration state's `apps`: the installed models stand in for it."""
    if using != DEFAULT_DB_ALIAS:
        return  # beat's tables live in the default database only
    if apps is None:
        from django.apps import apps
    try:
        crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    except LookupError:
        return  # migrated back past django_celery_beat's tables
    from core.beat import beat_schedules_follow_business_zone

    beat_schedules_follow_business_zone(crontab_model=crontab_model)


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Audit trail")

    def ready(self):
        from core import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(
            _schedules_follow_business_zone,
            sender=self,
            dispatch_uid="core.schedules_follow_business_zone",
        )

        from core.metrics import NotificationsOwedCollector, metrics_collector_register

        # The product's metrics on /metrics (core.metrics).
        metrics_collector_register("notifications", NotificationsOwedCollector())
