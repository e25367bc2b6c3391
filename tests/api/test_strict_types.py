"""The API takes exactly the types its schema declares: a boolean is JSON true or false, an
integer a JSON integer, text a JSON string taken as sent, a date YYYY-MM-DD; a boolean
query parameter "true" or "false". Anything else is a 400 on its field, with nothing
written."""

import pytest

from batch.models import BatchRun
from orders.models import SalesOrder, SalesOrderLine

from .conftest import assert_error

pytestmark = pytest.mark.django_db

NOT_A_BOOLEAN = "Must be a valid boolean."
NOT_AN_INTEGER = "A valid integer is required."
NOT_A_STRING = "Not a valid string."
NOT_A_DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."


@pytest.mark.parametrize("dry_run", [0, 1, "true", "false", "yes", 1.0])
def test_a_batch_run_takes_only_json_booleans(supervisor_api, dry_run):
    response = supervisor_api.post(
        "/api/v1/batch-runs/", {"job": "create_child_orders", "dry_run": dry_run}
    )

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"dry_run": [NOT_A_BOOLEAN]}
    assert not BatchRun.objects.exists()


def test_a_batch_run_takes_a_json_true(supervisor_api):
    response = supervisor_api.post(
        "/api/v1/batch-runs/", {"job": "create_child_orders", "dry_run": True}
    )

    assert response.status_code == 202, response.content
    assert response.json()["dry_run"] is True


@pytest.mark.parametrize("quantity", ["2", 2.0, True])
def test_a_line_takes_only_a_json_integer_quantity(order_api, quantity):
    number = order_api.create()

    response = order_api.add_line(number, "88001", quantity=quantity)

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"quantity": [NOT_AN_INTEGER]}
    assert not SalesOrderLine.objects.exists()


def test_a_line_takes_a_json_integer_quantity(order_api):
    number = order_api.create()

    response = order_api.add_line(number, "88001", quantity=2)

    assert response.status_code == 201, response.content
    assert [line["quantity"] for line in response.json()["lines"]] == [2]


@pytest.mark.parametrize("customer", [4021, True, ["004021"]])
def test_a_new_order_takes_only_a_json_string_account_number(agent_api, customer):
    response = agent_api.post("/api/v1/sales-orders/", {"customer": customer})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"customer": [NOT_A_STRING]}
    assert not SalesOrder.objects.exists()


def test_text_is_taken_as_sent_not_trimmed(agent_api):
    response = agent_api.post("/api/v1/sales-orders/", {"customer": " 004021 "})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"customer": ["Customer  004021  does not exist."]}


@pytest.mark.parametrize("start_date", ["20291201", "2029-W49-1", "2029-12-1", 20291201])
def test_a_date_is_written_yyyy_mm_dd(order_api, start_date):
    number = order_api.create()

    response = order_api.add_line(number, "88001", start_date=start_date)

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"start_date": [NOT_A_DATE]}


def test_a_date_outside_the_planning_years_is_refused(agent_api):
    response = agent_api.get("/api/v1/items/88000/", {"start_date": "2200-01-01"})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"start_date": ["Enter a date between 01/01/2000 and 12/31/2199."]}


@pytest.mark.parametrize("continuity", ["1", "0", "True", "yes", ""])
def test_a_boolean_query_parameter_is_true_or_false(agent_api, continuity):
    response = agent_api.get("/api/v1/items/", {"continuity": continuity})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"continuity": [NOT_A_BOOLEAN]}


def test_a_boolean_query_parameter_filters(agent_api):
    response = agent_api.get("/api/v1/items/", {"continuity": "true"})

    assert response.status_code == 200
    assert {item["is_continuity"] for item in response.json()["results"]} == {True}


@pytest.mark.parametrize("reason", ["   ", "\t\n"])
def test_a_blank_reason_is_refused_as_missing(supervisor_api, reason):
    response = supervisor_api.post("/api/v1/subscriptions/1/release-hold/", {"reason": reason})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"reason": ["Enter the reason for this action."]}


def test_text_with_a_nul_character_is_refused(agent_api):
    response = agent_api.post("/api/v1/sales-orders/", {"customer": "0040\x0021"})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"customer": ["Null characters are not allowed."]}


@pytest.mark.parametrize("search", ["", "K", "  K  ", "\tK\n"])
def test_a_search_needs_two_characters_besides_spaces(agent_api, search):
    response = agent_api.get("/api/v1/customers/", {"search": search})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"search": ["Enter at least 2 characters to search."]}


def test_a_search_of_two_letters_is_refused_on_its_field(agent_api):
    response = agent_api.get("/api/v1/customers/", {"search": "ka"})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"search": ["Enter a word of at least 3 characters to search."]}


def test_a_search_of_two_characters_with_spaces_around_finds(agent_api):
    response = agent_api.get("/api/v1/customers/", {"search": " Berg "})

    assert response.status_code == 200
    assert [row["account_number"] for row in response.json()["results"]] == ["004021"]
