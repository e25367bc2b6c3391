"""The type-ahead lookups, GET /api/v1/lookups/<kind>/ (core.lookups): each kind's exact
options on the demo data, in English and French, its filters, who may call it, and every
bad parameter refused with its field."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from continuity.lookups import order_number_prefixes
from core.dates import business_date
from customers.models import Customer
from payments.models import Card

from .conftest import assert_error, token_client

pytestmark = pytest.mark.django_db

KINDS = ["continuity-items", "sales-orders", "items", "payment-methods", "reason-codes", "cards"]
# The parameters each kind needs besides q and limit.
REQUIRED = {"reason-codes": {"action": "skip"}, "cards": {"customer": "004021"}}


def lookup(client, kind, **params):
    headers = {name: params.pop(name) for name in list(params) if name.startswith("HTTP_")}
    return client.get(f"/api/v1/lookups/{kind}/", {**REQUIRED.get(kind, {}), **params}, **headers)


def options(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results"}
    return body["results"]


def values(response) -> list[str]:
    return [option["value"] for option in options(response)]


@pytest.fixture
def warehouse_api(demo):
    return token_client(get_user_model().objects.get(username="warehouse"))


@pytest.fixture
def parent_orders(sell):
    """Three sold parent orders: Karen Berg's of 88000 and 88001, Karen Holm's of 88000."""
    holm = Customer.objects.get(account_number="004022")
    return {
        "berg_88000": sell("88000"),
        "berg_88001": sell("88001"),
        "holm_88000": sell("88000", customer=holm),
    }


# --- Items ---------------------------------------------------------------------------------


def test_items_answer_the_active_items_in_number_order(agent_api):
    assert options(lookup(agent_api, "items", q="")) == [
        {
            "value": "0013",
            "label": "0013 · Daily vitamins, 30 tablets",
            "description": "",
            "disabled": False,
            "disabled_reason": "",
        },
        {
            "value": "0014",
            "label": "0014 · Protein shake mix, 1 kg",
            "description": "",
            "disabled": False,
            "disabled_reason": "",
        },
        {
            "value": "0015",
            "label": "0015 · Herbal tea sampler",
            "description": "",
            "disabled": False,
            "disabled_reason": "",
        },
        {
            "value": "88000",
            "label": "88000 · Wellness club (continuity)",
            "description": "Continuity item",
            "disabled": False,
            "disabled_reason": "",
        },
        {
            "value": "88001",
            "label": "88001 · Tea club, prepaid (continuity)",
            "description": "Continuity item",
            "disabled": False,
            "disabled_reason": "",
        },
        {
            "value": "88002",
            "label": "88002 · Protein monthly (continuity)",
            "description": "Continuity item",
            "disabled": False,
            "disabled_reason": "",
        },
    ]


def test_items_match_a_number_prefix_or_a_word_of_the_name_in_any_case(agent_api):
    assert values(lookup(agent_api, "items", q="880")) == ["88000", "88001", "88002"]
    assert values(lookup(agent_api, "items", q="PROTEIN")) == ["0014", "88002"]
    assert values(lookup(agent_api, "items", q="  tea ")) == ["0015", "88001"]
    # A number matches from its start only.
    assert values(lookup(agent_api, "items", q="001")) == ["0013", "0014", "0015"]
    assert values(lookup(agent_api, "items", q="800")) == []


def test_items_leave_out_an_inactive_item_and_say_continuity_in_french(agent_api):
    from orders.models import Item

    Item.objects.filter(item_number="0014").update(active=False)
    french = options(lookup(agent_api, "items", q="protein", HTTP_ACCEPT_LANGUAGE="fr"))
    assert [(o["value"], o["description"]) for o in french] == [("88002", "Article périodique")]


def test_continuity_items_are_those_with_a_program_described_by_it(agent_api):
    assert [
        (o["value"], o["label"], o["description"])
        for o in options(lookup(agent_api, "continuity-items"))
    ] == [
        ("88000", "88000 · Wellness club (continuity)", "Wellness club, 6 monthly boxes"),
        ("88001", "88001 · Tea club, prepaid (continuity)", "Tea club, 3 months paid up front"),
        ("88002", "88002 · Protein monthly (continuity)", "Protein monthly, until cancelled"),
    ]
    assert values(lookup(agent_api, "continuity-items", q="tea")) == ["88001"]
    assert values(lookup(agent_api, "continuity-items", q="0013")) == []


# --- Sales orders --------------------------------------------------------------------------


def test_sales_orders_are_sold_parent_orders_newest_first_with_customer_date_and_status(
    supervisor_api, parent_orders, sell
):
    berg, tea, holm = (parent_orders[k] for k in ("berg_88000", "berg_88001", "holm_88000"))
    day = business_date().strftime("%m/%d/%Y")
    assert options(lookup(supervisor_api, "sales-orders")) == [
        {
            "value": order.number,
            "label": f"{order.number} · {name}",
            "description": f"{day} · Submitted",
            "disabled": False,
            "disabled_reason": "",
        }
        for order, name in [(holm, "Karen Holm"), (tea, "Karen Berg"), (berg, "Karen Berg")]
    ]
    french = options(lookup(supervisor_api, "sales-orders", HTTP_ACCEPT_LANGUAGE="fr"))
    assert french[0]["description"] == f"{business_date().strftime('%d/%m/%Y')} · Soumise"


def test_an_open_parent_order_is_not_offered(supervisor_api, parent_orders, order_api):
    number = order_api.create()
    assert order_api.add_line(number, "88000").status_code == 201
    assert number not in values(lookup(supervisor_api, "sales-orders", limit=20))


def test_sales_orders_of_one_item(supervisor_api, parent_orders):
    assert values(lookup(supervisor_api, "sales-orders", item="88000")) == [
        parent_orders["holm_88000"].number,
        parent_orders["berg_88000"].number,
    ]
    assert values(lookup(supervisor_api, "sales-orders", item="88001")) == [
        parent_orders["berg_88001"].number
    ]
    assert values(lookup(supervisor_api, "sales-orders", item="0013")) == []
    # A form with no item chosen yet sends it empty.
    assert len(values(lookup(supervisor_api, "sales-orders", item=""))) == 3


def test_sales_orders_by_number_typed_in_full_or_by_its_digits(supervisor_api, parent_orders):
    order = parent_orders["berg_88001"]
    digits = order.number.removeprefix("SO-").lstrip("0")
    assert values(lookup(supervisor_api, "sales-orders", q=order.number)) == [order.number]
    assert values(lookup(supervisor_api, "sales-orders", q=order.number.lower())) == [order.number]
    # Digits also find the customers whose phone or account number holds them.
    assert order.number in values(lookup(supervisor_api, "sales-orders", q=digits))
    assert values(lookup(supervisor_api, "sales-orders", q="SO-")) == values(
        lookup(supervisor_api, "sales-orders")
    )


def test_digits_stand_for_the_numbers_that_start_with_them_without_their_zeros():
    assert order_number_prefixes("123") == ["SO-123", "SO-0123", "SO-00123", "SO-000123"]
    assert order_number_prefixes("so123") == order_number_prefixes("123")
    assert order_number_prefixes("SO-000123") == ["SO-000123"]
    assert order_number_prefixes("0012") == ["SO-0012"]
    assert order_number_prefixes("1234567") == ["SO-1234567"]
    assert order_number_prefixes("so-") == ["SO-"]


def test_sales_orders_by_customer_name_or_account(supervisor_api, parent_orders):
    holm = parent_orders["holm_88000"].number
    berg = [parent_orders["berg_88001"].number, parent_orders["berg_88000"].number]
    assert values(lookup(supervisor_api, "sales-orders", q="holm")) == [holm]
    assert values(lookup(supervisor_api, "sales-orders", q="Karen Berg")) == berg
    assert values(lookup(supervisor_api, "sales-orders", q="004022")) == [holm]
    assert values(lookup(supervisor_api, "sales-orders", q="berg", item="88000")) == berg[1:]
    assert values(lookup(supervisor_api, "sales-orders", q="nobody")) == []
    assert values(lookup(supervisor_api, "sales-orders", q="karen", limit=1)) == [holm]


def test_sales_orders_of_an_unknown_item_are_refused_at_the_item(supervisor_api):
    error = assert_error(lookup(supervisor_api, "sales-orders", item="99999"), 400, "invalid")
    assert error["fields"] == {"item": ["There is no item 99999."]}


# --- Methods of payment and reason codes -------------------------------------------------


def test_payment_methods_by_code_or_name_with_their_kind(agent_api):
    assert [
        (o["value"], o["label"], o["description"])
        for o in options(lookup(agent_api, "payment-methods"))
    ] == [
        ("Amex", "Amex · American Express", "Card"),
        ("Mastercard", "Mastercard · Mastercard", "Card"),
        ("OnAccount", "OnAccount · On account", "On account"),
        ("Visa", "Visa · Visa", "Card"),
    ]
    assert values(lookup(agent_api, "payment-methods", q="express")) == ["Amex"]
    assert values(lookup(agent_api, "payment-methods", q="vi")) == ["Visa"]
    french = options(lookup(agent_api, "payment-methods", q="on", HTTP_ACCEPT_LANGUAGE="fr"))
    assert [(o["value"], o["description"]) for o in french] == [("OnAccount", "Sur compte")]


def test_reason_codes_are_the_actions_own_in_the_request_language(agent_api):
    assert [
        (o["value"], o["label"], o["description"])
        for o in options(lookup(agent_api, "reason-codes", action="skip"))
    ] == [
        ("CUSTOMER", "CUSTOMER · Customer's request", ""),
        ("QUALITY", "QUALITY · Product quality", ""),
        ("STOCK", "STOCK · Too much product on hand", ""),
        ("TRAVEL", "TRAVEL · Customer away", ""),
    ]
    assert values(lookup(agent_api, "reason-codes", action="change_card")) == [
        "CUSTOMER",
        "NEWCARD",
    ]
    assert values(lookup(agent_api, "reason-codes", action="skip", q="tr")) == ["TRAVEL"]
    french = options(
        lookup(agent_api, "reason-codes", action="skip", q="absent", HTTP_ACCEPT_LANGUAGE="fr")
    )
    assert [o["label"] for o in french] == ["TRAVEL · Client absent"]


def test_reason_codes_need_a_known_action(agent_api):
    missing = assert_error(agent_api.get("/api/v1/lookups/reason-codes/"), 400, "invalid")
    assert set(missing["fields"]) == {"action"}
    unknown = assert_error(lookup(agent_api, "reason-codes", action="explode"), 400, "invalid")
    assert set(unknown["fields"]) == {"action"}


# --- Cards ---------------------------------------------------------------------------------


def test_cards_newest_first_an_expired_one_shown_disabled(agent_api, order_api):
    first = order_api.add_card()
    second = order_api.add_card("5555 5555 5555 4444")
    year = business_date().year + 3
    expired = Card.objects.get(pk=first)
    Card.objects.filter(pk=first).update(expiry_year=business_date().year - 1)
    assert options(lookup(agent_api, "cards")) == [
        {
            "value": str(second),
            "label": "Mastercard •••• 4444",
            "description": f"Expires 12/{year}",
            "disabled": False,
            "disabled_reason": "",
        },
        {
            "value": str(first),
            "label": f"Visa •••• {expired.last4}",
            "description": f"Expires 12/{business_date().year - 1}",
            "disabled": True,
            "disabled_reason": "Expired",
        },
    ]
    french = options(lookup(agent_api, "cards", HTTP_ACCEPT_LANGUAGE="fr"))
    assert french[1]["description"] == f"Expire fin 12/{business_date().year - 1}"
    assert french[1]["disabled_reason"] == "Expirée"
    assert values(lookup(agent_api, "cards", q="visa")) == [str(first)]
    assert values(lookup(agent_api, "cards", q="44")) == [str(second)]
    Card.objects.filter(pk=second).update(active=False)
    assert values(lookup(agent_api, "cards")) == [str(first)]


def test_cards_of_an_unknown_customer_are_not_found(agent_api):
    assert_error(lookup(agent_api, "cards", customer="999999"), 404, "not_found")
    missing = assert_error(agent_api.get("/api/v1/lookups/cards/"), 400, "invalid")
    assert set(missing["fields"]) == {"customer"}


# --- Every kind ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_warehouse_and_a_user_without_a_role_are_refused(kind, warehouse_api, no_role_api):
    assert_error(lookup(warehouse_api, kind), 403, "permission_denied")
    assert_error(lookup(no_role_api, kind), 403, "permission_denied")


@pytest.mark.parametrize("kind", KINDS)
def test_an_anonymous_caller_is_refused(kind, anonymous_api, demo):
    assert_error(lookup(anonymous_api, kind), 401, "not_authenticated")


def test_an_agent_may_not_look_up_sales_orders(agent_api, parent_orders):
    assert_error(lookup(agent_api, "sales-orders"), 403, "permission_denied")


def test_an_unknown_kind_is_not_found(agent_api):
    assert_error(agent_api.get("/api/v1/lookups/everything/"), 404, "not_found")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "21"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"q": "x" * 101}, "q"),
        ({"q": "karen\x00"}, "q"),
    ],
)
def test_a_bad_parameter_is_refused_with_its_field(kind, params, field, supervisor_api):
    error = assert_error(lookup(supervisor_api, kind, **params), 400, "invalid")
    assert set(error["fields"]) == {field}


@pytest.mark.parametrize("kind", KINDS)
def test_limit_bounds_the_options(kind, supervisor_api, parent_orders):
    assert len(values(lookup(supervisor_api, kind, limit=1))) == 1
    assert len(values(lookup(supervisor_api, kind, q="x" * 100, limit=20))) == 0


@pytest.mark.parametrize(
    ("kind", "params", "most"),
    [
        ("continuity-items", {"q": "club"}, 1),
        ("items", {"q": ""}, 1),
        ("payment-methods", {"q": "a"}, 1),
        ("reason-codes", {"q": "c"}, 1),
        ("cards", {"q": ""}, 2),
        ("sales-orders", {"q": ""}, 2),
        ("sales-orders", {"q": "karen", "item": "88000"}, 5),
        ("sales-orders", {"q": "123"}, 4),
    ],
)
def test_a_lookup_takes_a_fixed_number_of_queries(kind, params, most, supervisor_api, sell):
    """At most `most` queries of the lookup's own for one option or for twenty (the
    caller's token and role checks counted apart, from a lookup of one query)."""
    holm = Customer.objects.get(account_number="004022")
    for _ in range(3):
        sell("88000", customer=holm)
        sell("88000")
    # An expired card reads no more than a valid one.
    Card.objects.filter(pk=Card.objects.order_by("id").values("pk")[:1]).update(expiry_year=2001)
    with CaptureQueriesContext(connection) as one_query_lookup:
        assert values(lookup(supervisor_api, "payment-methods", q="nothing")) == []
    signed_in = len(one_query_lookup) - 1
    counts = []
    for limit in (1, 20):
        with CaptureQueriesContext(connection) as queries:
            options(lookup(supervisor_api, kind, limit=limit, **params))
        counts.append(len(queries) - signed_in)
    # (The customer name's second strategy runs only when the newest orders do not fill
    # the list: one query more for twenty options than for one, never one per option.)
    assert max(counts) <= most, counts
