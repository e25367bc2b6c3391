"""Throttles on what anonymous callers can reach: the token endpoint (10 a minute per
address) and every password check (django-axes: the fifth failure of one user name from
one address locks that pair for 15 minutes, on the sign-in page, the admin's and the
token endpoint alike). A locked sign-in is refused without checking the password, so
guessing stops even when the guess is right."""

import ipaddress
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.settings import _cache
from core.addresses import ClientAddressScopedRateThrottle, client_address

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def test_the_token_endpoint_answers_429_after_10_calls_a_minute(demo, anonymous_api):
    # Ten user names: ten failures of one would meet the sign-in lock (below) first.
    for n in range(10):
        response = anonymous_api.post(
            "/api/v1/auth/token/", {"username": f"guess{n}", "password": "guess"}
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
    for n in range(10):
        anonymous_api.post("/api/v1/auth/token/", {"username": f"guess{n}", "password": "guess"})

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
            {"username": f"guess{n}", "password": "guess"},
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


def lock_out(username="agent", **extra):
    """Four refused passwords, then the fifth failure, answered with the lock."""
    for _ in range(4):
        response = sign_in(Client(), username=username, **extra)
        assert response.status_code == 200
        assert "Please enter a correct" in response.content.decode()
    locked = sign_in(Client(), username=username, **extra)
    assert locked.status_code == 429
    return locked


def failures_counted(username="agent", address="127.0.0.1") -> int:
    return AccessAttempt.objects.get(username=username, ip_address=address).failures_since_start


def test_the_fifth_failure_locks_the_sign_in_with_429(demo):
    locked = lock_out()

    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in locked.content.decode()
    assert 'name="password"' in locked.content.decode()
    assert failures_counted() == 5


def test_the_right_password_is_refused_while_locked(demo):
    lock_out()
    client = Client()

    refused = sign_in(client, password="continuity-demo")

    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # A refused attempt does not lengthen the lock.
    assert failures_counted() == 5


def test_the_lock_is_for_that_user_name_from_that_address(demo):
    lock_out()

    other_user = sign_in(Client(), username="supervisor", password="continuity-demo")
    other_address = sign_in(Client(), password="continuity-demo", REMOTE_ADDR="10.0.0.9")

    assert other_user.status_code == 302
    assert other_address.status_code == 302


def test_a_successful_sign_in_clears_that_users_failures(demo):
    for _ in range(4):
        sign_in(Client())
    assert sign_in(Client(), password="continuity-demo").status_code == 302
    assert not AccessAttempt.objects.exists()

    for _ in range(4):
        assert sign_in(Client()).status_code == 200
    assert sign_in(Client(), password="continuity-demo").status_code == 302


def test_the_lock_ends_after_the_cool_off(demo):
    lock_out()
    with time_machine.travel(timezone.now() + timedelta(minutes=14, seconds=59)):
        assert sign_in(Client(), password="continuity-demo").status_code == 429

    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        # The old failures are forgotten: a new one counts from one.
        assert sign_in(Client()).status_code == 200
        assert failures_counted() == 1
        assert sign_in(Client(), password="continuity-demo").status_code == 302


def test_axes_reset_unlocks_everyone(demo):
    lock_out()

    call_command("axes_reset", stdout=StringIO())

    assert sign_in(Client(), password="continuity-demo").status_code == 302


def test_the_admin_signs_in_through_the_same_lock(demo):
    page = Client().get("/admin/login/?next=/admin/")
    assert page.status_code == 200
    assert 'action="/accounts/login/"' in page.content.decode()
    lock_out(username="admin")

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


def test_the_lock_is_translated(demo):
    lock_out()

    refused = sign_in(Client(), HTTP_ACCEPT_LANGUAGE="fr")

    assert refused.status_code == 429
    assert "Trop de tentatives de connexion" in refused.content.decode()


def test_a_forwarded_address_does_not_escape_the_lock(demo):
    lock_out()

    refused = sign_in(Client(), password="continuity-demo", HTTP_X_FORWARDED_FOR="10.0.2.1")

    assert refused.status_code == 429


# One proxy, whose addresses are 10.0.0.0/24: the tests below reach the app through it
# (REMOTE_ADDR 10.0.0.x) or around it (any other peer).
BEHIND_A_PROXY = override_settings(
    PROXY_COUNT=1, TRUSTED_PROXY_NETWORKS=[ipaddress.ip_network("10.0.0.0/24")]
)


@BEHIND_A_PROXY
def test_behind_a_proxy_the_lock_is_on_the_address_the_proxy_saw(demo):
    lock_out(HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="10.0.0.1")

    same_client = sign_in(
        Client(),
        password="continuity-demo",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        REMOTE_ADDR="10.0.0.2",
    )
    other_client = sign_in(
        Client(),
        password="continuity-demo",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
        REMOTE_ADDR="10.0.0.1",
    )

    assert failures_counted(address="198.51.100.7") == 5
    assert same_client.status_code == 429
    assert other_client.status_code == 302


@BEHIND_A_PROXY
def test_a_forwarded_address_from_a_peer_that_is_not_the_proxy_is_ignored(demo):
    # Someone reaching the web directly, claiming a new address at each guess and the
    # call centre's (198.51.100.7) at the last.
    for n in range(4):
        sign_in(Client(), HTTP_X_FORWARDED_FOR=f"192.0.2.{n}", REMOTE_ADDR="203.0.113.50")
    locked = sign_in(Client(), HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="203.0.113.50")

    assert locked.status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", "failures_since_start")) == [
        ("203.0.113.50", 5)
    ]
    # The agent at the call centre, through the proxy, is not locked out by it.
    agent = sign_in(
        Client(),
        password="continuity-demo",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        REMOTE_ADDR="10.0.0.1",
    )
    assert agent.status_code == 302


