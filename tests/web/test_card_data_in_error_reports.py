"""An unexpected error while a card is being added (here: the database refuses the new
card) is reported to the operators with the request and every frame's variables: the
report must hold neither the card number nor its security code, whichever way the card
came in (the three pages that take a card, and the API)."""

import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import got_request_exception
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient

import payments.services.cards
from continuity.models import Subscription
from core.actors import Actor
from customers.models import Customer
from orders.services import sales_order_create
from tests.batch.conftest import sell  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

# An American Express card: its 4-digit code is less likely than 3 digits to turn up by
# chance in a report (an id, a time, an address).
NUMBER = "378282246310005"
CODE = "7319"


class Planted(Exception):
    pass


@pytest.fixture
def sell_order(request):
    """An open order (its summary takes a card) and a sold subscription (its change-card
    pages take one)."""
    subscription = Subscription.objects.get(parent_order=request.getfixturevalue("sell")())
    karen = Customer.objects.get(account_number="004021")
    order = sales_order_create(customer=karen, actor=Actor.job("test"))
    return order.number, subscription.pk


@pytest.fixture
def reports(monkeypatch):
    """Each report the error handler would mail (AdminEmailHandler builds the same)."""

    def refuse(**kwargs):
        raise Planted("the database refused the card")

    monkeypatch.setattr(payments.services.cards.Card.objects, "create", refuse)
    captured = []

    def report(sender, request, **kwargs):
        reporter = ExceptionReporter(request, *sys.exc_info(), is_email=True)
        captured.append(reporter.get_traceback_text())

    got_request_exception.connect(report)
    yield captured
    got_request_exception.disconnect(report)


def card_fields(**extra):
    return {
        "card_number": NUMBER,
        "name_on_card": "Karen Berg",
        "expiry_month": "12",
        "expiry_year": "2031",
        "security_code": CODE,
        **extra,
    }


def _post(client, url, data):
    client.raise_request_exception = False
    return client.post(url, data)


def test_the_pages_and_the_api_report_an_error_without_the_card(demo, sell_order, reports):
    users = get_user_model().objects
    agent, supervisor = Client(), Client()
    agent.force_login(users.get(username="agent"))
    supervisor.force_login(users.get(username="supervisor"))
    order_number, subscription_id = sell_order
    posts = [
        (agent, reverse("orders:card_add", args=[order_number]), card_fields(method="Visa")),
        (agent, reverse("continuity:card_add", args=[subscription_id]), card_fields()),
        (supervisor, reverse("exceptions:change_card", args=[subscription_id]), card_fields()),
    ]
    for client, url, data in posts:
        assert _post(client, url, data).status_code == 500
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(users.get(username="agent"))
    answer = api.post(
        "/api/v1/customers/004021/cards/",
        {
            "card_number": NUMBER,
            "name_on_card": "Karen Berg",
            "expiry_month": 12,
            "expiry_year": 2031,
            "security_code": CODE,
        },
        format="json",
    )
    assert answer.status_code == 500

    assert len(reports) == 4
    for text in reports:
        assert "Planted" in text  # the report is the real one
        assert NUMBER not in text
        assert CODE not in text
