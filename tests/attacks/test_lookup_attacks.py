"""Attacks on the type-ahead lookups (GET /api/v1/lookups/<kind>/, core.lookups) and the
session renewal their keystrokes rely on (core.sessions): odd `q`, `limit` and own
parameters, other methods, roles, inactive cards, and sessions no one signed in to. Every
answer is a clear 400/403/404/405 naming what was wrong, never a 500, and a typed
character is never a wildcard."""

import datetime

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.limits import SEARCH_TERM_MAX_LENGTH
from customers.models import Customer
from payments.models import Card
from tests.api.conftest import assert_error, token_client

pytestmark = pytest.mark.django_db

KINDS = ["continuity-items", "sales-orders", "items", "payment-methods", "reason-codes", "cards"]
REQUIRED = {"reason-codes": {"action": "skip"}, "cards": {"customer": "004021"}}


def lookup(client, kind, **params):
    return client.get(f"/api/v1/lookups/{kind}/", {**REQUIRED.get(kind, {}), **params})


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def parent_orders(sell):
    holm = Customer.objects.get(account_number="004022")
    return [sell("88000"), sell("88001"), sell("88000", customer=holm)]


# --- q -----------------------------------------------------------------------------------

# Texts that match nothing in the demo data unless a character is read as a wildcard or
# dropped: every kind answers an empty list for each.
NOTHING_MATCHES = [
    "%",
    "_",
    "\\",
    "%%",
    "__",
    "0_13",
    "%tea",
    '"',
    "' OR 1=",
    "-",
    "+",
    "/",
    "ÿ",
    "\u00e9t\u00e9",
    "\U0001f600",
    "\ud7ff",  # the last code point before the surrogates: its successor is no text
    "\U0010ffff",  # the last code point: it has no successor
    "SO-\U0010ffff",
    "x" * SEARCH_TERM_MAX_LENGTH,
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("q", NOTHING_MATCHES, ids=lambda q: ascii(q)[:20])
def test_a_typed_character_is_never_a_wildcard_nor_a_500(kind, q, supervisor_api, parent_orders):
    assert results(lookup(supervisor_api, kind, q=q)) == []


@pytest.mark.parametrize("q", ["(", "()", "-", "+", "/", "( ) -", "+()"])
def test_phone_punctuation_without_a_digit_finds_no_customer(q, supervisor_api, parent_orders):
    """A phone is looked for by its digits: punctuation alone is no phone, not every one."""
    assert results(lookup(supervisor_api, "sales-orders", q=q)) == []


@pytest.mark.parametrize("kind", KINDS)
def test_only_spaces_is_an_empty_q(kind, supervisor_api, parent_orders):
    assert results(lookup(supervisor_api, kind, q="   ")) == results(lookup(supervisor_api, kind))
    assert results(lookup(supervisor_api, kind, q="   ")) != []


@pytest.mark.parametrize("kind", KINDS)
def test_a_q_too_long_or_with_a_nul_is_refused_at_q(kind, supervisor_api):
    for q in ("x" * (SEARCH_TERM_MAX_LENGTH + 1), "tea\x00", "\x00"):
        error = assert_error(lookup(supervisor_api, kind, q=q), 400, "invalid")
        assert set(error["fields"]) == {"q"}


def test_wildcards_are_matched_literally_where_a_name_holds_them(agent_api, demo):
    from orders.models import Item

    Item.objects.filter(item_number="0015").update(name="Tea 100% organic_blend")
    assert [o["value"] for o in results(lookup(agent_api, "items", q="100%"))] == ["0015"]
    assert [o["value"] for o in results(lookup(agent_api, "items", q="c_b"))] == ["0015"]
    assert results(lookup(agent_api, "items", q="%0")) == []


# --- limit -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "limit",
    ["0", "-1", "21", "abc", "", "1e3", "9" * 30, "\x00", "5.0", " 5", "5 ", "+5", "1_0", "\u0665"],
)
def test_a_bad_limit_is_refused_at_limit(kind, limit, supervisor_api):
    error = assert_error(lookup(supervisor_api, kind, limit=limit), 400, "invalid")
    assert set(error["fields"]) == {"limit"}


# --- own parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("item", ["99999", "\x00", "%", "8800_", "x" * 21])
def test_a_bad_item_is_refused_at_item(item, supervisor_api, parent_orders):
    error = assert_error(lookup(supervisor_api, "sales-orders", item=item), 400, "invalid")
    assert set(error["fields"]) == {"item"}


def test_an_empty_item_is_every_item(supervisor_api, parent_orders):
    assert len(results(lookup(supervisor_api, "sales-orders", item=""))) == 3


@pytest.mark.parametrize("action", ["", "explode", "SKIP", "\x00", "skip "])
def test_an_unknown_action_is_refused_at_action(action, agent_api):
    error = assert_error(lookup(agent_api, "reason-codes", action=action), 400, "invalid")
    assert set(error["fields"]) == {"action"}


def test_a_missing_action_or_customer_is_refused_at_it(agent_api):
    error = assert_error(agent_api.get("/api/v1/lookups/reason-codes/"), 400, "invalid")
    assert set(error["fields"]) == {"action"}
    error = assert_error(agent_api.get("/api/v1/lookups/cards/"), 400, "invalid")
    assert set(error["fields"]) == {"customer"}


@pytest.mark.parametrize("customer", ["999999", "4021", " 004021", "004021 ", "%", "00402_"])
def test_a_customer_not_written_as_an_account_number_is_not_found(customer, agent_api):
    assert_error(lookup(agent_api, "cards", customer=customer), 404)


