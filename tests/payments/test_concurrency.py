"""Two workers at once on the same money: whatever the interleaving, one sale, one
refund. The gateway is slowed down so that the second arrives while the first call is
still on the wire."""

import threading
from decimal import Decimal

import pytest

from continuity.models import Subscription
from core.actors import Actor
from core.errors import Conflict
from orders.models import SalesOrder, SalesOrderStatus
from orders.services import sales_order_submit
from payments.models import Payment, PaymentStatus
from payments.services import PaymentOutcomeUnknown, payment_reconcile, payment_refund
from tests.payments.support import (
    APPROVE,
    TIMEOUT_AFTER_CHARGE,
    TIMEOUT_BEFORE_CHARGE,
    in_threads,
    ledger_reversals,
    ledger_sales,
    order_ready,
)

pytestmark = pytest.mark.django_db(transaction=True)

RECONCILER = Actor.job("reconcile_payments")


def at_once(*calls):
    """Run the calls in parallel threads (each with its own database connections),
    started together, and return what each returned, or the ServiceError it raised, in
    call order."""
    start = threading.Barrier(len(calls))

    def together(call):
        def run():
            start.wait()
            return call()

        return run

    return in_threads([together(call) for call in calls], answers=(Conflict, PaymentOutcomeUnknown))


@pytest.fixture
def slow_gateway(settings):
    settings.PAYMENT_GATEWAY_LATENCY_MS = 300


@pytest.mark.parametrize("card_number", [TIMEOUT_AFTER_CHARGE, TIMEOUT_BEFORE_CHARGE])
@pytest.mark.parametrize("second", ["reconcile", "submit"])
def test_two_workers_settling_the_same_unknown_sale_charge_it_once(
    demo, actor, slow_gateway, card_number, second
):
    order = order_ready(actor, card_number)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)
    payment = Payment.objects.get(sales_order=order)

    def reconcile():
        return payment_reconcile(payment_id=payment.pk, actor=RECONCILER).status

    def submit():
        return sales_order_submit(order_id=order.pk, actor=actor).status

    results = at_once(reconcile, submit if second == "submit" else reconcile)

    assert results[0] == PaymentStatus.APPROVED
    assert results[1] in (PaymentStatus.APPROVED, SalesOrderStatus.SUBMITTED)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert list(ledger_sales(order).values_list("idempotency_key", "approved")) == [
        (payment.idempotency_key, True)
    ]
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert SalesOrder.objects.get(pk=order.pk).status == SalesOrderStatus.SUBMITTED
    assert Subscription.objects.filter(parent_order=order).count() == 1


def submitted_sale(actor):
    order = order_ready(actor, APPROVE)
    sales_order_submit(order_id=order.pk, actor=actor)
    return Payment.objects.get(sales_order=order)


def test_the_same_refund_asked_twice_at_once_refunds_once(demo, actor, slow_gateway):
    sale = submitted_sale(actor)

    def refund():
        return payment_refund(payment_id=sale.pk, amount=Decimal("10.00"), actor=actor).pk

    results = at_once(refund, refund)

    refund_row = Payment.objects.get(original=sale)
    assert results == [refund_row.pk, refund_row.pk]
    assert refund_row.status == PaymentStatus.APPROVED
    assert list(ledger_reversals(sale).values_list("idempotency_key", "amount_minor")) == [
        (f"payment-{sale.pk}-refund-1", 1000)
    ]
