"""The payment simulator's ledger, read and written with plain SQL: a key answers the same
way every time, a used key refuses another request, and the same key sent by two
processes at once is one transaction, answered twice."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from payments.gateways.base import CardDetails, DeclineCode, GatewayError
from payments.gateways.simulator import gateway as simulator
from payments.gateways.simulator.models import SimulatedTransaction
from payments.gateways.simulator.test_cards import DECLINES_BEFORE_APPROVAL
from tests.payments.support import in_threads

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


def at_once(monkeypatch, *calls):
    """Run the calls in threads of their own (each with its own connections), every one
    held at a barrier between its ledger read and its write, so that each reads before
    any writes. Returns what each returned, or the GatewayError it raised."""
    held = threading.Barrier(len(calls), timeout=10)
    checked = simulator.SimulatorGateway._drop_first_request

    def read_then_wait(self, behaviour, idempotency_key):
        checked(self, behaviour, idempotency_key)
        held.wait()

    monkeypatch.setattr(simulator.SimulatorGateway, "_drop_first_request", read_then_wait)
    return in_threads(calls, answers=(GatewayError,))


@pytest.mark.django_db(transaction=True)
def test_the_same_key_from_two_processes_at_once_is_one_transaction(gateway, monkeypatch):
    """One INSERT wins; the other finds its row and answers with it."""
    token = card_token(gateway, APPROVE)

    def sell():
        return gateway.sale(
            token=token, amount=Decimal("7.00"), currency="USD", idempotency_key="k"
        )

    first, second = at_once(monkeypatch, sell, sell)

    assert first.approved is True
    assert second == first
    assert ledger(idempotency_key="k") == [("sale", token, 700, "USD", True, "")]


@pytest.mark.django_db(transaction=True)
def test_the_same_key_with_another_amount_at_once_is_refused(gateway, monkeypatch):
    """The loser of the race is answered as a replay would be: refused, since its request
    differs from the one the key holds (found by the attack review: it was answered with
    the winner's approval)."""
    token = card_token(gateway, APPROVE)
    answers = at_once(
        monkeypatch,
        lambda: gateway.sale(
            token=token, amount=Decimal("1.00"), currency="USD", idempotency_key="k"
        ),
        lambda: gateway.sale(
            token=token, amount=Decimal("999.00"), currency="USD", idempotency_key="k"
        ),
    )

    refused = [answer for answer in answers if isinstance(answer, GatewayError)]
    approved = [answer for answer in answers if not isinstance(answer, GatewayError)]
    assert len(refused) == 1
    assert "used for a different request" in str(refused[0])
    assert len(approved) == 1 and approved[0].approved is True
    [(_operation, _token, amount_minor, *_rest)] = ledger(idempotency_key="k")
    assert amount_minor == (100 if answers[0] is approved[0] else 99900)


@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_never_give_back_more_than_the_sale(gateway, monkeypatch):
    token = card_token(gateway, APPROVE)
    sale = gateway.sale(token=token, amount=Decimal("10.00"), currency="USD", idempotency_key="s")

    def refund(key):
        return lambda: gateway.refund(
            reference=sale.reference, amount=Decimal("6.00"), currency="USD", idempotency_key=key
        )

    answers = at_once(monkeypatch, refund("r1"), refund("r2"))

    assert sum(getattr(answer, "approved", False) for answer in answers) == 1
    assert sum("exceeds" in str(answer) for answer in answers) == 1
    assert ledger(operation="refund") == [("refund", token, 600, "USD", True, "")]


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [Decimal("0.00"), Decimal("-5.00")])
def test_an_amount_of_zero_or_less_is_refused_and_nothing_is_written(gateway, amount):
    token = card_token(gateway, APPROVE)
    sale = gateway.sale(token=token, amount=Decimal("10.00"), currency="USD", idempotency_key="s")

    with pytest.raises(GatewayError, match="more than zero"):
        gateway.sale(token=token, amount=amount, currency="USD", idempotency_key="s2")
    with pytest.raises(GatewayError, match="more than zero"):
        gateway.refund(reference=sale.reference, amount=amount, currency="USD", idempotency_key="r")

    assert ledger() == [("sale", token, 1000, "USD", True, "")]


@pytest.mark.django_db
def test_a_refused_write_leaves_a_caller_s_ledger_transaction_usable(gateway):
    """Inside an open transaction on the ledger's connection, a value its column refuses
    (a currency of four letters) fails alone, in its savepoint, as the ORM's create did."""
    token = card_token(gateway, APPROVE)
    with transaction.atomic(using=simulator.LEDGER):
        with pytest.raises(DatabaseError):
            gateway.sale(token=token, amount=Decimal("1.00"), currency="USDT", idempotency_key="x")
        answer = gateway.sale(
            token=token, amount=Decimal("1.00"), currency="USD", idempotency_key="y"
        )

    assert answer.approved is True
    assert ledger(idempotency_key="x") == []
    assert ledger(idempotency_key="y") == [("sale", token, 100, "USD", True, "")]
