"""One JSON error shape for every refusal (400 per field, 402, 404, 405, 409, 415, 500,
503; 401 and 403 in test_auth.py, 429 in test_throttling.py), never an HTML page, and
for every refusal nothing written or charged."""

import pytest
from rest_framework.test import APIClient

import customers.apis
import customers.views
import payments.services.cards
from core.models import AuditEntry
from orders.models import SalesOrder, SalesOrderLine, SalesOrderStatus
from payments.gateways.base import GatewayTimeout
from payments.models import Card, Payment, PaymentStatus

from .conftest import assert_error, gateway_ledger_count, token_client

pytestmark = pytest.mark.django_db

DECLINED_CARD = "4000 0000 0000 0002"  # do not honor (soft)
TIMEOUT_AFTER_CHARGE = "4000 0000 0000 0259"  # charged, but the answer never comes


def written():
    """Counts of what a refused request must not have written."""
    return (
        SalesOrder.objects.count(),
        SalesOrderLine.objects.count(),
        Card.objects.count(),
        Payment.objects.count(),
        AuditEntry.objects.count(),
        gateway_ledger_count(),
    )


# --- 400 -----------------------------------------------------------------------------------


def test_a_service_refusal_names_its_field(order_api):
    number = order_api.create()
    before = written()

    response = order_api.add_line(number, "99999")

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"item_number": ["Item number 99999 does not exist."]}
    assert error["message"] == "Item number 99999 does not exist."
    assert written() == before


def test_request_fields_are_checked_before_any_service(order_api):
    number = order_api.create()
    before = written()

    response = order_api.client.post(
        f"/api/v1/sales-orders/{number}/lines/", {"quantity": 0, "start_date": "someday"}
    )

    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"item_number", "quantity", "start_date"}
    assert error["fields"]["item_number"] == ["This field is required."]
    assert written() == before


def test_a_refusal_of_the_whole_request_is_a_non_field_error(order_api):
    number = order_api.create()
    before = written()

    response = order_api.complete(number)

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {
        "non_field_errors": ["Add at least one line before completing the order."]
    }
    assert written() == before


def test_an_invalid_card_is_refused_before_the_gateway_is_called(order_api):
    before = written()

    response = order_api.client.post(
        "/api/v1/customers/004021/cards/",
        {
            "card_number": "4242 4242 4242 4241",
            "expiry_month": 12,
            "expiry_year": 2031,
            "security_code": "73",
            "name_on_card": "Karen Berg",
        },
    )

    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"card_number", "security_code"}
    assert "4241" not in response.content.decode()
    assert written() == before


def test_a_new_order_for_an_unknown_customer_is_refused_on_its_field(agent_api):
    before = written()

    response = agent_api.post("/api/v1/sales-orders/", {"customer": "999999"})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"customer": ["Customer 999999 does not exist."]}
    assert written() == before


def test_malformed_json_is_a_400(agent_api):
    before = written()

    response = agent_api.post(
        "/api/v1/sales-orders/", data="{not json", content_type="application/json"
    )

    assert_error(response, 400, "parse_error")
    assert written() == before


def test_an_invalid_page_is_a_400_not_another_page(supervisor_api):
    response = supervisor_api.get("/api/v1/batch-runs/", {"limit": "all", "offset": -1})

    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"limit", "offset"}


def test_messages_follow_the_request_language(order_api):
    number = order_api.create()

    response = order_api.client.post(
        f"/api/v1/sales-orders/{number}/lines/",
        {"item_number": "99999"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )

    error = assert_error(response, 400, "invalid")
    assert error["fields"]["item_number"] == ["Le numéro d'article 99999 n'existe pas."]


# --- 402 and 409: the payment outcomes of submit -------------------------------------------


def test_a_declined_card_answers_402_and_keeps_the_order_open(order_api):
    number = order_api.ready(DECLINED_CARD)

    response = order_api.submit(number)

    error = assert_error(response, 402, "payment_declined")
    assert error["decline_code"] == "do_not_honor"
    order = SalesOrder.objects.get(number=number)
    assert order.status == SalesOrderStatus.OPEN
    assert not order.payments.filter(status=PaymentStatus.APPROVED).exists()
    assert not order.subscriptions.exists()


def test_after_a_decline_another_card_pays_and_submits(order_api):
    number = order_api.ready(DECLINED_CARD)
    assert order_api.submit(number).status_code == 402
    order_api.pay(number, order_api.add_card())

    response = order_api.submit(number)

    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    assert [p["status"] for p in response.json()["payments"]] == ["declined", "approved"]


def test_an_unconfirmed_charge_answers_409_and_the_next_submit_looks_it_up(order_api):
    number = order_api.ready(TIMEOUT_AFTER_CHARGE)
    ledger = gateway_ledger_count()

    unknown = order_api.submit(number)

    assert_error(unknown, 409, "payment_unknown")
    assert SalesOrder.objects.get(number=number).status == SalesOrderStatus.OPEN
    charged = gateway_ledger_count()
    assert charged == ledger + 1  # the gateway did charge, once

    looked_up = order_api.submit(number)

    assert looked_up.status_code == 200
    assert looked_up.json()["status"] == "submitted"
    assert gateway_ledger_count() == charged  # looked up, not charged again
    assert [p["status"] for p in looked_up.json()["payments"]] == ["approved"]


# --- 404, 405, 409, 415 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/999999/",
        "/api/v1/items/99999/",
        "/api/v1/continuity-programs/NOPE/",
        "/api/v1/sales-orders/SO-999999/",
        "/api/v1/subscriptions/999999/",
        "/api/v1/subscriptions/99999999999999999999999/",
        "/api/v1/batch-runs/999999/",
        "/api/v1/no-such-thing/",
        "/api/v1/customers/004021",  # no trailing slash: not redirected, not found
        "/api/",
        "/api/v2/customers/",
    ],
)
def test_what_does_not_exist_is_a_json_404(supervisor_api, path):
    assert_error(supervisor_api.get(path), 404, "not_found")


