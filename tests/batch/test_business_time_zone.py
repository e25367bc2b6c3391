"""The business day is the call centre's (BUSINESS_TIME_ZONE), not UTC's: both jobs take
"today" to be the local date late in the evening and across the changes of daylight
saving time, and beat's schedules follow the zone when the setting changes, with no
migration. The call centre here is in New York (UTC-5 in winter, UTC-4 in summer)."""

import contextlib
import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from config.celery import app
from continuity.models import ContinuityParameters, Occurrence
from core.actors import Actor
from core.beat import BusinessZoneScheduler, beat_schedules_follow_business_zone
from core.dates import business_date
from payments.models import Payment

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
ACTOR = Actor.job("beat")
PAYMENTS = "Process continuity payments (daily)"
CHILD_ORDERS = "Create continuity child orders (daily)"


def in_new_york():
    return override_settings(TIME_ZONE="America/New_York", BUSINESS_TIME_ZONE="America/New_York")


@contextlib.contextmanager
def at(local: datetime.datetime):
    """Live at `local` New York time (the clock running: a run takes a second or two)."""
    with time_machine.travel(local.replace(tzinfo=NEW_YORK), tick=True):
        yield


def run_as_beat(job: str):
    """What beat's task does: a run for the default date, today."""
    run = batch_run_request(job=job, actor=ACTOR)
    return batch_run_inline(run)


def days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def second_shipment(order) -> Occurrence:
    return Occurrence.objects.filter(subscription__parent_order=order).get(sequence=2)


def first_shipment(order) -> Occurrence:
    return Occurrence.objects.filter(subscription__parent_order=order).get(sequence=1)


def test_at_half_past_eleven_in_the_evening_both_jobs_run_for_the_local_date(sell):
    with in_new_york():
        ContinuityParameters.objects.filter(pk=ContinuityParameters.load().pk).update(
            payment_lead_days=5, child_order_lead_days=4
        )
        with at(datetime.datetime(2026, 5, 4, 12)):
            early = sell()
        with at(datetime.datetime(2026, 5, 5, 12)):
            late = sell()
        assert (second_shipment(early).ship_date, second_shipment(late).ship_date) == (
            datetime.date(2026, 6, 4),
            datetime.date(2026, 6, 5),
        )

        # 23:30 on 30 May in New York is 03:30 on 31 May in UTC.
        with at(datetime.datetime(2026, 5, 30, 23, 30)):
            assert business_date() == datetime.date(2026, 5, 30)
            payments = run_as_beat(BatchJob.PROCESS_PAYMENTS)
            child_orders = run_as_beat(BatchJob.CREATE_CHILD_ORDERS)

        # Due for payment today (ship date 4 June, five days ahead): charged. Due
        # tomorrow (5 June): not yet, though it is already 31 May in UTC.
        assert (payments.run_date, payments.processed_count, payments.summary["paid"]) == (
            datetime.date(2026, 5, 30),
            1,
            1,
        )
        assert (second_shipment(early).status, second_shipment(late).status) == (
            "paid",
            "scheduled",
        )
        # Child orders four days ahead of the ship date: the first shipments (May) are
        # made; the one shipping 4 June is tomorrow's, though paid already.
        assert child_orders.run_date == datetime.date(2026, 5, 30)
        assert child_orders.summary["created"] == 2
        assert [first_shipment(early).status, first_shipment(late).status] == [
            "child_created",
            "child_created",
        ]
        assert second_shipment(early).child_order_id is None

        # Past midnight in New York, tomorrow's work is today's.
        with at(datetime.datetime(2026, 5, 31, 0, 30)):
            payments = run_as_beat(BatchJob.PROCESS_PAYMENTS)
            child_orders = run_as_beat(BatchJob.CREATE_CHILD_ORDERS)
        assert (payments.run_date, payments.summary["paid"]) == (datetime.date(2026, 5, 31), 1)
        assert second_shipment(late).status == "paid"
        assert (child_orders.run_date, child_orders.summary["created"]) == (
            datetime.date(2026, 5, 31),
            1,
        )
        assert second_shipment(early).status == "child_created"


