"""GET /health/: each check passes against the real service and fails when that service
is unreachable (a port nothing listens on), when no worker runs, or when beat is late.

The checks run in threads of their own (django-health-check), with connections of their
own: the tests commit what the checks must see (transactional tests)."""

import contextlib
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from batch.health import WATCHDOG_TASK
from tests.batch.workers import Worker, broker_reset, stop_all

pytestmark = pytest.mark.django_db(transaction=True)

DATABASE = "Database(alias='default')"
CACHE = "Cache(alias='default')"
BROKER = "Broker()"
WORKERS = "CeleryWorkers()"
BEAT = "CeleryBeat()"
GATEWAY = "Gateway()"
ALL_OK = {name: "OK" for name in (DATABASE, CACHE, BROKER, WORKERS, BEAT, GATEWAY)}
# Nothing listens there: connecting is refused at once.
DEAD_PORT = "1"


def health(**extra):
    response = Client().get("/health/", {"format": "json"}, **extra)
    return response.status_code, response.json()


def beat_last_sent(ago: timedelta | None) -> None:
    """The watchdog's schedule (batch migration 0007; a transactional test empties the
    tables when it ends), as beat leaves it after sending the task `ago` ago."""
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        task=WATCHDOG_TASK,
        defaults={
            "name": "Resume stalled batch runs (every minute)",
            "interval": every_minute,
            "queue": "batch",
            "last_run_at": None if ago is None else timezone.now() - ago,
        },
    )


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """A real worker on every queue the tasks are routed to, ready; one for the module's
    tests (a worker takes seconds to start). The tests without one come first."""
    broker_reset()
    started = [
        Worker(
            tmp_path_factory.mktemp("health"), queues="default,batch,notifications", concurrency=1
        ).start()
    ]
    try:
        yield started[0].wait_ready()
    finally:
        stop_all(started)
        broker_reset()


@pytest.fixture
def beat_on_time():
    beat_last_sent(timedelta(minutes=1))


@contextlib.contextmanager
def database_port(alias: str, port: str):
    """New connections to `alias` (the checks' threads open new ones) go to `port`."""
    settings_dict = connections.settings[alias]
    before = settings_dict["PORT"]
    settings_dict["PORT"] = port
    try:
        yield
    finally:
        settings_dict["PORT"] = before


# First, before the module's worker starts.
@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_gets_the_status_not_a_redirect_to_https(beat_on_time):
    response = Client().get("/health/")

    assert response.status_code == 500  # no worker yet: the status itself
    assert "CeleryWorkers(): Unavailable: No Celery worker answers." in response.content.decode()
    assert Client().get("/accounts/login/").status_code == 301


def test_without_a_worker_the_worker_check_fails(beat_on_time):
    broker_reset()

    status, checks = health()

    assert status == 500
    assert checks == {**ALL_OK, WORKERS: "Unavailable: No Celery worker answers."}


def test_a_worker_missing_a_queue_fails_the_worker_check(tmp_path, beat_on_time):
    broker_reset()
    started = [Worker(tmp_path, queues="default,batch", concurrency=1).start()]
    try:
        started[0].wait_ready()
        status, checks = health()
    finally:
        stop_all(started)

    assert status == 500
    assert checks == {
        **ALL_OK,
        WORKERS: "Unavailable: No worker consumes the queue(s): notifications",
    }


def test_every_check_passes_with_the_services_up(worker, beat_on_time):
    assert health() == (200, ALL_OK)


def test_the_plain_answer_is_one_status_line_per_check_for_anyone(worker, beat_on_time):
    response = Client().get("/health/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().splitlines() == [f"{name}: OK" for name in ALL_OK]


@pytest.mark.parametrize(
    ("ago", "message"),
    [
        (timedelta(minutes=6), "Unavailable: Beat last sent batch.watch_runs 6 minutes ago."),
        (None, "Unavailable: Beat has never sent batch.watch_runs."),
    ],
)
def test_a_beat_that_has_not_ticked_fails_the_beat_check(worker, ago, message):
    beat_last_sent(ago)

    status, checks = health()

    assert status == 500
    assert checks == {**ALL_OK, BEAT: message}


def test_beat_within_health_beat_max_minutes_passes(worker):
    beat_last_sent(timedelta(minutes=4, seconds=50))
    assert health() == (200, ALL_OK)

    with override_settings(HEALTH_BEAT_MAX_MINUTES=10):
        beat_last_sent(timedelta(minutes=9))
        assert health() == (200, ALL_OK)


def test_a_disabled_watchdog_schedule_fails_the_beat_check(worker, beat_on_time):
    PeriodicTask.objects.filter(task=WATCHDOG_TASK).update(enabled=False)

    status, checks = health()

    assert status == 500
    assert checks == {
        **ALL_OK,
        BEAT: "Unavailable: The schedule of batch.watch_runs is disabled.",
    }


def test_an_unreachable_gateway_fails_the_gateway_check(worker, beat_on_time):
    with database_port("gateway", DEAD_PORT):
        status, checks = health()

    assert status == 500
    assert checks == {**ALL_OK, GATEWAY: "Unavailable: The simulated gateway does not answer."}


def test_an_unreachable_database_fails_the_database_check(worker, beat_on_time):
    with database_port("default", DEAD_PORT):
        status, checks = health()

    assert status == 500
    assert checks[DATABASE] == ('Unavailable: connection to server at "127.0.0.1", port 1 failed')
    # Beat's schedule is read from the same database.
    assert checks[BEAT] == "Unavailable: Cannot read beat's schedule from the database."
    assert {name: checks[name] for name in (CACHE, BROKER, WORKERS, GATEWAY)} == {
        CACHE: "OK",
        BROKER: "OK",
        WORKERS: "OK",
        GATEWAY: "OK",
    }


def test_an_unreachable_cache_fails_the_cache_check(worker, beat_on_time):
    dead_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{DEAD_PORT}/0",
        }
    }
    with override_settings(CACHES=dead_cache):
        status, checks = health()

    assert status == 500
    assert checks == {**ALL_OK, CACHE: "Unexpected Result: Connection Error"}


def test_an_unreachable_broker_fails_the_broker_check(worker, beat_on_time):
    # Celery reads its broker's address once, into three settings.
    names = ("broker_url", "broker_read_url", "broker_write_url")
    before = {name: current_app.conf[name] for name in names}
    current_app.conf.update(dict.fromkeys(names, f"redis://127.0.0.1:{DEAD_PORT}/0"))
    try:
        status, checks = health()
    finally:
        current_app.conf.update(before)

    assert status == 500
    assert checks[BROKER] == "Unavailable: Cannot reach the broker: OperationalError"