def test_an_unknown_order_in_a_write_is_a_404_with_nothing_written(order_api):
    before = written()

    response = order_api.add_line("SO-999999", "0013")

    assert_error(response, 404, "not_found")
    assert written() == before


def test_a_method_an_endpoint_does_not_take_is_a_405(agent_api):
    # (GET /sales-orders/ is the warehouse's pick list: an endpoint that takes POST only.)
    response = agent_api.get("/api/v1/sales-orders/SO-000001/complete/")

    error = assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST, OPTIONS"
    assert "GET" in error["message"]


def test_adding_a_line_to_a_submitted_order_is_a_409_with_nothing_written(order_api):
    number = order_api.ready()
    assert order_api.submit(number).status_code == 200
    before = written()

    response = order_api.add_line(number, "0013")

    error = assert_error(response, 409, "conflict")
    assert error["message"] == (
        f"Sales order {number} can no longer be changed: its status is Submitted."
    )
    assert written() == before


def test_a_body_that_is_not_json_is_a_415(agent_api):
    before = written()

    response = agent_api.post("/api/v1/sales-orders/", {"customer": "004021"}, format="multipart")

    assert_error(response, 415, "unsupported_media_type")
    assert written() == before


# --- 500 and 503 ---------------------------------------------------------------------------


def test_an_unexpected_error_is_a_json_500_under_the_api_only(agent, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(customers.apis, "customer_page_get", broken)
    monkeypatch.setattr(customers.views, "customer_page_get", broken)
    api = token_client(agent)
    api.raise_request_exception = False

    response = api.get("/api/v1/customers/004021/")

    error = assert_error(response, 500, "server_error")
    assert "a bug" not in response.content.decode()
    assert error["fields"] == {}
    browser = APIClient(raise_request_exception=False)
    browser.force_login(agent)
    page = browser.get("/customers/004021/")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


def test_a_gateway_that_does_not_answer_is_a_503_and_no_card_is_kept(agent_api, monkeypatch):
    class SilentGateway:
        def tokenize(self, card):
            raise GatewayTimeout("no answer")

    monkeypatch.setattr(payments.services.cards, "get_gateway", SilentGateway)
    before = written()

    response = agent_api.post(
        "/api/v1/customers/004021/cards/",
        {
            "card_number": "4242 4242 4242 4242",
            "expiry_month": 12,
            "expiry_year": 2031,
            "security_code": "737",
            "name_on_card": "Karen Berg",
        },
    )

    assert_error(response, 503, "gateway_unavailable")
    assert response["Retry-After"] == "5"
    assert written() == before


@pytest.mark.parametrize("quantity", [0, -1, 10000, 1000000000, 99999999999])
def test_a_quantity_out_of_bounds_is_refused_with_the_order_pages_message(order_api, quantity):
    """The API and the order page share their bounds and message (core.limits)."""
    number = order_api.create()
    before = written()

    response = order_api.add_line(number, "0013", quantity=quantity)

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"quantity": ["Enter a quantity from 1 to 9999."]}
    assert written() == before


def test_a_quantity_that_is_not_a_json_integer_is_refused_as_such(order_api):
    number = order_api.create()
    before = written()

    response = order_api.add_line(number, "0013", quantity="many")

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"quantity": ["A valid integer is required."]}
    assert written() == before


def test_the_largest_quantity_is_taken(order_api):
    number = order_api.create()

    response = order_api.add_line(number, "0013", quantity=9999)

    assert response.status_code == 201, response.content
    assert SalesOrderLine.objects.get(order__number=number).quantity == 9999


@pytest.mark.parametrize("start_date", ["1999-12-31", "2200-01-01", "9999-12-31"])
def test_a_start_date_outside_the_planning_years_is_refused_as_on_the_page(order_api, start_date):
    number = order_api.create()
    before = written()

    response = order_api.add_line(number, "88002", start_date=start_date)

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"start_date": ["Enter a date between 01/01/2000 and 12/31/2199."]}
    assert written() == before
