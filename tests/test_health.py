"""GET /health/ (monitoring callers only) and /health/live/ (anyone, any Host): each
check passes against the real service and fails, in general terms, when that service is
unreachable (a port nothing listens on), when no worker runs, or when beat is late; the
answers are kept for HEALTH_CACHE_SECONDS.

The checks run in threads of their own (django-health-check), with connections of their
own: the tests commit what the checks must see (transactional tests)."""

import contextlib
import ipaddress
import logging
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from batch.health import WATCHDOG_TASK
from config.health import forget_kept_results
from tests.batch.workers import Worker, broker_reset, stop_all
from tests.test_compose import SERVICES

pytestmark = pytest.mark.django_db(transaction=True)

DATABASE = "Database(alias='default')"
CACHE = "Cache(alias='default')"
BROKER = "Broker()"
WORKERS = "CeleryWorkers()"
BEAT = "CeleryBeat()"
GATEWAY = "Gateway()"
GATEWAY_DOWN = "Unavailable: The payment gateway does not answer."
ALL_OK = {name: "OK" for name in (DATABASE, CACHE, BROKER, WORKERS, BEAT, GATEWAY)}
LIVE_OK = {DATABASE: "OK", CACHE: "OK"}
# Nothing listens there: connecting is refused at once.
DEAD_PORT = "1"
OUTSIDER = "203.0.113.5"  # outside METRICS_ALLOWED_NETWORKS (127.0.0.1/32,::1/128)


def health(path="/health/", client=None, **extra):
    response = (client or Client()).get(path, {"format": "json"}, **extra)
    return response.status_code, response.json()


@pytest.fixture(autouse=True)
def checks_run_on_every_call(settings):
    """Each test states the services, then asks: no answer kept from the test before."""
    settings.HEALTH_CACHE_SECONDS = 0
    forget_kept_results()
    yield
    forget_kept_results()


def health_warnings(caplog) -> list[str]:
    """The lines the health checks logged: config.health's, and no traceback."""
    records = [r for r in caplog.records if r.name.startswith(("health_check", "config.health"))]
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in records)
    return [r.getMessage() for r in records]


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
def dead_broker():
    # Celery reads its broker's address once, into three settings.
    names = ("broker_url", "broker_read_url", "broker_write_url")
    before = {name: current_app.conf[name] for name in names}
    current_app.conf.update(dict.fromkeys(names, f"redis://127.0.0.1:{DEAD_PORT}/0"))
    try:
        yield
    finally:
        current_app.conf.update(before)


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
    assert Client().get("/health/live/").status_code == 200
    assert Client().get("/accounts/login/").status_code == 301


def test_an_outsider_gets_404_on_the_full_status_as_on_metrics():
    outsider = Client(REMOTE_ADDR=OUTSIDER)
    response = outsider.get("/health/")

    assert response.status_code == 404
    assert outsider.get("/metrics").status_code == 404
    # Signed in is not enough: staff only.
    outsider.force_login(get_user_model().objects.create_user("agent", password="x" * 12))
    assert outsider.get("/health/").status_code == 404


def test_an_outsider_signed_in_as_staff_gets_the_full_status(beat_on_time):
    staff = Client(REMOTE_ADDR=OUTSIDER)
    staff.force_login(get_user_model().objects.create_user("ops", password="x" * 12, is_staff=True))

    status, checks = health(client=staff)

    assert status == 500  # no worker yet
    assert list(checks) == list(ALL_OK)


@override_settings(METRICS_ALLOWED_NETWORKS=[ipaddress.ip_network("10.0.0.0/8")])
def test_a_caller_from_metrics_allowed_networks_gets_the_full_status(beat_on_time):
    status, checks = health(client=Client(REMOTE_ADDR="10.1.2.3"))

    assert status == 500  # no worker yet
    assert list(checks) == list(ALL_OK)
    assert Client().get("/health/").status_code == 404  # 127.0.0.1 is no longer listed


def test_the_live_status_is_anonymous_and_never_reaches_broker_workers_or_gateway(beat_on_time):
    broker_reset()  # no worker either
    with dead_broker(), database_port("gateway", DEAD_PORT):
        status, checks = health("/health/live/", client=Client(REMOTE_ADDR=OUTSIDER))
        full_status, full_checks = health()

    assert (status, checks) == (200, LIVE_OK)
    # The same services fail the full status.
    assert full_status == 500
    assert [name for name, text in full_checks.items() if text != "OK"] == [
        BROKER,
        WORKERS,
        GATEWAY,
    ]


