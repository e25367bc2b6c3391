"""The payment simulator's ledger, read and written with plain SQL: a key answers the same
way every time, a used key refuses another request, and the same key sent by two
processes at once is one transaction, answered twice."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connections

from payments.gateways.base import CardDetails, DeclineCode, GatewayError
from payments.gateways.simulator import gateway as simulator
from payments.gateways.simulator.models import SimulatedTransaction
from payments.gateways.simulator.test_cards import DECLINES_BEFORE_APPROVAL

APPROVE = "4111111111111111"
INSUFFICIENT_FUNDS = "4000000000009995"
APPROVE_AFTER_DECLINES = "4000000000000309"


@pytest.fixture
def gateway(settings):
    # The ledger's work in the caller's thread: each test thread has its own connection.
    settings.PAYMENT_SIMULATOR_LEDGER_THREADS = 0
    settings.PAYMENT_GATEWAY_LATENCY_MS = 0
    return simulator.SimulatorGateway()


def card_token(gateway, number, *, year=2030):
    details = CardDetails(
        number=number, expiry_month=12, expiry_year=year, security_code="123", name_on_card="A B"
    )
    return gateway.tokenize(details).token


def ledger(**filters):
    return list(
        SimulatedTransaction.objects.using(simulator.LEDGER)
        .filter(**filters)
        .values_list("operation", "token", "amount_minor", "currency", "approved", "decline_code")
    )


@pytest.mark.django_db
def test_a_sale_is_written_once_and_answered_again_under_its_key(gateway):
    token = card_token(gateway, APPROVE)
    key = str(uuid.uuid4())

    first = gateway.sale(token=token, amount=Decimal("12.34"), currency="USD", idempotency_key=key)
    again = gateway.sale(token=token, amount=Decimal("12.34"), currency="USD", idempotency_key=key)

    assert first.approved is True
    assert first.reference.startswith("sim_")
    assert again == first
    assert gateway.lookup(key) == first
    assert ledger(idempotency_key=key) == [("sale", token, 1234, "USD", True, "")]


@pytest.mark.django_db
def test_a_used_key_refuses_another_request_and_writes_nothing(gateway):
    token = card_token(gateway, APPROVE)
    other_token = card_token(gateway, APPROVE)
    key = str(uuid.uuid4())
    gateway.sale(token=token, amount=Decimal("10.00"), currency="USD", idempotency_key=key)

    for changed in (
        {"token": token, "amount": Decimal("10.01"), "currency": "USD"},
        {"token": token, "amount": Decimal("10.00"), "currency": "EUR"},
        {"token": other_token, "amount": Decimal("10.00"), "currency": "USD"},
    ):
        with pytest.raises(GatewayError, match="used for a different request"):
            gateway.sale(idempotency_key=key, **changed)

    assert ledger(idempotency_key=key) == [("sale", token, 1000, "USD", True, "")]
    assert SimulatedTransaction.objects.using(simulator.LEDGER).count() == 1


@pytest.mark.django_db
def test_an_unknown_token_is_refused_and_nothing_is_written(gateway):
    with pytest.raises(GatewayError, match="Unknown card token"):
        gateway.sale(
            token="tok_sim_unknown", amount=Decimal("1.00"), currency="USD", idempotency_key="k1"
        )
    assert SimulatedTransaction.objects.using(simulator.LEDGER).count() == 0


@pytest.mark.django_db
def test_declines_and_expired_cards_are_answered_from_the_card(gateway):
    declined = gateway.sale(
        token=card_token(gateway, INSUFFICIENT_FUNDS),
        amount=Decimal("5.00"),
        currency="USD",
        idempotency_key="declined",
    )
    expired = gateway.sale(
        token=card_token(gateway, APPROVE, year=2020),
        amount=Decimal("5.00"),
        currency="USD",
        idempotency_key="expired",
    )

    assert (declined.approved, declined.decline_code) == (False, DeclineCode.INSUFFICIENT_FUNDS)
    assert declined.message == "Insufficient funds"
    assert (expired.approved, expired.decline_code) == (False, DeclineCode.EXPIRED_CARD)
    assert ledger(idempotency_key="declined")[0][4:] == (False, "insufficient_funds")
    assert ledger(idempotency_key="expired")[0][4:] == (False, "expired_card")


@pytest.mark.django_db
def test_a_card_that_approves_after_declines_counts_its_declined_sales(gateway):
    token = card_token(gateway, APPROVE_AFTER_DECLINES)
    answers = [
        gateway.sale(token=token, amount=Decimal("3.00"), currency="USD", idempotency_key=f"k{n}")
        for n in range(DECLINES_BEFORE_APPROVAL + 1)
    ]
    assert [answer.approved for answer in answers] == [False] * DECLINES_BEFORE_APPROVAL + [True]


@pytest.mark.django_db(transaction=True)
def test_the_same_key_from_two_processes_at_once_is_one_transaction(gateway, monkeypatch):
    """Both read the ledger before either writes (held at a barrier between the read and
    the write): one INSERT wins, the other finds its row and answers with it."""
    token = card_token(gateway, APPROVE)
    key = str(uuid.uuid4())
    both_read = threading.Barrier(2, timeout=10)
    checked = simulator.SimulatorGateway._drop_first_request

    def read_then_wait(self, behaviour, idempotency_key):
        checked(self, behaviour, idempotency_key)
        both_read.wait()

    monkeypatch.setattr(simulator.SimulatorGateway, "_drop_first_request", read_then_wait)
    answers = [None, None]

    def sell(index):
        try:
            answers[index] = gateway.sale(
                token=token, amount=Decimal("7.00"), currency="USD", idempotency_key=key
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sell, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers[0] is not None
    assert answers[0] == answers[1]
    assert ledger(idempotency_key=key) == [("sale", token, 700, "USD", True, "")]
