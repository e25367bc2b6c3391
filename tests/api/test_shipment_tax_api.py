"""The API's shipments carry their parts (subtotal, delivery with its mode and tax, tax,
total, per line rate, tax and total) and each sale says what it paid for; a refund keeps
its amount. Amounts worked by hand in tests/web/test_shipment_tax_pages.py: Seattle at
10.25 %, 17.99 + 9.99 -> tax 1.84 + 1.02, delivery 5.95 -> tax 0.61; 3.47 in all, 37.40."""

import pytest

from batch.models import BatchJob
from continuity.models import Occurrence, Subscription
from continuity.subscription_actions.cancel import subscription_cancel
from core.actors import Actor
from customers.models import Address, AddressKind
from tests.batch.conftest import days
from tests.continuity.tax_setup import french_customer_in_euros, tax_and_delivery_set_up
from tests.continuity.test_shipment_tax_emails import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxed(demo):
    return tax_and_delivery_set_up()


def subscription_json(api, subscription) -> dict:
    response = api.get(f"/api/v1/subscriptions/{subscription.pk}/")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_shipment_carries_its_subtotal_delivery_tax_and_total(taxed, agent_api, sell):
    subscription = Subscription.objects.get(parent_order=sell())

    shipment = subscription_json(agent_api, subscription)["occurrences"][1]

    assert {
        key: shipment[key]
        for key in (
            "amount",
            "subtotal",
            "delivery",
            "tax",
            "total",
            "prices_include_tax",
            "tax_jurisdiction",
        )
    } == {
        "amount": "37.40",
        "subtotal": "27.98",
        "delivery": {"mode": "STANDARD", "amount": "5.95", "tax_rate": "10.2500", "tax": "0.61"},
        "tax": "3.47",
        "total": "37.40",
        "prices_include_tax": False,
        "tax_jurisdiction": "Seattle, WA",
    }
    assert [
        (line["item_number"], line["amount"], line["tax_rate"], line["tax"], line["total"])
        for line in shipment["lines"]
    ] == [
        ("0013", "17.99", "10.2500", "1.84", "19.83"),
        ("0015", "9.99", "10.2500", "1.02", "11.01"),
    ]


def test_a_tax_inclusive_shipment_says_its_total_holds_the_tax(taxed, agent_api, sell):
    subscription = Subscription.objects.get(parent_order=sell(customer=french_customer_in_euros()))

    shipment = subscription_json(agent_api, subscription)["occurrences"][0]

    assert (shipment["subtotal"], shipment["tax"], shipment["total"]) == (
        "27.98",
        "5.65",
        "33.93",
    )
    assert shipment["prices_include_tax"] is True
    assert shipment["delivery"] == {
        "mode": "STANDARD",
        "amount": "5.95",
        "tax_rate": "20.0000",
        "tax": "0.99",
    }
    assert [line["total"] for line in shipment["lines"]] == ["17.99", "9.99"]


def test_each_sale_says_what_it_paid_for_and_a_refund_keeps_its_amount(taxed, agent_api, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    second = Occurrence.objects.get(subscription=subscription, sequence=2)
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))
    subscription_cancel(
        subscription_id=subscription.pk, actor=Actor.job("test"), reason_code="PRICE"
    )

    payments = subscription_json(agent_api, subscription)["payments"]

    parts = {
        "subtotal": "27.98",
        "delivery": "5.95",
        "tax": "3.47",
        "prices_include_tax": False,
        "tax_jurisdiction": "Seattle, WA",
    }
    summary = [
        (payment["operation"], payment["occurrence"], payment["amount"], payment["paid_parts"])
        for payment in payments
    ]
    # The sale at submit paid the order (its first shipment: the same parts); the batch
    # sale paid shipment 2; the cancellation refunded both whole.
    assert sorted(summary, key=lambda row: (row[0], row[1] or 0)) == [
        ("refund", subscription.occurrences.get(sequence=1).pk, "37.40", None),
        ("refund", second.pk, "37.40", None),
        ("sale", None, "37.40", parts),
        ("sale", second.pk, "37.40", parts),
    ]


def test_the_order_api_shows_what_each_of_its_sales_paid_for(taxed, agent_api, sell):
    order = sell()
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))

    response = agent_api.get(f"/api/v1/sales-orders/{order.number}/")

    assert response.status_code == 200, response.content
    payments = response.json()["payments"]
    sales = {payment["occurrence"]: payment["paid_parts"] for payment in payments}
    assert sales[None]["tax"] == sales[second.pk]["tax"] == "3.47"


def test_a_ship_to_change_preview_gives_the_new_charge_and_the_old(taxed, agent_api, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    portland = Address.objects.create(
        customer=subscription.customer,
        kind=AddressKind.SHIPPING,
        name="Karen Berg",
        street="1 Burnside Street",
        city="Portland",
        state="OR",
        postal_code="97205",
        country="US",
    )

    response = agent_api.post(
        f"/api/v1/subscriptions/{subscription.pk}/change_ship_to/",
        {"reason_code": "MOVED", "address": portland.pk, "preview": True},
        format="json",
    )

    assert response.status_code == 200, response.content
    # No jurisdiction taxes Oregon: 27.98 + 5.95 = 33.93 instead of 37.40.
    assert [
        (effect["what"], effect["shipment"], effect["amount"], effect["before"])
        for effect in response.json()["effects"]
    ] == [
        ("ship_to", 1, None, None),
        ("ship_to_repriced", 2, "33.93", "37.40"),
        ("ship_to_repriced", 3, "33.93", "37.40"),
    ]
    assert Subscription.objects.get(pk=subscription.pk).ship_to_id != portland.pk