@pytest.mark.parametrize("customer", ["", "   ", "\x00", "x" * 21])
def test_a_blank_or_bad_customer_is_refused_at_customer(customer, agent_api):
    error = assert_error(lookup(agent_api, "cards", customer=customer), 400, "invalid")
    assert set(error["fields"]) == {"customer"}


def test_a_repeated_parameter_takes_its_last_value(agent_api, demo):
    response = agent_api.get("/api/v1/lookups/items/?q=zzz&q=880&limit=1&limit=2")
    assert [o["value"] for o in results(response)] == ["88000", "88001"]


def test_an_unknown_parameter_is_ignored(agent_api, demo):
    response = agent_api.get("/api/v1/lookups/items/", {"q": "880", "offset": "x"})
    assert len(results(response)) == 3


# --- kinds and methods -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["customers", "ITEMS", "items/x", "%2e%2e", "cards%00"])
def test_an_unknown_kind_is_not_found(kind, agent_api):
    assert_error(agent_api.get(f"/api/v1/lookups/{kind}/"), 404)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_lookup_only_reads(kind, method, supervisor_api):
    response = getattr(supervisor_api, method)(f"/api/v1/lookups/{kind}/", {}, format="json")
    assert_error(response, 405)


# --- permissions -------------------------------------------------------------------------


@pytest.fixture
def warehouse_api(demo):
    return token_client(get_user_model().objects.get(username="warehouse"))


@pytest.mark.parametrize("kind", KINDS)
def test_the_warehouse_is_refused_everywhere(kind, warehouse_api):
    assert_error(lookup(warehouse_api, kind), 403)


@pytest.mark.parametrize("kind", KINDS)
def test_an_anonymous_caller_is_refused_by_session_or_none(kind, anonymous_api, client, demo):
    assert lookup(anonymous_api, kind).status_code in (401, 403)
    assert lookup(client, kind).status_code in (401, 403)
    assert not Session.objects.exists()


def test_an_agent_is_refused_the_sales_orders(agent_api, parent_orders):
    assert_error(lookup(agent_api, "sales-orders"), 403)
    assert_error(lookup(agent_api, "sales-orders", q="SO-"), 403)


def test_an_agent_sees_any_customers_cards_but_not_an_inactive_one(agent_api, order_api):
    active = order_api.add_card(customer="004022")
    other = order_api.add_card(customer="004022")
    Card.objects.filter(pk=other).update(active=False)
    listed = results(lookup(agent_api, "cards", customer="004022"))
    assert [o["value"] for o in listed] == [str(active)]
    assert listed[0]["disabled"] is False


# --- queries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,params",
    [
        ("items", {}),
        ("continuity-items", {}),
        ("payment-methods", {}),
        ("reason-codes", {}),
        ("cards", {}),
        ("sales-orders", {}),
        ("sales-orders", {"q": "berg"}),
        ("sales-orders", {"item": "88000"}),
    ],
)
def test_the_queries_do_not_grow_with_the_options(kind, params, supervisor_api, sell, order_api):
    def count(limit):
        with CaptureQueriesContext(connection) as queries:
            assert len(results(lookup(supervisor_api, kind, limit=limit, **params))) >= limit
        return len(queries)

    for _ in range(3):
        sell("88000")
    order_api.add_card()
    order_api.add_card()
    assert count(1) == count(3) if kind != "payment-methods" else count(1) == count(2)


# --- sessions ----------------------------------------------------------------------------


def test_a_made_up_session_cookie_creates_no_session(client, demo):
    client.cookies[django_settings.SESSION_COOKIE_NAME] = "madeupsessionkey0123456789abcdef"
    for path in ("/api/v1/lookups/items/", "/accounts/login/", "/", "/health/", "/i18n/setlang/"):
        client.get(path)
    assert not Session.objects.exists()


def test_a_failed_sign_in_creates_no_session(client, demo):
    client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "agent", "password": "wrong"})
    assert response.status_code == 200
    client.get("/api/v1/lookups/items/")
    assert not Session.objects.exists()


def test_a_session_renewed_at_a_non_integer_is_renewed(client, demo):
    client.force_login(get_user_model().objects.get(username="agent"))
    for odd in ("soon", None, 1.5, [1], {"a": 1}, True):
        session = client.session
        session["_renewed_at"] = odd
        session.save()
        assert client.get("/api/v1/lookups/items/").status_code == 200
        assert isinstance(client.session["_renewed_at"], int)
        assert client.session["_renewed_at"] is not True


def test_signing_out_ends_the_session(client, demo):
    client.force_login(get_user_model().objects.get(username="agent"))
    assert client.get("/api/v1/lookups/items/").status_code == 200
    client.post("/accounts/logout/")
    assert not Session.objects.filter(expire_date__gt=datetime.datetime.now(datetime.UTC)).exists()
    assert client.get("/api/v1/lookups/items/").status_code in (401, 403)


@pytest.mark.parametrize("search", ["()", "--", "( ) -"])
def test_the_customer_search_finds_no_one_by_punctuation_alone(search, agent_api):
    """Punctuation is no phone and no word of three characters: refused before any query
    (as the empty term it would have matched every customer)."""
    response = agent_api.get("/api/v1/customers/", {"search": search})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {
        "search": ["Enter a word of at least 3 characters to search."]
    }


@pytest.mark.parametrize("kind", KINDS)
def test_head_and_options_need_the_role_too(kind, anonymous_api, agent_api, warehouse_api):
    assert anonymous_api.options(f"/api/v1/lookups/{kind}/").status_code in (401, 403)
    assert_error(warehouse_api.options(f"/api/v1/lookups/{kind}/"), 403)
    assert warehouse_api.head(f"/api/v1/lookups/{kind}/").status_code == 403  # no body
