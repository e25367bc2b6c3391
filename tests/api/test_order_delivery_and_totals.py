"""The sales order's delivery and tax in the API: the totals and each line's tax as
priced, the delivery line, and POST .../delivery-mode/ (by code in any case; empty or null:
the default; refused at the field, with nothing written). Amounts worked by hand."""

from decimal import Decimal

import pytest

from core.models import AuditEntry
from orders.models import SalesOrder
from tests.factories import continuity_item
from tests.orders.delivery_tables import (
    delivery_and_tax_tables,
    paris_customer,
    seattle_customer,
)

from .conftest import assert_error

pytestmark = pytest.mark.django_db

ORDER_STATE = ("delivery_mode", "total", "amount_due", "tax_amount", "completed_at")


@pytest.fixture
def tables(demo):
    return delivery_and_tax_tables()


@pytest.fixture
def seattle(tables, order_api):
    """2 x 13.99 to Seattle, WA 98101, completed; its number."""
    number = order_api.create(seattle_customer().account_number)
    assert order_api.add_line(number, tables.item.item_number, quantity=2).status_code == 201
    assert order_api.complete(number).status_code == 200
    return number


def set_mode(client, number, body):
    return client.post(f"/api/v1/sales-orders/{number}/delivery-mode/", body, format="json")


def state(number) -> dict:
    return SalesOrder.objects.filter(number=number).values(*ORDER_STATE).get()


def test_an_order_carries_its_totals_its_delivery_line_and_each_line_s_tax(agent_api, seattle):
    # 27.98 x 10.25 % = 2.87; delivery 5.95 x 10.25 % = 0.61; 27.98 + 5.95 + 3.48 = 37.41.
    order = agent_api.get(f"/api/v1/sales-orders/{seattle}/").json()

    assert {
        key: order[key]
        for key in (
            "prices_include_tax",
            "subtotal",
            "delivery",
            "tax",
            "total",
            "amount_due",
            "tax_jurisdiction",
        )
    } == {
        "prices_include_tax": False,
        "subtotal": "27.98",
        "delivery": {
            "mode": None,
            "mode_name": "Standard",
            "amount": "5.95",
            "tax_rate": "10.2500",
            "tax": "0.61",
        },
        "tax": "3.48",
        "total": "37.41",
        "amount_due": "37.41",
        "tax_jurisdiction": "Seattle, WA",
    }
    (line,) = order["lines"]
    assert {key: line[key] for key in ("amount", "tax_rate", "tax", "total")} == {
        "amount": "27.98",
        "tax_rate": "10.2500",
        "tax": "2.87",
        "total": "30.85",
    }


def test_the_delivery_mode_is_set_by_its_code_in_any_case(agent_api, seattle, tables):
    # Express 14.95, tax 1.53: total 27.98 + 14.95 + 2.87 + 1.53 = 47.33.
    response = set_mode(agent_api, seattle, {"delivery_mode": "wexp"})

    assert response.status_code == 200, response.content
    order = response.json()
    assert order["delivery"] == {
        "mode": "WEXP",
        "mode_name": "Express",
        "amount": "14.95",
        "tax_rate": "10.2500",
        "tax": "1.53",
    }
    assert (order["tax"], order["total"], order["amount_due"]) == ("4.40", "47.33", "47.33")
    # Priced again: back through complete, as after a change of lines.
    assert order["completed_at"] is None
    assert state(seattle)["delivery_mode"] == tables.express.pk

    french = agent_api.get(f"/api/v1/sales-orders/{seattle}/", HTTP_ACCEPT_LANGUAGE="fr")
    assert french.json()["delivery"]["mode_name"] == "Express FR"

    for empty in ("", None):
        back = set_mode(agent_api, seattle, {"delivery_mode": empty}).json()
        assert (back["delivery"]["mode"], back["delivery"]["amount"], back["total"]) == (
            None,
            "5.95",
            "37.41",
        )


@pytest.mark.parametrize(
    "body, message",
    [
        ({"delivery_mode": "NOPE"}, "Delivery mode NOPE does not exist."),
        ({"delivery_mode": "old"}, "Delivery mode old does not exist."),
        ({"delivery_mode": "W" * 21}, "Ensure this field has no more than 20 characters."),
        ({"delivery_mode": 5}, "Not a valid string."),
        ({}, "This field is required."),
    ],
)
def test_a_refused_delivery_mode_names_the_field_and_changes_nothing(
    agent_api, seattle, body, message
):
    before = state(seattle)
    audits = AuditEntry.objects.count()

    error = assert_error(set_mode(agent_api, seattle, body), 400)

    assert error["fields"] == {"delivery_mode": [message]}
    assert state(seattle) == before
    assert before["completed_at"] is not None
    assert AuditEntry.objects.count() == audits


def test_a_submitted_order_takes_no_delivery_mode(agent_api, seattle):
    agent_api.post(f"/api/v1/sales-orders/{seattle}/payments/", {"payment_method": "OnAccount"})
    assert agent_api.post(f"/api/v1/sales-orders/{seattle}/submit/").status_code == 200
    before = state(seattle)

    assert_error(set_mode(agent_api, seattle, {"delivery_mode": "WEXP"}), 409, "conflict")

    assert state(seattle) == before
    assert_error(set_mode(agent_api, "SO-999999", {"delivery_mode": "WEXP"}), 404)


def test_prices_with_tax_carry_the_vat_inside_the_total(agent_api, order_api, tables):
    # 17.99 with 20 % VAT: VAT 3.00 (net 14.99); Colissimo 4.90: VAT 0.82 (net 4.08);
    # total 17.99 + 4.90 = 22.89, of which 3.82 VAT.
    number = order_api.create(paris_customer().account_number)
    set_mode(agent_api, number, {"delivery_mode": "COLIS"})
    order_api.add_line(number, tables.french_item.item_number)

    order = order_api.complete(number).json()

    assert (order["currency"], order["prices_include_tax"]) == ("EUR", True)
    assert (order["subtotal"], order["tax"], order["total"], order["amount_due"]) == (
        "17.99",
        "3.82",
        "22.89",
        "22.89",
    )
    assert order["delivery"] == {
        "mode": "COLIS",
        "mode_name": "Colissimo",
        "amount": "4.90",
        "tax_rate": "20.0000",
        "tax": "0.82",
    }
    (line,) = order["lines"]
    assert (line["amount"], line["tax_rate"], line["tax"], line["total"]) == (
        "17.99",
        "20.0000",
        "3.00",
        "17.99",
    )
    assert order["tax_jurisdiction"] == "France"
    assert SalesOrder.objects.get(number=number).total == Decimal("22.89")


def test_a_program_line_carries_its_first_shipment_s_tax_and_delivery(order_api, tables):
    # First shipment 13.99: tax 1.43 (10.25 %); delivery Standard 5.95, tax 0.61;
    # total 13.99 + 5.95 + 1.43 + 0.61 = 21.98.
    item = continuity_item(price=Decimal("13.99"))
    number = order_api.create(seattle_customer().account_number)
    order_api.add_line(number, item.item_number)

    order = order_api.complete(number).json()

    (line,) = order["lines"]
    assert (line["amount"], line["tax_rate"], line["tax"], line["total"]) == (
        "13.99",
        "10.2500",
        "1.43",
        "15.42",
    )
    assert order["delivery"] == {
        "mode": None,
        "mode_name": "Standard",
        "amount": "5.95",
        "tax_rate": "10.2500",
        "tax": "0.61",
    }
    assert (order["subtotal"], order["tax"], order["total"]) == ("13.99", "2.04", "21.98")
