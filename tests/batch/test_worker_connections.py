"""A real worker keeps its PostgreSQL session from one task to the next, as the web does
from one request to the next (config.celery): Celery's own default closes it around every
task, and a batch chunk then paid for a new session each time. Kept for DB_CONN_MAX_AGE
seconds, and replaced, not failed on, when the server dropped it."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from batch.tasks import watch_runs
from tests.batch.workers import Worker, broker_reset, stop_all, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# What batch.watch_runs reads last (batch.selectors.batch_runs_stalled): its session's
# last statement while it sits idle in the worker.
WATCH_TABLE = "batch_batchrun"


@pytest.fixture
def start_worker(tmp_path):
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        broker_reset()
        worker = Worker(tmp_path, concurrency=1, queues="default", **env).start()
        started.append(worker.wait_ready())
        return worker

    yield start
    stop_all(started)
    broker_reset()


# How the worker logs the end of a batch.watch_runs task (not its "received" line).
WATCH_ENDED = re.compile(r"Task batch\.watch_runs\[[^\]]+\] (succeeded|raised|failed)")


def watch_once(worker: Worker) -> None:
    """Send batch.watch_runs (a task every worker runs each minute) and wait until the
    worker says it succeeded."""
    done = len(WATCH_ENDED.findall(worker.log()))
    watch_runs.apply_async(queue="default")
    wait_for(
        lambda: len(WATCH_ENDED.findall(worker.log())) > done,
        timeout=30,
        what="batch.watch_runs to finish",
        logs=worker.log_tail,
    )
    assert WATCH_ENDED.findall(worker.log())[-1] == "succeeded", worker.log_tail()


def worker_sessions() -> list[tuple[int, object]]:
    """The other sessions on the test database that last read the batch runs: (pid, when
    the session started)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE %s",
            [f"%{WATCH_TABLE}%"],
        )
        return cursor.fetchall()


def test_a_workers_session_serves_its_next_task(start_worker):
    worker = start_worker()
    watch_once(worker)
    first = worker_sessions()
    watch_once(worker)

    # One session, still open after the task, and the same one after the next.
    assert len(first) == 1
    assert worker_sessions() == first


def test_a_session_the_server_dropped_is_replaced_before_the_next_task(start_worker):
    worker = start_worker()
    watch_once(worker)
    ((dropped, _started),) = worker_sessions()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dropped])
    wait_for(lambda: not worker_sessions(), timeout=10, what="the session to end")

    watch_once(worker)  # succeeded: asked SELECT 1, found dead, connected again

    ((replaced, _started),) = worker_sessions()
    assert replaced != dropped
    assert "OperationalError" not in worker.log()
    assert "InterfaceError" not in worker.log()


def test_db_conn_max_age_0_closes_the_session_after_each_task(start_worker):
    worker = start_worker(DB_CONN_MAX_AGE="0")
    watch_once(worker)

    # Closed as the task ended (wait_for: the worker logs its success just before the
    # task's end signal closes the session).
    wait_for(lambda: not worker_sessions(), timeout=10, what="the session to be closed")
