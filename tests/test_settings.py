"""Configuration from the environment: outside DEBUG a missing secret stops
the web and the workers at start-up; bad values are refused with the variable's name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(code_or_args, **env):
    # The Makefile's test settings (a key, plain HTTP) are left out: each test says its own.
    environment = {
        key: value
        for key, value in os.environ.items()
        # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE (Playwright's event loop) too: the
        # deploy check refuses it, rightly.
        if key
        not in (
            "SECRET_KEY",
            "DEBUG",
            "CURRENCY",
            "SECURE_SSL_REDIRECT",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
            "BUSINESS_TIME_ZONE",
            "TIME_ZONE",
        )
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
        (
            {"DEBUG": "true", "HEALTH_CACHE_SECONDS": "-1"},
            "HEALTH_CACHE_SECONDS must be at least 0, not -1.",
        ),
        (
            {"DEBUG": "true", "HEALTH_CACHE_SECONDS": "10s"},
            "HEALTH_CACHE_SECONDS must be a whole number, not '10s'.",
        ),
        (
            {"DEBUG": "true", "BUSINESS_TIME_ZONE": "America"},
            "BUSINESS_TIME_ZONE must be an IANA time zone name such as America/New_York or "
            "Europe/Paris, not 'America'.",
        ),
        (
            {"DEBUG": "true", "BUSINESS_TIME_ZONE": "Eastern Time"},
            "not 'Eastern Time'.",
        ),
        (
            {"DEBUG": "true", "BUSINESS_TIME_ZONE": "America/Chicago", "TIME_ZONE": "UTC"},
            "BUSINESS_TIME_ZONE ('America/Chicago') and TIME_ZONE ('UTC') disagree: set "
            "BUSINESS_TIME_ZONE only.",
        ),
    ],
)
def test_bad_values_are_refused_by_name(env, message):
    finished = run("import config.wsgi", **env)
    assert finished.returncode != 0
    assert message in finished.stderr


# The production environment docs/configuration.md documents (the database and broker
# as the tests have them): every security setting at its production default.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "q7Vb-3kLz_9XwT2mPr8sYdN4hJcE6uFgA1oRiK5tBnM0vWxZlQeHyUaSjDpOfCg",
    "ALLOWED_HOSTS": "continuity.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://continuity.example.com",
    "BUSINESS_TIME_ZONE": "America/New_York",
    # Shared by every web process: Redis (as the tests' broker; a check writes nothing).
    "CACHE_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.continuity.example",
    "EMAIL_USE_TLS": "true",
}


def test_the_deploy_check_passes_with_the_documented_production_environment():
    finished = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "System check identified no issues (1 silenced)."


def test_the_cache_of_the_production_environment_is_redis_and_answers():
    finished = run(
        "import django; django.setup(); from django.core.cache import caches; "
        "cache = caches['default']; "
        "cache.set('continuity-settings-probe', 'answered', 5); "
        "print(type(cache).__module__, cache.get('continuity-settings-probe')); "
        "cache.delete('continuity-settings-probe')",
        DJANGO_SETTINGS_MODULE="config.settings",
        **PRODUCTION,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["django.core.cache.backends.redis", "answered"]


def test_the_deploy_check_warns_when_customer_emails_would_only_be_logged():
    console = {**PRODUCTION, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    finished = run(["manage.py", "check", "--deploy"], **console)

    assert "(core.W002) EMAIL_BACKEND is the console backend" in finished.stderr


def test_the_deploy_check_warns_while_the_business_time_zone_is_left_to_utc():
    unset = {key: value for key, value in PRODUCTION.items() if key != "BUSINESS_TIME_ZONE"}
    finished = run(["manage.py", "check", "--deploy"], **unset)

    assert "(core.W001) BUSINESS_TIME_ZONE is not set, so the business day is the UTC day." in (
        finished.stderr
    )


@pytest.mark.parametrize(
    ("env", "zone"),
    [
        ({"BUSINESS_TIME_ZONE": "America/Chicago"}, "America/Chicago"),
        ({"TIME_ZONE": "Europe/Paris"}, "Europe/Paris"),  # its older name
        ({"BUSINESS_TIME_ZONE": "Europe/Paris", "TIME_ZONE": "Europe/Paris"}, "Europe/Paris"),
        ({}, "UTC"),
    ],
)
def test_the_business_time_zone_is_djangos_and_celerys_zone(env, zone):
    finished = run(
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'config.settings'); django.setup(); from django.conf import settings as s;"
        "from django.utils import timezone;"
        "print(s.BUSINESS_TIME_ZONE, s.TIME_ZONE, s.CELERY_TIMEZONE, "
        "timezone.get_current_timezone_name())",
        DEBUG="true",
        **env,
    )

    assert finished.stdout.split() == [zone] * 4, finished.stderr


def test_production_defaults_are_https_only_with_secure_cookies_and_a_strict_policy():
    finished = run(
        "import django, os, json; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'config.settings'); django.setup(); from django.conf import settings as s;"
        "print(json.dumps([s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY, "
        "s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST, "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src'], "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['style-src']]))",
        **PRODUCTION,
    )

    assert finished.stdout.strip() == (
        "[true, 31536000, true, false, true, true, true, true, null, 3600, false, "
        "[\"'self'\"], [\"'self'\"]]"
    ), finished.stderr


def test_behind_a_proxy_its_forwarded_scheme_is_trusted():
    finished = run(
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'config.settings'); django.setup(); from django.conf import settings as s;"
        "print(s.SECURE_PROXY_SSL_HEADER)",
        **PRODUCTION,
        PROXY_COUNT="1",
        TRUSTED_PROXY_NETWORKS="10.0.0.0/24",
    )

    assert finished.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')", finished.stderr


def test_a_proxy_count_without_the_proxies_networks_stops_start_up():
    finished = run("import config.wsgi", **PRODUCTION, PROXY_COUNT="1")

    assert finished.returncode != 0
    assert "PROXY_COUNT is set: list the proxies' networks (CIDR) in TRUSTED_PROXY_NETWORKS" in (
        finished.stderr
    )


@pytest.mark.parametrize(
    "key",
    [
        "x" * 49 + "yz",  # 51 characters, 3 different ones
        "abcdefghij" * 4 + "abcdefgh",  # 48 characters
    ],
)
def test_a_weak_secret_key_refuses_to_start(key):
    finished = run("import config.wsgi", **{**PRODUCTION, "SECRET_KEY": key})

    assert finished.returncode != 0
    assert "SECRET_KEY must be at least 50 characters long with at least 5 different" in (
        finished.stderr
    )


def test_a_key_of_50_characters_with_5_different_ones_starts():
    finished = run("import config.wsgi", **{**PRODUCTION, "SECRET_KEY": "abcde" * 10})

    assert finished.returncode == 0, finished.stderr
