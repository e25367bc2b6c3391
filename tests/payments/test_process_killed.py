"""A real process, really killed (SIGKILL) between the gateway's answer and our commit:
the money moved once, our database does not know it yet, and the next submit, refund or
reconciliation finds it instead of moving it again."""

import io
import signal
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command

from continuity.models import Subscription
from orders.models import SalesOrderStatus
from orders.services import sales_order_submit
from payments.models import Payment, PaymentStatus
from payments.services import payment_refund
from tests.payments.support import (
    APPROVE,
    FIRST_SHIPMENT,
    backdate,
    ledger_reversals,
    ledger_sales,
    order_ready,
    subprocess_env,
    trail,
)

# The doomed process works on committed rows, through its own connections.
pytestmark = pytest.mark.django_db(transaction=True)


def run_and_kill(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.payments.die_after_gateway_answer", *args],
        cwd=settings.BASE_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def reconcile_stale_payments(payment):
    backdate(payment, seconds=61)
    call_command("reconcile_payments", stdout=io.StringIO())


@pytest.mark.parametrize("recovery", ["submit-again", "reconcile-command"])
def test_a_submit_killed_after_the_gateway_charged_is_finished_with_one_charge(
    demo, actor, recovery
):
    order = order_ready(actor, APPROVE)

    killed = run_and_kill("submit", str(order.pk))

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    payment = Payment.objects.get(sales_order=order)
    assert payment.status == PaymentStatus.PENDING
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert Subscription.objects.filter(parent_order=order).count() == 0
    assert list(ledger_sales(order).values_list("idempotency_key", "approved")) == [
        (payment.idempotency_key, True)
    ]
    assert trail(payment) == [("payment_created", "doomed-process", "", "pending", "", None)]

    if recovery == "submit-again":
        sales_order_submit(order_id=order.pk, actor=actor)
        by = "agent"
    else:
        reconcile_stale_payments(payment)
        by = "reconcile_payments"

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert payment.gateway_reference == ledger_sales(order).get().reference
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert ledger_sales(order).filter(approved=True).count() == 1
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.SUBMITTED
    assert Subscription.objects.filter(parent_order=order).count() == 1
    assert trail(payment)[1:] == [
        ("status_change", by, "pending", "approved", "", payment.gateway_reference)
    ]


@pytest.mark.parametrize("recovery", ["refund-again", "reconcile-command"])
def test_a_refund_killed_after_the_gateway_refunded_is_finished_with_one_refund(
    demo, actor, recovery
):
    order = order_ready(actor, APPROVE)
    sales_order_submit(order_id=order.pk, actor=actor)
    sale = Payment.objects.get(sales_order=order)

    killed = run_and_kill("refund", str(sale.pk), str(FIRST_SHIPMENT))

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    refund = Payment.objects.get(original=sale)
    assert (refund.status, refund.idempotency_key) == (
        PaymentStatus.PENDING,
        f"payment-{sale.pk}-refund-1",
    )
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED
    assert list(ledger_reversals(sale).values_list("idempotency_key", "amount_minor")) == [
        (refund.idempotency_key, 2798)
    ]

    if recovery == "refund-again":
        payment_refund(payment_id=sale.pk, amount=Decimal("27.98"), actor=actor)
    else:
        reconcile_stale_payments(refund)

    refund.refresh_from_db()
    assert refund.status == PaymentStatus.APPROVED
    assert refund.gateway_reference == ledger_reversals(sale).get().reference
    assert Payment.objects.filter(original=sale).count() == 1
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.REFUNDED
