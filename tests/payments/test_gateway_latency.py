"""PAYMENT_GATEWAY_LATENCY_MS: the simulator waits that long on every call, so that
throughput can be measured with realistic network waits."""

import subprocess
import sys
import time
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from core.dates import business_date
from payments.gateways import get_gateway
from payments.gateways.base import CardDetails
from tests.payments.support import subprocess_env

pytestmark = pytest.mark.django_db


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_every_gateway_call_waits_the_configured_latency(settings):
    gateway = get_gateway()
    card = CardDetails(
        number="4242424242424242",
        expiry_month=1,
        expiry_year=business_date().year + 2,
        security_code="321",
        name_on_card="Karen Berg",
    )
    settings.PAYMENT_GATEWAY_LATENCY_MS = 150
    waited = {}

    tokenized, waited["tokenize"] = timed(lambda: gateway.tokenize(card))
    sale, waited["sale"] = timed(
        lambda: gateway.sale(
            token=tokenized.token,
            amount=Decimal("20.00"),
            currency="USD",
            idempotency_key="latency-sale",
        )
    )
    _refund, waited["refund"] = timed(
        lambda: gateway.refund(
            reference=sale.reference,
            amount=Decimal("5.00"),
            currency="USD",
            idempotency_key="latency-refund",
        )
    )
    other_sale = gateway.sale(
        token=tokenized.token, amount=Decimal("9.00"), currency="USD", idempotency_key="latency-2"
    )
    _void, waited["void"] = timed(
        lambda: gateway.void(reference=other_sale.reference, idempotency_key="latency-void")
    )
    _found, waited["lookup"] = timed(lambda: gateway.lookup("latency-sale"))

    assert {name: seconds >= 0.15 for name, seconds in waited.items()} == dict.fromkeys(
        ["tokenize", "sale", "refund", "void", "lookup"], True
    )
    settings.PAYMENT_GATEWAY_LATENCY_MS = 0
    _found, without_latency = timed(lambda: gateway.lookup("latency-sale"))
    assert without_latency < 0.1


PROBE = (
    "import time, django; django.setup(); "
    "from django.conf import settings; from payments.gateways import get_gateway; "
    "started = time.monotonic(); get_gateway().lookup('no-such-key'); "
    "print(settings.PAYMENT_GATEWAY_LATENCY_MS, round(time.monotonic() - started, 3))"
)


def probe(latency: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=django_settings.BASE_DIR,
        env=subprocess_env(PAYMENT_GATEWAY_LATENCY_MS=latency),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_environment_variable_sets_the_latency():
    finished = probe("300")

    assert finished.returncode == 0, finished.stderr
    latency, waited = finished.stdout.split()
    assert latency == "300"
    assert float(waited) >= 0.3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "PAYMENT_GATEWAY_LATENCY_MS must be at least 0, not -5."),
        ("fast", "PAYMENT_GATEWAY_LATENCY_MS must be a whole number, not 'fast'."),
    ],
)
def test_a_bad_latency_stops_start_up_with_a_clear_message(value, message):
    finished = probe(value)

    assert finished.returncode != 0
    assert finished.stderr.strip().splitlines()[-1].endswith(message)
