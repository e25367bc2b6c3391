"""Authentication and roles: nothing is open to anonymous callers (401 in the one shape,
with WWW-Authenticate: Token), a token or the browser's session signs in, and roles are
those of the roles: an agent takes orders but may not run batches, a user without a role
may do nothing. Every refusal writes nothing."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from batch.models import BatchRun
from core.models import AuditEntry
from orders.models import SalesOrder
from payments.models import Card

from .conftest import assert_error, token_client
from .test_schema import OPERATIONS

pytestmark = pytest.mark.django_db

# A value for every path parameter: real objects, so that a 401 or 403 is not a 404.
PATH_VALUES = {
    "account_number": "004021",
    "item_number": "88000",
    "code": "WELLNESS6",
    "number": "SO-999999",
    "subscription_id": "1",
    "run_id": "1",
}
AGENT_OPERATIONS = {op for op in OPERATIONS if "/batch-runs/" not in op[1]} - {
    ("post", "/api/v1/auth/token/")
}
SUPERVISOR_OPERATIONS = {op for op in OPERATIONS if "/batch-runs/" in op[1]}


def url(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


def call(client, method, path):
    return getattr(client, method)(url(path), {})


def row_counts():
    return (
        SalesOrder.objects.count(),
        Card.objects.count(),
        BatchRun.objects.count(),
        AuditEntry.objects.count(),
    )


@pytest.mark.parametrize(("method", "path"), sorted(AGENT_OPERATIONS | SUPERVISOR_OPERATIONS))
def test_every_operation_answers_anonymous_callers_401(demo, anonymous_api, method, path):
    before = row_counts()

    response = call(anonymous_api, method, path)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert row_counts() == before


def test_an_unknown_token_is_refused(demo):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.get("/api/v1/customers/004021/")

    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"


def test_the_token_of_a_deactivated_user_stops_working(agent):
    client = token_client(agent)
    assert client.get("/api/v1/customers/004021/").status_code == 200
    get_user_model().objects.filter(pk=agent.pk).update(is_active=False)

    response = client.get("/api/v1/customers/004021/")

    assert_error(response, 401, "authentication_failed")


def test_a_token_signs_the_agent_in(agent_api):
    response = agent_api.get("/api/v1/customers/004021/")

    assert response.status_code == 200
    assert response.json()["full_name"] == "Karen Berg"


def test_the_browser_session_signs_in_and_its_writes_need_the_csrf_token(agent):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.get("/api/v1/customers/004021/").status_code == 200
    before = row_counts()

    refused = client.post("/api/v1/sales-orders/", {"customer": "004021"})

    error = assert_error(refused, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert row_counts() == before
    client.get("/api/docs/?script=")  # the docs' script carries the token and sets the cookie
    token = client.cookies["csrftoken"].value
    created = client.post("/api/v1/sales-orders/", {"customer": "004021"}, HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201


@pytest.mark.parametrize(("method", "path"), sorted(SUPERVISOR_OPERATIONS))
def test_an_agent_may_not_start_or_watch_batch_runs(agent_api, method, path):
    before = row_counts()

    response = call(agent_api, method, path)

    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Your role does not allow running batch jobs."
    assert row_counts() == before


def test_an_agent_starting_a_batch_run_gets_403_and_nothing_is_queued(agent_api):
    response = agent_api.post(
        "/api/v1/batch-runs/", {"job": "process_payments", "item_number": "88000"}
    )

    assert_error(response, 403, "permission_denied")
    assert not BatchRun.objects.exists()


@pytest.mark.parametrize(("method", "path"), sorted(AGENT_OPERATIONS | SUPERVISOR_OPERATIONS))
def test_a_user_without_a_role_may_do_nothing(no_role_api, method, path):
    before = row_counts()

    response = call(no_role_api, method, path)

    assert_error(response, 403, "permission_denied")
    assert row_counts() == before


def test_a_supervisor_takes_orders_too(supervisor_api):
    response = supervisor_api.post("/api/v1/sales-orders/", {"customer": "004021"})

    assert response.status_code == 201


def test_the_schema_needs_no_role_but_a_sign_in(no_role_api):
    assert no_role_api.get("/api/schema/").status_code == 200
