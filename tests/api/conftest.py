"""Fixtures of the REST API tests: clients signed in by token as each demo role, a user
without a role, an order ready to submit, and the one error shape."""

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient

from core.actors import Actor
from core.dates import business_date
from core.services import api_token_issue
from payments.gateways.simulator.models import SimulatedTransaction
from tests.factories import UserFactory

GOOD_CARD = "4242 4242 4242 4242"


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttles count in the cache (a per-process memory cache in the tests): every test
    starts with none of its neighbours' counts."""
    cache.clear()
    yield
    cache.clear()


def token_client(user) -> APIClient:
    client = APIClient()
    token = api_token_issue(user=user, actor=Actor.job("test"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def users(demo):
    from django.contrib.auth import get_user_model

    by_name = get_user_model().objects.in_bulk(
        ["agent", "supervisor", "admin"], field_name="username"
    )
    return by_name


@pytest.fixture
def agent_api(users):
    return token_client(users["agent"])


@pytest.fixture
def supervisor_api(users):
    return token_client(users["supervisor"])


@pytest.fixture
def no_role_user(demo):
    """Signed in, in no group: may not take orders nor run batches."""
    user = UserFactory(username="no-role")
    assert not Group.objects.filter(user=user).exists()
    return user


@pytest.fixture
def no_role_api(no_role_user):
    return token_client(no_role_user)


@pytest.fixture
def anonymous_api():
    return APIClient()


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"status", "code", "message", "fields"} <= set(error)
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    return error


def gateway_ledger_count() -> int:
    """Every operation the simulated gateway recorded, whatever it was."""
    return SimulatedTransaction.objects.using("gateway").count()


@pytest.fixture
def order_api(agent_api):
    """Helpers that walk an order through the API as the agent."""

    class Orders:
        client = agent_api

        def create(self, customer="004021"):
            response = self.client.post("/api/v1/sales-orders/", {"customer": customer})
            assert response.status_code == 201, response.content
            return response.json()["number"]

        def add_line(self, number, item_number="88000", **extra):
            return self.client.post(
                f"/api/v1/sales-orders/{number}/lines/", {"item_number": item_number, **extra}
            )

        def complete(self, number):
            return self.client.post(f"/api/v1/sales-orders/{number}/complete/")

        def add_card(self, card_number=GOOD_CARD, customer="004021"):
            response = self.client.post(
                f"/api/v1/customers/{customer}/cards/",
                {
                    "card_number": card_number,
                    "expiry_month": 12,
                    "expiry_year": business_date().year + 3,
                    "security_code": "737",
                    "name_on_card": "Karen Berg",
                },
            )
            assert response.status_code == 201, response.content
            return response.json()["id"]

        def pay(self, number, card_id, method="Visa"):
            return self.client.post(
                f"/api/v1/sales-orders/{number}/payments/",
                {"payment_method": method, "card": card_id},
            )

        def submit(self, number):
            return self.client.post(f"/api/v1/sales-orders/{number}/submit/")

        def ready(self, card_number=GOOD_CARD, item_number="88000"):
            """An open order for Karen Berg with one line, completed, paid by a new card:
            the state just before Submit."""
            number = self.create()
            assert self.add_line(number, item_number).status_code == 201
            assert self.complete(number).status_code == 200
            card_id = self.add_card(card_number)
            assert self.pay(number, card_id).status_code == 200
            return number

    return Orders()
