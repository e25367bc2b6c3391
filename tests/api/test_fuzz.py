"""Schemathesis against the live schema: every operation of /api/schema/, called in-process
through the WSGI application with a demo supervisor's token (who may do everything), a
bounded number of generated requests each, valid ones and ones the schema forbids. None
may get a 5xx, and every answer must conform to the schema (status code, content type,
headers, body); a forbidden request must be refused, and the same request without the
token must get a 401.

Valid requests draw their path parameters and body fields half of the time from objects
that exist (Karen Berg, the demo items and programs, Visa, her cards, an open order with a
line, an order ready to submit, a submitted parent order, its subscription, a batch run),
so that the fuzzer reaches the services and not only their 404s and 400s. Charges go to
the in-process gateway simulator. POST /batch-runs/ queues nothing: the test's transaction
never commits, so the dispatch registered with on_commit never runs and the broker is
never reached. Reproducible: Hypothesis is derandomized and keeps no example database."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import ScopedRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.hooks import HookDispatcher, HookScope
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from core.actors import Actor
from core.dates import business_date
from core.services import api_token_issue
from devdata.demo import DEMO_PASSWORD
from orders.models import SalesOrder
from payments.models import Card

from .conftest import GOOD_CARD

pytestmark = pytest.mark.django_db

DECLINED_CARD = "4000 0000 0000 0002"

# What every answer is checked for. Not positive_data_acceptance: a request the schema
# allows may still be refused by a business rule (a card number that fails Luhn, an item
# that does not exist), with a 400 the schema declares.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # A request the schema forbids is refused (4xx), not carried out.
    negative_data_rejection,
    # The same request without the token is refused with 401.
    ignored_auth,
]

# Generated requests per operation: valid ones, and ones the schema says are invalid.
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}


@pytest.fixture
def token_throttle_raised(monkeypatch):
    """The token endpoint allows 10 calls a minute: after those the fuzzer would meet
    nothing but 429s (tested in test_throttling.py) instead of the endpoint's own checks."""
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "auth_token", "100000/min")


@pytest.fixture
def fuzz_token(users):
    return api_token_issue(user=users["supervisor"], actor=Actor.job("test")).key


@pytest.fixture
def existing(order_api, supervisor_api):
    """Values of objects that exist, by path parameter or body field name."""
    submitted = order_api.ready()
    assert order_api.submit(submitted).status_code == 200
    ready = order_api.ready(item_number="0013")
    open_order = order_api.create()
    assert order_api.add_line(open_order, "88002").status_code == 201
    run = supervisor_api.post("/api/v1/batch-runs/", {"job": "create_child_orders"})
    assert run.status_code == 202
    subscription = SalesOrder.objects.get(number=submitted).subscriptions.get()
    orders = [open_order, ready, submitted]
    items = ["88000", "88001", "88002", "0013"]
    return {
        # path parameters
        "account_number": ["004021"],
        "item_number": items,
        "code": ["WELLNESS6", "TEA3PREPAID", "PROTEINMONTHLY"],
        "number": orders,
        "subscription_id": [subscription.pk],
        "run_id": [run.json()["id"]],
        # body fields (item_number above too)
        "customer": ["004021"],
        "sales_order": orders,
        "payment_method": ["Visa", "OnAccount"],
        "card": list(
            Card.objects.filter(customer__account_number="004021").values_list("pk", flat=True)
        ),
        "card_number": [GOOD_CARD, DECLINED_CARD],
        "expiry_year": [business_date().year + 3],
        "security_code": ["737"],
        "username": ["supervisor"],
        "password": [DEMO_PASSWORD],
    }


@pytest.fixture
def wsgi_in_test_transaction(existing):
    """Requests go straight to the WSGI application, whose request signals close database
    connections that are not in autocommit: the test's own transaction. Django's test
    client unhooks the same handler for its requests (and hooks it again after each, so
    this comes after the fixtures that use it)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(fuzz_token, wsgi_in_test_transaction, token_throttle_raised):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", application, headers={"Authorization": f"Token {fuzz_token}"}
    )


def half_existing(values: dict | None, existing: dict):
    """The generated values, or the same with those naming an object replaced by one that
    exists: either, as Hypothesis chooses."""
    if not isinstance(values, dict) or not any(name in existing for name in values):
        return st.just(values)
    replaced = st.fixed_dictionaries(
        {
            name: st.sampled_from(existing[name]) if name in existing else st.just(value)
            for name, value in values.items()
        }
    )
    return st.one_of(st.just(values), replaced)


def existing_objects_hooks(existing: dict) -> HookDispatcher:
    """Hooks for valid requests only: in a forbidden one, replacing the value the fuzzer
    broke would make it valid."""
    hooks = HookDispatcher(scope=HookScope.TEST)

    @hooks.hook
    def flatmap_path_parameters(context, path_parameters):
        return half_existing(path_parameters, existing)

    @hooks.hook
    def flatmap_body(context, body):
        return half_existing(body, existing)

    return hooks


def fuzz(operation, mode: GenerationMode, token: str, hooks) -> str | None:
    """Run the operation's generated requests of one mode; the failure report, if any."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION[mode],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    )
    @given(case=operation.as_strategy(generation_mode=mode, hooks=hooks))
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Negative mode for an operation whose only input is a free-form string in the
        # path: no request breaks its schema, so there is nothing to send.
        assert mode is GenerationMode.NEGATIVE, operation.label
    except Exception as failure:
        return f"{mode.value} {operation.label}:\n{failure}"
    return None


def test_no_server_error_and_every_answer_conforms_to_the_schema(api_schema, fuzz_token, existing):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 23
    hooks = {
        GenerationMode.POSITIVE: existing_objects_hooks(existing),
        GenerationMode.NEGATIVE: None,
    }

    failures = [
        report
        for operation in operations
        for mode in GenerationMode
        if (report := fuzz(operation, mode, fuzz_token, hooks[mode])) is not None
    ]

    assert not failures, "\n\n".join(failures)
