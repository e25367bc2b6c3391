"""Configuration from the environment: outside DEBUG a missing secret stops
the web and the workers at start-up; bad values are refused with the variable's name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(code_or_args, **env):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SECRET_KEY", "DEBUG", "CURRENCY")
    }
    environment.update(env)
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "start",
    [
        "import config.wsgi",  # gunicorn
        "from config.celery import app; app.loader.import_default_modules()",  # worker, beat
    ],
)
def test_the_web_and_the_workers_refuse_to_start_without_a_secret(start):
    finished = run(start, DEBUG="false")
    assert finished.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in finished.stderr


def test_serving_commands_refuse_too_but_makemigrations_check_runs():
    assert run(["manage.py", "migrate", "--plan"], DEBUG="false").returncode != 0
    finished = run(["manage.py", "makemigrations", "--check", "--dry-run"], DEBUG="false")
    assert finished.returncode == 0, finished.stderr


def test_debug_runs_with_a_development_key():
    finished = run(
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup(); from django.conf import settings; print(settings.SECRET_KEY)",
        DEBUG="true",
    )
    assert finished.stdout.strip() == "insecure-development-key-used-only-with-debug-on"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be true or false, not 'maybe'."),
        ({"DEBUG": "true", "CURRENCY": "EURO"}, "CURRENCY must be a three-letter ISO 4217 code"),
        ({"DEBUG": "true", "BATCH_CHUNK_SIZE": "0"}, "BATCH_CHUNK_SIZE must be at least 1, not 0."),
    ],
)
def test_bad_values_are_refused_by_name(env, message):
    finished = run("import config.wsgi", **env)
    assert finished.returncode != 0
    assert message in finished.stderr
