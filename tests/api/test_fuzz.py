"""Schemathesis against the live schema: every operation of /api/schema/, called in-process
through the WSGI application with a demo supervisor's token (who may do everything), with
every check Schemathesis has, in its three phases:

- coverage: each declared constraint's boundary values, just inside and just outside,
  missing required parameters, other methods and content types;
- fuzzing: a bounded number of generated requests per operation, valid ones and ones the
  schema forbids;
- stateful: scenarios that follow the schema's links from one answer to the next call.

None may get a 5xx, and every answer must conform to the schema (status code, content
type, headers, body); a forbidden request must be refused, a valid one carried out (or
refused with a 404 or 409, or a 400 where the operation declares rules no schema can
state), and the same request without the token must get a 401.

Valid requests draw their path parameters and body fields half of the time from objects
that exist (Karen Berg, the demo items and programs, Visa, her cards, an open order with a
line, an order ready to submit, a submitted parent order, its subscription, a batch run,
a child order with the warehouse and a carrier),
so that the fuzzer reaches the services and not only their 404s and 400s. Charges go to
the in-process gateway simulator. POST /batch-runs/ queues nothing: the test's transaction
never commits, so the dispatch registered with on_commit never runs and the broker is
never reached. Reproducible: Hypothesis is derandomized and keeps no example database."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import ScopedRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.hooks import HookDispatcher, HookScope

from config.wsgi import application
from core.actors import Actor
from core.dates import business_date
from core.rest import REFUSED_BY_A_RULE
from core.services import api_token_issue
from devdata.demo import DEMO_PASSWORD
from orders.models import Carrier, SalesOrder
from payments.models import Card
from tests.orders.conftest import child_order, released  # noqa: F401  (fixtures)

from .conftest import GOOD_CARD

pytestmark = pytest.mark.django_db

DECLINED_CARD = "4000 0000 0000 0002"

# Every check Schemathesis has, on every answer.
load_all_checks()
ALL_CHECKS = CHECKS.get_all()


def refused_by_a_rule(schema: dict) -> set[str]:
    """The operations whose 400 declares that a request the schema allows may still be
    refused by a rule JSON Schema cannot state (core.rest.error_responses, refused_when):
    an account number that does not exist, a card number failing Luhn. Everywhere else a
    valid request must be carried out, or meet a 404 or a 409 (a state, not its shape)."""
    return {
        operation["operationId"]
        for methods in schema["paths"].values()
        for operation in methods.values()
        if REFUSED_BY_A_RULE in operation["responses"].get("400", {}).get("description", "")
    }


def schemathesis_config(token: str, refused: set[str]) -> SchemathesisConfig:
    """Every call as the demo supervisor (who may do everything); a valid request may get
    a 400 only from the operations in `refused`."""
    return SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Token {token}"},
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                *POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
                                "400",
                            ]
                        }
                    },
                }
                for operation_id in sorted(refused)
            ],
        }
    )


# Generated requests per operation: valid ones, and ones the schema says are invalid.
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}


def generated_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_only_rules_no_schema_can_state_refuse_a_valid_request():
    assert refused_by_a_rule(generated_schema()) == {
        "auth_token_obtain",
        "customer_card_add",
        "sales_order_create",
        "sales_order_line_add",
        "sales_order_delivery_mode_set",
        "sales_order_complete",
        "sales_order_payment_set",
        "sales_order_submit",
        "subscription_action",
        "batch_run_start",
        "sales_order_list",
        "sales_order_shipment_create",
        "sales_order_lookup",
    }


@pytest.fixture
def token_throttle_raised(monkeypatch):
    """The token endpoint allows 10 calls a minute: after those the fuzzer would meet
    nothing but 429s (tested in test_throttling.py) instead of the endpoint's own checks."""
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "auth_token", "100000/min")


@pytest.fixture
def fuzz_token(users):
    return api_token_issue(user=users["supervisor"], actor=Actor.job("test")).key