@override_settings(ALLOWED_HOSTS=["continuity.example.com"])
def test_the_live_status_answers_a_probe_naming_any_host_without_a_disallowed_host_error(
    caplog,
):
    response = Client().get("/health/live/", HTTP_HOST="localhost")

    assert response.status_code == 200
    assert response.content.decode().splitlines() == [f"{name}: OK" for name in LIVE_OK]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # Every other page still refuses the host.
    assert Client().get("/accounts/login/", HTTP_HOST="localhost").status_code == 400
    assert "django.security.DisallowedHost" in [r.name for r in caplog.records]


def test_compose_web_health_check_passes_against_a_web_that_allows_only_its_real_name(
    live_server,
):
    kind, python, option, code = SERVICES["web"]["healthcheck"]["test"]
    assert (kind, python, option) == ("CMD", "python", "-c")
    code = code.replace("8000", str(live_server.thread.port))
    # -c code, as compose runs it, against this test's server.
    with override_settings(ALLOWED_HOSTS=["continuity.example.com"]):
        passing = subprocess.run([sys.executable, "-c", code], timeout=30)
        with database_port("default", DEAD_PORT):
            forget_kept_results()
            failing = subprocess.run([sys.executable, "-c", code], timeout=30)

    assert passing.returncode == 0
    assert failing.returncode == 1


def test_an_unreachable_database_fails_the_live_status_in_general_terms(caplog):
    with database_port("default", DEAD_PORT):
        response = Client().get("/health/live/")

    assert response.status_code == 500
    assert response.content.decode().splitlines() == [
        f"{DATABASE}: Unavailable: The database does not answer.",
        f"{CACHE}: OK",
    ]
    # The detail, host and port included, is in the log: one line, no traceback, and
    # no "Internal Server Error" from Django for the 500.
    [line] = health_warnings(caplog)
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["config.health"]
    assert line.startswith(
        f"Health check {DATABASE} failed: Unavailable: The database does not answer. "
        '(OperationalError: connection to server at "127.0.0.1", port 1 failed:'
    )


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


def test_the_plain_answer_is_one_status_line_per_check(worker, beat_on_time):
    response = Client().get("/health/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().splitlines() == [f"{name}: OK" for name in ALL_OK]


@pytest.mark.parametrize(
    ("ago", "message"),
    [
        (timedelta(minutes=6), "Unavailable: Beat last sent batch.watch_runs 6 minutes ago."),
        # Just past the limit (5 minutes): late.
        (
            timedelta(minutes=5, seconds=10),
            "Unavailable: Beat last sent batch.watch_runs 5 minutes ago.",
        ),
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
        beat_last_sent(timedelta(minutes=9, seconds=50))
        assert health() == (200, ALL_OK)
        beat_last_sent(timedelta(minutes=10, seconds=10))
        assert health()[0] == 500


def test_a_disabled_watchdog_schedule_fails_the_beat_check(worker, beat_on_time):
    PeriodicTask.objects.filter(task=WATCHDOG_TASK).update(enabled=False)

    status, checks = health()

    assert status == 500
    assert checks == {
        **ALL_OK,
        BEAT: "Unavailable: The schedule of batch.watch_runs is disabled.",
    }


def test_the_full_status_is_kept_for_health_cache_seconds(worker, beat_on_time, settings):
    settings.HEALTH_CACHE_SECONDS = 1
    assert health() == (200, ALL_OK)

    with database_port("gateway", DEAD_PORT):
        # Within the second: the kept answer, the gateway not asked.
        assert health() == (200, ALL_OK)
        time.sleep(1.1)
        failed = health()
        # Failed answers are kept too.
    assert health() == failed == (500, {**ALL_OK, GATEWAY: GATEWAY_DOWN})


def test_an_unreachable_gateway_fails_the_gateway_check(worker, beat_on_time, caplog):
    with database_port("gateway", DEAD_PORT):
        status, checks = health()

    assert status == 500
    assert checks == {**ALL_OK, GATEWAY: GATEWAY_DOWN}
    # The first error of the chain: the simulator's ledger database refuses.
    [line] = health_warnings(caplog)
    assert line.startswith(
        f"Health check {GATEWAY} failed: {GATEWAY_DOWN} "
        '(OperationalError: connection to server at "127.0.0.1", port 1 failed:'
    )


def test_an_unreachable_database_fails_the_database_check(worker, beat_on_time):
    with database_port("default", DEAD_PORT):
        status, checks = health()

    assert status == 500
    assert checks[DATABASE] == "Unavailable: The database does not answer."
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
    with dead_broker():
        status, checks = health()

    assert status == 500
    assert checks[BROKER] == "Unavailable: Cannot reach the broker."
