"""Both continuity jobs scheduled daily through django-celery-beat (editable in the
admin): payments first at 01:00, child orders after at 02:00, in TIME_ZONE (the zone then
follows BUSINESS_TIME_ZONE when it changes: core.beat).

Rows are created only when missing, so a schedule changed in the admin is never reset.
"""

from django.conf import settings
from django.db import migrations

SCHEDULES = [
    ("Process continuity payments (daily)", "batch.scheduled_process_payments", "1"),
    ("Create continuity child orders (daily)", "batch.scheduled_create_child_orders", "2"),
]


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, hour in SCHEDULES:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour=hour,
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.create(name=name, task=task, crontab=crontab, queue="batch")


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _task, _hour in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("batch", "0003_chunks_and_reasons"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