@pytest.fixture
def existing(order_api, supervisor_api, released):  # noqa: F811
    """Values of objects that exist, by path parameter or body field name."""
    submitted = order_api.ready()
    assert order_api.submit(submitted).status_code == 200
    ready = order_api.ready(item_number="0013")
    open_order = order_api.create()
    assert order_api.add_line(open_order, "88002").status_code == 201
    run = supervisor_api.post("/api/v1/batch-runs/", {"job": "create_child_orders"})
    assert run.status_code == 202
    subscription = SalesOrder.objects.get(number=submitted).subscriptions.get()
    # A child order with the warehouse, and a carrier: a shipment confirmation can be
    # recorded (201), and sent again (200).
    with_warehouse = released().number
    Carrier.objects.create(
        code="UPS", name="UPS", tracking_url="https://ups.example/{tracking_number}"
    )
    orders = [open_order, ready, submitted, with_warehouse]
    items = ["88000", "88001", "88002", "0013"]
    return {
        # path parameters
        "account_number": ["004021"],
        "item_number": items,
        "code": ["WELLNESS6", "TEA3PREPAID", "PROTEINMONTHLY"],
        "number": orders,
        "subscription_id": [subscription.pk],
        "run_id": [run.json()["id"]],
        # query parameters (customer below too)
        "item": items,
        # body fields (item_number above too)
        "customer": ["004021"],
        "sales_order": orders,
        "payment_method": ["Visa", "OnAccount"],
        # The demo data has no delivery mode: empty is the default's, which prices none.
        "delivery_mode": [""],
        "card": list(
            Card.objects.filter(customer__account_number="004021").values_list("pk", flat=True)
        ),
        "card_number": [GOOD_CARD, DECLINED_CARD],
        "expiry_year": [business_date().year + 3],
        "security_code": ["737"],
        "carrier": ["UPS"],
        "shipped_date": [business_date().isoformat()],
        "lines": [
            [{"line_number": 1, "quantity": 1}],
            [{"line_number": 2, "quantity": 1, "item_number": "0015"}],
        ],
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
        "/api/schema/?format=json",
        application,
        config=schemathesis_config(fuzz_token, refused_by_a_rule(generated_schema())),
        headers={"Authorization": f"Token {fuzz_token}"},
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

    @hooks.hook
    def flatmap_query(context, query):
        return half_existing(query, existing)

    return hooks


HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def call_and_check(case, token: str, signed_in: set[str]) -> None:
    """Send the case as the supervisor, check the answer, and note the operations that
    were answered as a signed-in caller (not 401): each must be, or the run only proved
    that anonymous calls are refused. (The coverage phase's requests do not carry the
    configuration's headers: the token goes with each call.)"""
    response = case.call_and_validate(
        headers={"Authorization": f"Token {token}"}, checks=ALL_CHECKS
    )
    if response.status_code != 401:
        signed_in.add(case.operation.label)


def fuzz(operation, mode: GenerationMode, hooks, token: str, signed_in: set) -> str | None:
    """Run the operation's generated requests of one mode; the failure report, if any."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION[mode],
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
        **HYPOTHESIS,
    )
    @given(case=operation.as_strategy(generation_mode=mode, hooks=hooks))
    def run(case):
        call_and_check(case, token, signed_in)

    try:
        run()
    except Unsatisfiable:
        # Negative mode for an operation whose only input is a free-form string in the
        # path: no request breaks its schema, so there is nothing to send.
        assert mode is GenerationMode.NEGATIVE, operation.label
    # Schemathesis reports its checks' failures as a FailureGroup, an exception group.
    except (Exception, FailureGroup) as failure:
        return f"{mode.value} {operation.label}:\n{failure}"
    return None


def cover(operation, token: str, signed_in: set) -> str | None:
    """Schemathesis's coverage phase for the operation: the boundary values of every
    declared constraint, each just inside and just outside, missing required parameters,
    other methods and content types. The failure report, if any."""

    def run(case):
        call_and_check(case, token, signed_in)

    test = create_test(
        operation=operation,
        test_func=run,
        config=HypothesisTestConfig(
            project=operation.schema.config,
            modes=[HypothesisTestMode.COVERAGE],
            settings=settings(max_examples=1, phases=[Phase.explicit], **HYPOTHESIS),
        ),
    )
    try:
        test()
    # Schemathesis reports its checks' failures as a FailureGroup, an exception group.
    except (Exception, FailureGroup) as failure:
        return f"coverage {operation.label}:\n{failure}"
    return None


def test_no_server_error_and_every_answer_conforms_to_the_schema(api_schema, fuzz_token, existing):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 34
    hooks = {
        GenerationMode.POSITIVE: existing_objects_hooks(existing),
        GenerationMode.NEGATIVE: None,
    }

    covered, fuzzed = set(), set()

    failures = [
        report
        for operation in operations
        for report in [
            cover(operation, fuzz_token, covered),
            *(fuzz(operation, mode, hooks[mode], fuzz_token, fuzzed) for mode in GenerationMode),
        ]
        if report is not None
    ]

    assert not failures, "\n\n".join(failures)
    assert covered == fuzzed == {operation.label for operation in operations}


def declared_links(schema: dict) -> list[tuple[str, str]]:
    """(source operationId, target operationId) of every link in the schema."""
    return [
        (operation["operationId"], link["operationId"])
        for methods in schema["paths"].values()
        for operation in methods.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]


# Steps of the stateful phase: scenarios, and calls in each.
STATEFUL_SCENARIOS = 60
STATEFUL_STEPS = 10


def test_stateful_scenarios_follow_the_links_and_every_answer_conforms(api_schema, existing):
    """Schemathesis's stateful phase: scenarios that follow the schema's links from one
    answer to the next call (open an order, add a line, complete, pay, submit, look at its
    subscription, act on it; start a run, follow it), every call checked. Valid requests
    only (a link hands a value on into a valid request; a broken one would stop there),
    naming existing objects half of the time as above."""
    assert api_schema.statistic.transitions.total >= len(declared_links(api_schema.raw_schema))
    api_schema.hooks = existing_objects_hooks(existing)
    api_schema.config.phases.stateful.generation.modes = [GenerationMode.POSITIVE]

    class Scenarios(api_schema.as_state_machine()):
        # Each scenario starts from the same rows: what one scenario wrote (an order, a
        # sign-in failure django-axes counted) would otherwise change the answers of the
        # next, and Hypothesis, which may replay a scenario's opening steps, finds the same
        # draws answered differently and stops (FlakyStrategyDefinition).
        def setup(self):
            self.rows_before = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.rows_before)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=ALL_CHECKS, transport_kwargs=kwargs)

    Scenarios.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            phases=[Phase.generate],
            **HYPOTHESIS,
        )
    )
