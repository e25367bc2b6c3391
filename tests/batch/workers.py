"""Real Celery workers for the reliability tests: other processes, on the test database and
the test broker, started with the command docs/operations.md gives and killed for real.

A worker runs in its own session (process group), so that SIGKILL can take the main
process and its forked pool processes at once, as when a machine dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from tests.payments.support import subprocess_env

# Worker processes start Django and Celery: a few seconds on a busy two-core machine.
READY_TIMEOUT = 60
# Celery's own log line once the worker consumes.
READY_MARK = " ready."


class WorkerFailed(AssertionError):
    pass


def broker_url() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        raise WorkerFailed(
            f"The reliability tests need Redis as the broker (as `make test` sets it): "
            f"CELERY_BROKER_URL is {url!r}."
        )
    return url


def broker_reset() -> None:
    """Empty the queues and Redis's record of unacknowledged messages (kombu's `unacked`
    keys are not emptied by `celery purge`): a message left over by an earlier test, or
    by a worker killed there, must not be delivered into this one."""
    client = redis.Redis.from_url(broker_url())
    try:
        keys = [
            key
            # Every queue a worker may consume (CELERY_TASK_ROUTES): a customer email queued
            # by an earlier test would otherwise run in this one's worker, against tables
            # the test is emptying.
            for pattern in ("batch*", "default*", "notifications*", "unacked*")
            for key in client.scan_iter(match=pattern)
        ]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def database_backends() -> list[dict]:
    """The other sessions on the test database (workers' connections)."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL shows the activity it saw first, unless told.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid, state, wait_event_type, query, pg_blocking_pids(pid), "
            "pg_backend_pid() FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [
            {
                "pid": pid,
                "state": state,
                "wait_event_type": wait,
                "query": query,
                "blocked_by": ["test" if blocker == test else blocker for blocker in blockers],
            }
            for pid, state, wait, query, blockers, test in cursor.fetchall()
        ]


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    logs: Callable[[], str] = lambda: "",
):
    """Poll until predicate() is truthy and return its value; fail with what was awaited
    and the workers' logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WorkerFailed(f"Gave up after {timeout:.0f} s waiting for {what}.\n{logs()}")
        time.sleep(interval)


class Worker:
    """One `celery -A config worker` process tree, on the `batch` and `default` queues
    unless told others."""

    def __init__(
        self, log_dir: Path, *, concurrency: int = 2, queues: str = "batch,default", **env: str
    ):
        self.queues = queues
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        self.concurrency = concurrency
        self.env = subprocess_env(CELERY_BROKER_URL=broker_url(), **env)
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,  # the test's own interpreter and virtualenv
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    f"--queues={self.queues}",
                    f"--concurrency={self.concurrency}",
                    "--pool=prefork",
                    "-n",
                    self.name,
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel=INFO",
                ],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> Worker:
        def ready():
            if self.process.poll() is not None:
                raise WorkerFailed(
                    f"Worker exited with {self.process.returncode} before it was ready.\n"
                    f"{self.log_tail()}"
                )
            return READY_MARK in self.log()

        wait_for(ready, timeout=READY_TIMEOUT, what=f"worker {self.name}", logs=self.log_tail)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        tail = "\n".join(self.log().splitlines()[-lines:])
        return f"--- log of worker {self.name} ({self.log_path}) ---\n{tail}"

    def pool_pids(self) -> list[int]:
        """The forked pool processes (children of the main process)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def kill_pool(self) -> list[int]:
        """SIGKILL the pool processes only: the main process sees them die mid-task."""
        pids = self.pool_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def kill(self) -> None:
        """SIGKILL the main process and its pool processes at once: nothing is acknowledged,
        rejected or cleaned up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # Pool processes are reparented to init when the main process dies; make sure
        # they are gone too before anyone looks at the database.
        wait_for(lambda: not _group_alive(self.process.pid), timeout=10, what="the pool to die")

    def stop(self) -> None:
        """End of a test: the worker has nothing left to do, so it is killed rather than
        shut down warmly (two seconds a worker); Redis forgets its messages with the
        queues (broker_reset)."""
        if self.process is None:
            return
        if self.process.poll() is None or _group_alive(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                self.kill()


def stop_all(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # killpg() succeeds while zombies of the group are not reaped yet: look for a member
    # that still runs.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            return True
    return False
