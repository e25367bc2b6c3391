"""A signed-in session's idle timeout is renewed by requests, with at most one session
write a minute (core.sessions), so that a type-ahead lookup's keystrokes write nothing."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

pytestmark = pytest.mark.django_db


def expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_requests_renew_the_idle_timeout_at_most_once_a_minute(demo, client, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(get_user_model().objects.get(username="agent"))
        client.get("/api/v1/lookups/items/?q=00")
        first = expiry(client)
        assert first == start + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)

        clock.shift(30)
        for _ in range(5):  # a lookup's keystrokes within the minute: no write
            assert client.get("/api/v1/lookups/items/?q=001").status_code == 200
        assert expiry(client) == first

        clock.shift(31)  # a minute since the last renewal: renewed from now
        client.get("/api/v1/lookups/items/?q=0013")
        assert expiry(client) == start + datetime.timedelta(
            seconds=61 + settings.SESSION_COOKIE_AGE
        )


def test_an_idle_session_still_ends_after_the_idle_minutes(demo, client, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(get_user_model().objects.get(username="agent"))
        assert client.get("/api/v1/lookups/items/").status_code == 200
        clock.shift(settings.SESSION_COOKIE_AGE + 1)
        assert client.get("/api/v1/lookups/items/").status_code in (401, 403)