@pytest.mark.parametrize(
    ("forwarded", "address"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("1.2.3.4:5678", "1.2.3.4"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("192.0.2.1, 198.51.100.7", "198.51.100.7"),  # the last proxy's entry
        ("not-an-ip", "10.0.0.1"),  # not an address: the peer's
        ("1.2.3.4:5678:9", "10.0.0.1"),
        ("", "10.0.0.1"),
    ],
)
@BEHIND_A_PROXY
def test_the_forwarded_address_is_parsed_and_anything_else_is_the_peers(forwarded, address):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.1")

    assert client_address(request) == address


@pytest.mark.parametrize(
    ("forwarded", "address"),
    [
        # Two proxies: the outer one wrote the client, the inner one the outer proxy.
        ("192.0.2.1, 198.51.100.7, 10.0.0.5", "198.51.100.7"),
        ("198.51.100.7, 10.0.0.5", "198.51.100.7"),
        # Fewer entries than proxies: the first, the furthest any proxy saw.
        ("198.51.100.7", "198.51.100.7"),
    ],
)
@override_settings(PROXY_COUNT=2, TRUSTED_PROXY_NETWORKS=[ipaddress.ip_network("10.0.0.0/24")])
def test_behind_two_proxies_the_address_is_the_one_the_outer_proxy_saw(forwarded, address):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.1")

    assert client_address(request) == address


@BEHIND_A_PROXY
def test_a_proxy_on_a_dual_stack_socket_is_recognised_by_its_ipv4_address():
    request = RequestFactory().get(
        "/", HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="::ffff:10.0.0.1"
    )

    assert client_address(request) == "198.51.100.7"


@pytest.mark.parametrize(
    ("forwarded", "address"), [("1.2.3.4:5678", "1.2.3.4"), ("not-an-ip", "10.0.0.1")]
)
@BEHIND_A_PROXY
def test_a_forwarded_address_with_a_port_or_none_still_counts_the_failure(demo, forwarded, address):
    response = sign_in(Client(), HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.1")

    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()
    assert failures_counted(address=address) == 1


@BEHIND_A_PROXY
def test_behind_a_proxy_the_token_throttle_counts_the_address_the_proxy_saw(demo, anonymous_api):
    for n in range(10):
        anonymous_api.post(
            "/api/v1/auth/token/",
            {"username": f"guess{n}", "password": "guess"},
            HTTP_X_FORWARDED_FOR="198.51.100.7",
            REMOTE_ADDR=f"10.0.0.{n + 1}",
        )

    same_client = anonymous_api.post(
        "/api/v1/auth/token/",
        {"username": "agent", "password": "continuity-demo"},
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        REMOTE_ADDR="10.0.0.1",
    )
    other_client = anonymous_api.post(
        "/api/v1/auth/token/",
        {"username": "agent", "password": "continuity-demo"},
        HTTP_X_FORWARDED_FOR="198.51.100.8",
        REMOTE_ADDR="10.0.0.1",
    )

    assert_error(same_client, 429, "throttled")
    assert other_client.status_code == 200


@BEHIND_A_PROXY
def test_a_forwarded_address_from_another_peer_does_not_escape_the_token_throttle(
    demo, anonymous_api
):
    for n in range(10):
        anonymous_api.post(
            "/api/v1/auth/token/",
            {"username": f"guess{n}", "password": "guess"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
            REMOTE_ADDR="203.0.113.50",
        )

    response = anonymous_api.post(
        "/api/v1/auth/token/",
        {"username": "agent", "password": "continuity-demo"},
        HTTP_X_FORWARDED_FOR="198.51.100.9",
        REMOTE_ADDR="203.0.113.50",
    )

    assert_error(response, 429, "throttled")
    assert not Token.objects.exists()


@BEHIND_A_PROXY
def test_the_token_throttle_and_the_sign_in_lock_key_on_one_address():
    request = RequestFactory().post(
        "/api/v1/auth/token/", HTTP_X_FORWARDED_FOR="[2001:db8::1]:443", REMOTE_ADDR="10.0.0.1"
    )

    assert ClientAddressScopedRateThrottle().get_ident(request) == "2001:db8::1"
    assert client_address(request) == "2001:db8::1"


def test_a_locked_pair_gets_no_api_token_either(demo, anonymous_api):
    with time_machine.travel(timezone.now() - timedelta(minutes=5)):
        lock_out()

    refused = anonymous_api.post(
        "/api/v1/auth/token/", {"username": "agent", "password": "continuity-demo"}
    )

    error = assert_error(refused, 429, "throttled")
    assert error["message"] == "Too many failed sign-in attempts. Try again in 10 minutes."
    assert 9 * 60 < int(refused["Retry-After"]) <= 10 * 60
    assert not Token.objects.exists()


def test_failed_api_token_requests_count_towards_the_lock(demo, anonymous_api):
    for _ in range(5):
        anonymous_api.post("/api/v1/auth/token/", {"username": "agent", "password": "guess"})

    assert failures_counted() == 5
    assert sign_in(Client(), password="continuity-demo").status_code == 429


def test_the_cache_is_configured_from_cache_url():
    assert _cache("locmem://")["BACKEND"].endswith("LocMemCache")
    redis = _cache("redis://127.0.0.1:6379/3")
    assert redis == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
    }
    with pytest.raises(Exception, match="CACHE_URL"):
        _cache("memcached://127.0.0.1")


@BEHIND_A_PROXY
@override_settings(
    SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
)
def test_only_the_proxy_may_say_a_request_came_over_https(demo):
    """SECURE_PROXY_SSL_HEADER believes X-Forwarded-Proto: from a client that reaches the
    web around the proxy, the header is dropped and the HTTPS redirect still applies."""
    through_the_proxy = Client().get(
        "/accounts/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.0.0.1"
    )
    around_the_proxy = Client().get(
        "/accounts/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.50"
    )

    assert through_the_proxy.status_code == 200
    assert around_the_proxy.status_code == 301
    assert around_the_proxy["Location"] == "https://testserver/accounts/login/"
