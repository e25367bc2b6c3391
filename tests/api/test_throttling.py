"""Throttles on what anonymous callers can reach: the token endpoint (10 a minute per
address) and the sign-in page (5 failures of one user name from one address in 15
minutes, 20 of any user names). A throttled sign-in is refused without checking the
password, so guessing stops even when the guess is right."""

import time

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from config.settings import _cache

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def test_the_token_endpoint_answers_429_after_10_calls_a_minute(demo, anonymous_api):
    for _ in range(10):
        response = anonymous_api.post(
            "/api/v1/auth/token/", {"username": "agent", "password": "guess"}
        )
        assert response.status_code == 400

    throttled = anonymous_api.post(
        "/api/v1/auth/token/", {"username": "agent", "password": "continuity-demo"}
    )

    error = assert_error(throttled, 429, "throttled")
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "throttled" in error["message"].lower()
    assert not Token.objects.exists()


def test_the_token_throttle_counts_per_address(demo, anonymous_api):
    for _ in range(10):
        anonymous_api.post("/api/v1/auth/token/", {"username": "agent", "password": "guess"})

    other_address = anonymous_api.post(
        "/api/v1/auth/token/",
        {"username": "agent", "password": "continuity-demo"},
        REMOTE_ADDR="10.0.0.2",
    )

    assert other_address.status_code == 200


def test_a_forwarded_address_does_not_escape_the_token_throttle(demo, anonymous_api):
    for n in range(10):
        anonymous_api.post(
            "/api/v1/auth/token/",
            {"username": "agent", "password": "guess"},
            HTTP_X_FORWARDED_FOR=f"10.0.1.{n}",
        )

    response = anonymous_api.post(
        "/api/v1/auth/token/",
        {"username": "agent", "password": "guess"},
        HTTP_X_FORWARDED_FOR="10.0.2.1",
    )

    assert_error(response, 429, "throttled")


def sign_in(client, username="agent", password="wrong", **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_the_sign_in_page_refuses_with_429_after_5_failures(demo):
    client = Client()
    for _ in range(5):
        response = sign_in(client)
        assert response.status_code == 200
        assert "Please enter a correct" in response.content.decode()

    refused = sign_in(client, password="continuity-demo")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 14 * 60
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in (
        refused.content.decode()
    )
    assert "_auth_user_id" not in client.session


def test_the_refusal_is_for_that_user_name_from_that_address(demo):
    for _ in range(5):
        sign_in(Client())

    other_user = sign_in(Client(), username="supervisor", password="continuity-demo")
    other_address = sign_in(Client(), password="continuity-demo", REMOTE_ADDR="10.0.0.9")

    assert other_user.status_code == 302
    assert other_address.status_code == 302


def test_an_address_trying_many_user_names_is_refused_for_all(demo):
    for n in range(20):
        sign_in(Client(), username=f"guess{n}")

    refused = sign_in(Client(), username="supervisor", password="continuity-demo")

    assert refused.status_code == 429


def test_a_successful_sign_in_clears_that_users_failures(demo):
    client = Client()
    for _ in range(4):
        sign_in(client)
    assert sign_in(client, password="continuity-demo").status_code == 302

    for _ in range(4):
        assert sign_in(Client()).status_code == 200
    assert sign_in(Client(), password="continuity-demo").status_code == 302


def test_the_refusal_ends_with_its_window(demo, monkeypatch):
    for _ in range(5):
        sign_in(Client())
    assert sign_in(Client(), password="continuity-demo").status_code == 429

    later = time.time() + 15 * 60 + 1
    monkeypatch.setattr(time, "time", lambda: later)

    assert sign_in(Client(), password="continuity-demo").status_code == 302


def test_the_admin_signs_in_through_the_same_throttled_page(demo):
    page = Client().get("/admin/login/?next=/admin/")
    assert page.status_code == 200
    assert 'action="/accounts/login/"' in page.content.decode()
    for _ in range(5):
        sign_in(Client(), username="admin")

    refused = Client().post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "continuity-demo"}
    )

    assert refused.status_code == 429
    admin = Client()
    admin.post(
        "/admin/login/",
        {"username": "admin", "password": "continuity-demo"},
        REMOTE_ADDR="10.0.0.3",
    )
    assert admin.get("/admin/").status_code == 200


def test_the_refusal_is_translated(demo):
    for _ in range(5):
        sign_in(Client())

    refused = sign_in(Client(), HTTP_ACCEPT_LANGUAGE="fr")

    assert refused.status_code == 429
    assert "Trop de tentatives de connexion" in refused.content.decode()


def test_the_cache_is_configured_from_cache_url():
    assert _cache("locmem://")["BACKEND"].endswith("LocMemCache")
    redis = _cache("redis://127.0.0.1:6379/3")
    assert redis == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
    }
    with pytest.raises(Exception, match="CACHE_URL"):
        _cache("memcached://127.0.0.1")
