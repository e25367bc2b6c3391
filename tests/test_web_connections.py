"""A gunicorn worker keeps its PostgreSQL session from one request to the next
(DB_CONN_MAX_AGE) and asks it `SELECT 1` before reusing it (CONN_HEALTH_CHECKS): a
session the server dropped meanwhile costs a new connection, not a failed request."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from tests.batch.workers import wait_for
from tests.payments.support import subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def web_sessions() -> list[int]:
    """The other client sessions on the test database: the web worker's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [pid for (pid,) in cursor.fetchall()]


def test_a_web_session_the_server_dropped_is_replaced_before_the_next_request(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = subprocess_env(
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        SECURE_SSL_REDIRECT="false",
    )
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.py"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("wb"),
    )
    try:

        def api_call():
            # Refused (401), after reading the token table through the worker's kept
            # connection; a dead connection used as it is would answer 500.
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            client.request(
                "GET",
                "/api/v1/customers/?search=smith",
                headers={"Host": "localhost", "Authorization": "Token no-such-token"},
            )
            response = client.getresponse()
            body = json.loads(response.read())
            client.close()
            return response.status, body

        deadline = time.monotonic() + 60
        while True:
            try:
                first = api_call()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        (dropped,) = web_sessions()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [dropped])
        wait_for(lambda: not web_sessions(), timeout=10, what="the session to end")

        second = api_call()
        replaced = web_sessions()
    finally:
        web.terminate()
        web.wait(timeout=30)

    assert first[0] == 401, first
    assert second == first
    assert len(replaced) == 1 and replaced != [dropped], replaced
