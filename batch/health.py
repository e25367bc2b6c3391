"""/health/'s check of Celery beat: the watchdog (`batch.watch_runs`, every minute) is the
one schedule that always runs, so the time beat last sent it says whether beat ticks."""

import dataclasses

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

WATCHDOG_TASK = "batch.watch_runs"


@dataclasses.dataclass
class CeleryBeat(HealthCheck):
    def run(self) -> None:
        try:
            self._check()
        except DatabaseError as error:
            raise ServiceUnavailable("Cannot read beat's schedule from the database.") from error
        finally:
            # Checks run in a pool thread: its connection would otherwise stay open.
            connection.close()

    def _check(self) -> None:
        # Beat writes last_run_at when it syncs its schedule (every 3 minutes by default),
        # so HEALTH_BEAT_MAX_MINUTES must allow the watchdog's minute plus that.
        task = PeriodicTask.objects.filter(task=WATCHDOG_TASK).first()
        if task is None:
            raise ServiceUnavailable(f"No schedule for {WATCHDOG_TASK}.")
        if not task.enabled:
            raise ServiceUnavailable(f"The schedule of {WATCHDOG_TASK} is disabled.")
        if task.last_run_at is None:
            raise ServiceUnavailable(f"Beat has never sent {WATCHDOG_TASK}.")
        late = timezone.now() - task.last_run_at
        if late.total_seconds() > settings.HEALTH_BEAT_MAX_MINUTES * 60:
            raise ServiceUnavailable(
                f"Beat last sent {WATCHDOG_TASK} {int(late.total_seconds() // 60)} minutes ago."
            )
