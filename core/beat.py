"""Beat's daily schedules keep to the call centre's time zone (BUSINESS_TIME_ZONE).

A CrontabSchedule row carries its own zone, written when the row was made (by a data
migration, or in the admin). Moving the call centre to another zone is a change of
setting, not of data: the rows are brought to the current zone whenever migrate runs and
whenever beat starts, so a restart with the new setting is all it takes. Only the zone
follows; the hours and days an administrator set in the admin are kept.
"""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler


def beat_schedules_follow_business_zone(*, crontab_model=CrontabSchedule) -> int:
    """Put every crontab schedule in BUSINESS_TIME_ZONE; the number of rows moved.

    Every crontab, not only the ones the migrations made: a schedule's hour means an hour
    of the call centre's day, whoever wrote it. Safe to repeat (nothing moves twice).
    """
    zone = settings.TIME_ZONE
    with transaction.atomic():
        moved = crontab_model.objects.exclude(timezone=zone).update(timezone=zone)
        if moved:
            # A queryset update sends no signal: tell every running beat to read its
            # schedule again (DatabaseScheduler caches it until this stamp changes).
            PeriodicTasks.update_changed()
    return moved


class BusinessZoneScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, with the zones brought up to date before it reads
    the schedule for the first time (beat's start)."""

    def setup_schedule(self):
        beat_schedules_follow_business_zone()
        super().setup_schedule()