@pytest.mark.parametrize(
    ("first_order_day", "change_day"),
    [
        # Clocks go forward at 02:00 on 8 March 2026: the night has 23 hours.
        (datetime.date(2026, 2, 12), datetime.date(2026, 3, 8)),
        # Clocks go back at 02:00 on 1 November 2026: 01:00 to 02:00 happens twice.
        (datetime.date(2026, 10, 5), datetime.date(2026, 11, 1)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_across_a_change_of_clocks_each_shipment_is_charged_once_on_its_local_day(
    sell, first_order_day, change_day
):
    """Three orders a day apart, whose second shipments fall due for payment the day
    before the change, on it and the day after; beat runs the payment job at 01:00 every
    night, and twice on the night of the fall-back, when 01:00 comes round again."""
    with in_new_york():
        lead = ContinuityParameters.load().payment_lead_days
        orders = []
        for offset in range(3):
            with at(datetime.datetime.combine(first_order_day, datetime.time(12)) + days(offset)):
                orders.append(sell())
        due_days = [second_shipment(order).ship_date - days(lead) for order in orders]
        assert due_days == [change_day - days(1), change_day, change_day + days(1)]

        runs = []
        for night in range(-2, 3):
            day = change_day + days(night)
            one_am = datetime.datetime.combine(day, datetime.time(1), tzinfo=NEW_YORK)
            # fold=1: the second 01:00 of the fall-back night (the same instant as the
            # first on any other night).
            for moment in sorted({one_am, one_am.replace(fold=1).astimezone(datetime.UTC)}):
                with time_machine.travel(moment, tick=True):
                    run = run_as_beat(BatchJob.PROCESS_PAYMENTS)
                runs.append((run.run_date, run.succeeded_count, paid_second_shipments(orders)))

        twice = change_day.month == 11
        assert runs == [
            (change_day - days(2), 0, [False, False, False]),
            (change_day - days(1), 1, [True, False, False]),
            (change_day, 1, [True, True, False]),
            *([(change_day, 0, [True, True, False])] if twice else []),
            (change_day + days(1), 1, [True, True, True]),
            (change_day + days(2), 0, [True, True, True]),
        ]
        for order in orders:
            shipment = second_shipment(order)
            assert Payment.objects.filter(occurrence=shipment).count() == 1
            assert shipment.payment.idempotency_key == f"occurrence-{shipment.pk}-sale-1"


def paid_second_shipments(orders) -> list[bool]:
    return [second_shipment(order).status == "paid" for order in orders]


# --- Beat's schedules ------------------------------------------------------------------


def crontab_zones() -> dict[str, str]:
    return {
        task.name: str(task.crontab.timezone)
        for task in PeriodicTask.objects.select_related("crontab").filter(crontab__isnull=False)
    }


def beat_entry(name: str):
    """The entry beat's DatabaseScheduler makes of a PeriodicTask row when it reads its
    schedule. (The scheduler itself is not started here: every read it makes closes the
    connection, which would end the test's transaction.)"""
    return BusinessZoneScheduler.Entry(PeriodicTask.objects.get(name=name), app=app)


def test_beat_uses_the_scheduler_that_brings_the_zones_up_to_date():
    assert app.conf.beat_scheduler == "core.beat:BusinessZoneScheduler"


def test_the_schedules_follow_a_changed_zone_and_keep_the_hours_set_in_the_admin(db):
    # The admin moved the payments to midnight; the migrations wrote UTC.
    CrontabSchedule.objects.filter(periodictask__name=PAYMENTS).update(hour="0")
    PeriodicTasks.objects.all().delete()
    assert set(crontab_zones().values()) == {"UTC"}

    with in_new_york():
        # What beat does as it starts with the new setting, before it reads its schedule.
        assert beat_schedules_follow_business_zone() == 3

        assert crontab_zones() == {
            PAYMENTS: "America/New_York",
            CHILD_ORDERS: "America/New_York",
            "Money audit (nightly)": "America/New_York",
        }
        # A beat already running reads its schedule again.
        assert PeriodicTasks.last_change() is not None
        crontab = PeriodicTask.objects.get(name=PAYMENTS).crontab
        assert (crontab.minute, crontab.hour) == ("0", "0")
        # Midnight in New York is 05:00 UTC in winter.
        entry = beat_entry(PAYMENTS)
        entry.last_run_at = datetime.datetime(2026, 1, 14, 12, tzinfo=NEW_YORK)
        with time_machine.travel(datetime.datetime(2026, 1, 15, 4, 59, tzinfo=datetime.UTC)):
            assert entry.is_due() == (False, 60.0)
        with time_machine.travel(datetime.datetime(2026, 1, 15, 5, 0, tzinfo=datetime.UTC)):
            assert entry.is_due()[0] is True

        # Nothing left to move: a second start writes nothing.
        assert beat_schedules_follow_business_zone() == 0


def test_migrate_puts_the_schedules_in_the_business_zone(db):
    from django.core.management import call_command

    CrontabSchedule.objects.update(timezone="Europe/Paris")

    with in_new_york():
        call_command("migrate", verbosity=0)

    assert set(crontab_zones().values()) == {"America/New_York"}


@pytest.mark.parametrize(
    ("hour", "fired"),
    [
        # Payments at 01:00: once a night, the first 01:00 of the fall-back night.
        (
            "1",
            [
                "2026-03-07T01:00:00-05:00",
                "2026-03-08T01:00:00-05:00",
                "2026-03-09T01:00:00-04:00",
                "2026-10-31T01:00:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-02T01:00:00-05:00",
            ],
        ),
        # Child orders at 02:00, an hour the spring-forward night does not have: at
        # 03:00 that night, once.
        (
            "2",
            [
                "2026-03-07T02:00:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:00:00-04:00",
                "2026-10-31T02:00:00-04:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-02T02:00:00-05:00",
            ],
        ),
    ],
)
def test_a_daily_schedule_fires_once_a_local_day_across_the_changes_of_clocks(db, hour, fired):
    """Beat's own loop, replayed: ask the entry whether it is due, wait as long as it
    says (at most a minute), and again, from noon the day before each change for three
    days."""
    with in_new_york():
        beat_schedules_follow_business_zone()
        crontab = CrontabSchedule.objects.get(periodictask__name=PAYMENTS)
        CrontabSchedule.objects.filter(pk=crontab.pk).update(hour=hour)
        entry = beat_entry(PAYMENTS)

        seen = []
        for start in (datetime.date(2026, 3, 6), datetime.date(2026, 10, 30)):
            # In UTC: arithmetic on a New York time would step over the wall clock.
            now = datetime.datetime.combine(start, datetime.time(12), tzinfo=NEW_YORK).astimezone(
                datetime.UTC
            )
            entry.last_run_at = now
            end = now + days(3)
            while now < end:
                with time_machine.travel(now, tick=False):
                    due, next_check = entry.is_due()
                if due:
                    seen.append(now.astimezone(NEW_YORK).isoformat())
                    entry.last_run_at = now
                now += datetime.timedelta(seconds=min(max(next_check, 1), 60))
        assert seen == fired
