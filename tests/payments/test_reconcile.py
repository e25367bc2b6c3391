"""Reconciliation of payments whose answer was never recorded: the service
(payments.services.payment_reconcile) and the `reconcile_payments` command."""

import io
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from continuity.charging import charge_send, charges_prepare, charges_record
from continuity.models import Occurrence, OccurrenceStatus, Subscription
from core.actors import Actor
from core.errors import Conflict
from core.models import AuditEntry
from orders.models import SalesOrderStatus
from orders.services import sales_order_submit
from payments.gateways.simulator.models import SimulatedTransaction
from payments.management.commands import reconcile_payments
from payments.models import Payment, PaymentStatus
from payments.services import (
    PaymentDeclined,
    PaymentOutcomeUnknown,
    payment_reconcile,
)
from tests.payments.support import (
    SOFT_DECLINE,
    TIMEOUT_AFTER_CHARGE,
    TIMEOUT_BEFORE_CHARGE,
    backdate,
    ledger_sales,
    order_ready,
    subprocess_env,
    trail,
)

pytestmark = pytest.mark.django_db

RECONCILER = Actor.job("reconcile_payments")


def unknown_order_sale(actor, card_number):
    order = order_ready(actor, card_number)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)
    return Payment.objects.get(sales_order=order)


def occurrence_sale(actor, card_number, *, send=True):
    """The charge of the second shipment of a subscription paid with `card_number`, made by
    the payment job's own steps: sale and key committed, gateway, answer recorded (the last
    two skipped with send=False: the process died before calling the gateway)."""
    order = order_ready(actor, card_number)
    try:
        sales_order_submit(order_id=order.pk, actor=actor)
    except PaymentOutcomeUnknown:
        sales_order_submit(order_id=order.pk, actor=actor)
    occurrence = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    [charge] = charges_prepare(
        occurrence_ids=[occurrence.pk], run_date=occurrence.ship_date, actor=actor
    ).prepared
    if send:
        answer = charge_send(charge)
        charges_record(answers=[(charge, answer)], run_date=occurrence.ship_date, actor=actor)
    return Payment.objects.select_related("occurrence").get(pk=charge.payment.pk)


def ledger_for(payment):
    return list(
        SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key=payment.idempotency_key)
        .values_list("operation", "approved")
    )


# --- the service --------------------------------------------------------------------------


def test_an_order_sale_that_went_through_submits_the_order_as_submit_would(demo, actor):
    payment = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    order = payment.sales_order

    reconciled = payment_reconcile(payment_id=payment.pk, actor=RECONCILER)

    assert (reconciled.pk, reconciled.status) == (payment.pk, PaymentStatus.APPROVED)
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.SUBMITTED
    subscription = Subscription.objects.get(parent_order=order)
    assert list(
        subscription.occurrences.filter(status=OccurrenceStatus.PAID).values_list(
            "sequence", "payment_id"
        )
    ) == [(1, payment.pk)]
    assert list(ledger_sales(order).values_list("idempotency_key", "approved")) == [
        (payment.idempotency_key, True)
    ]
    assert trail(payment)[1:] == [
        ("status_change", "agent", "pending", "unknown", "", ""),
        (
            "status_change",
            "reconcile_payments",
            "unknown",
            "approved",
            "",
            reconciled.gateway_reference,
        ),
    ]
    assert [row[:4] for row in trail(order) if row[0] == "status_change"] == [
        ("status_change", "reconcile_payments", "open", "submitted")
    ]


def test_an_order_sale_the_gateway_never_saw_is_sent_again_under_its_key(demo, actor):
    payment = unknown_order_sale(actor, TIMEOUT_BEFORE_CHARGE)
    assert ledger_for(payment) == []

    reconciled = payment_reconcile(payment_id=payment.pk, actor=RECONCILER)

    assert reconciled.status == PaymentStatus.APPROVED
    assert ledger_for(payment) == [("sale", True)]
    assert Payment.objects.filter(sales_order=payment.sales_order).count() == 1
    assert Subscription.objects.filter(parent_order=payment.sales_order).count() == 1


def test_a_payment_already_answered_is_returned_as_it_is(demo, actor):
    order = order_ready(actor, SOFT_DECLINE)
    with pytest.raises(PaymentDeclined):
        sales_order_submit(order_id=order.pk, actor=actor)
    declined = Payment.objects.get(sales_order=order)
    audit_rows = AuditEntry.objects.count()
    ledger_rows = SimulatedTransaction.objects.using("gateway").count()

    reconciled = payment_reconcile(payment_id=declined.pk, actor=RECONCILER)

    assert (reconciled.pk, reconciled.status) == (declined.pk, PaymentStatus.DECLINED)
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert AuditEntry.objects.count() == audit_rows
    assert SimulatedTransaction.objects.using("gateway").count() == ledger_rows


def test_a_shipment_charge_that_went_through_pays_the_shipment_as_the_job_would(demo, actor):
    payment = occurrence_sale(actor, TIMEOUT_AFTER_CHARGE)
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.occurrence.status == OccurrenceStatus.PAYMENT_UNKNOWN

    reconciled = payment_reconcile(payment_id=payment.pk, actor=RECONCILER)

    assert reconciled.status == PaymentStatus.APPROVED
    assert reconciled.gateway_reference == (
        SimulatedTransaction.objects.using("gateway")
        .get(idempotency_key=payment.idempotency_key)
        .reference
    )
    occurrence = Occurrence.objects.get(pk=payment.occurrence_id)
    assert (occurrence.status, occurrence.payment_id) == (OccurrenceStatus.PAID, payment.pk)
    assert ledger_for(payment) == [("sale", True)]
    assert trail(payment)[-1] == (
        "status_change",
        "reconcile_payments",
        "unknown",
        "approved",
        "",
        reconciled.gateway_reference,
    )


@pytest.mark.parametrize("send", [True, False], ids=["request-lost", "process-died-before"])
def test_a_shipment_charge_the_gateway_never_saw_is_sent_again_under_its_key(demo, actor, send):
    """Settling a charge is not a new charge: a key the gateway never saw is sent again,
    under the same key, until the gateway answers; the shipment is paid by that one sale."""
    payment = occurrence_sale(actor, TIMEOUT_BEFORE_CHARGE, send=send)
    assert payment.status == (PaymentStatus.UNKNOWN if send else PaymentStatus.PENDING)
    assert ledger_for(payment) == []
    if not send:
        # The card loses the first request under a key: here, reconcile's own sending.
        lost = payment_reconcile(payment_id=payment.pk, actor=RECONCILER)

        assert lost.status == PaymentStatus.UNKNOWN
        assert ledger_for(payment) == []
        occurrence = Occurrence.objects.get(pk=payment.occurrence_id)
        assert (occurrence.status, occurrence.payment_id) == (
            OccurrenceStatus.PAYMENT_UNKNOWN,
            None,
        )

    reconciled = payment_reconcile(payment_id=payment.pk, actor=RECONCILER)

    assert (reconciled.pk, reconciled.status) == (payment.pk, PaymentStatus.APPROVED)
    assert ledger_for(payment) == [("sale", True)]
    assert Payment.objects.filter(occurrence_id=payment.occurrence_id).count() == 1
    occurrence = Occurrence.objects.get(pk=payment.occurrence_id)
    assert (occurrence.status, occurrence.payment_id) == (OccurrenceStatus.PAID, payment.pk)


# --- the command --------------------------------------------------------------------------


def run_command(*args):
    out = io.StringIO()
    call_command("reconcile_payments", *args, stdout=out)
    return out.getvalue().splitlines()


def line(payment, before, after):
    return (
        f"payment {payment.pk} {payment.idempotency_key} (sale {payment.amount} USD, sales "
        f"order {payment.sales_order.number}): {before} -> {after}"
    )


def test_the_command_settles_every_old_unanswered_payment_and_leaves_young_ones(demo, actor):
    charged = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    never_seen = occurrence_sale(actor, TIMEOUT_BEFORE_CHARGE)
    # Its first request (reconcile's) is lost too: still unknown after the first command.
    died_before_sending = occurrence_sale(actor, TIMEOUT_BEFORE_CHARGE, send=False)
    young = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    for payment in (charged, never_seen, died_before_sending):
        backdate(payment, seconds=61)

    output = run_command()

    assert output == [
        line(charged, "unknown", "approved"),
        line(never_seen, "unknown", "approved"),
        line(died_before_sending, "pending", "unknown"),
        "Reconciled 3 payment(s) older than 60s: 2 approved, 0 declined, 1 still unknown, "
        "0 failed.",
    ]
    statuses = dict(Payment.objects.values_list("pk", "status"))
    assert [statuses[p.pk] for p in (charged, never_seen, died_before_sending, young)] == [
        "approved",
        "approved",
        "unknown",
        "unknown",
    ]
    charged.sales_order.refresh_from_db()
    assert charged.sales_order.status == SalesOrderStatus.SUBMITTED
    young.sales_order.refresh_from_db()
    assert young.sales_order.status == SalesOrderStatus.OPEN

    assert run_command("--older-than", "0") == [
        line(died_before_sending, "unknown", "approved"),
        line(young, "unknown", "approved"),
        "Reconciled 2 payment(s) older than 0s: 2 approved, 0 declined, 0 still unknown, 0 failed.",
    ]
    assert ledger_sales(charged.sales_order).filter(approved=True).count() == 1
    assert ledger_sales(young.sales_order).filter(approved=True).count() == 1
    for shipment_sale in (never_seen, died_before_sending):
        assert ledger_for(shipment_sale) == [("sale", True)]
        occurrence = Occurrence.objects.get(pk=shipment_sale.occurrence_id)
        assert (occurrence.status, occurrence.payment_id) == (
            OccurrenceStatus.PAID,
            shipment_sale.pk,
        )


def test_the_command_with_nothing_to_do_says_so(demo):
    assert run_command() == [
        "Reconciled 0 payment(s) older than 60s: 0 approved, 0 declined, 0 still unknown, 0 failed."
    ]


def test_a_payment_that_cannot_be_reconciled_is_reported_and_the_others_still_are(
    demo, actor, monkeypatch
):
    refused = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    charged = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    reconcile = reconcile_payments.payment_reconcile

    def reconcile_or_refuse(*, payment_id, actor):
        if payment_id == refused.pk:
            raise Conflict("Sales order changed meanwhile.")
        return reconcile(payment_id=payment_id, actor=actor)

    monkeypatch.setattr(reconcile_payments, "payment_reconcile", reconcile_or_refuse)
    out = io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("reconcile_payments", "--older-than", "0", stdout=out)

    assert out.getvalue().splitlines() == [
        line(refused, "unknown", "failed: Sales order changed meanwhile."),
        line(charged, "unknown", "approved"),
        "Reconciled 2 payment(s) older than 0s: 1 approved, 0 declined, 0 still unknown, 1 failed.",
    ]
    assert (str(excinfo.value), excinfo.value.returncode) == (
        "1 payment(s) could not be reconciled.",
        1,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "-1"], "argument --older-than: must be a whole number of seconds, "),
        (["--older-than", "soon"], "argument --older-than: must be a whole number of seconds, "),
        (["--newer-than", "5"], "unrecognized arguments: --newer-than 5"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_reconcile_nothing(demo, actor, args, message):
    payment = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    backdate(payment, seconds=3600)

    with pytest.raises(CommandError) as excinfo:
        call_command("reconcile_payments", *args, stdout=io.StringIO())
    finished = subprocess.run(
        [sys.executable, "manage.py", "reconcile_payments", *args],
        cwd=settings.BASE_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert excinfo.value.returncode == 2
    assert str(excinfo.value).startswith(message)
    assert finished.returncode == 2
    assert finished.stdout == ""
    assert len(finished.stderr.splitlines()) == 1
    assert finished.stderr.startswith(f"reconcile_payments: {message}")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN


def test_the_default_age_is_a_minute(demo, actor):
    payment = unknown_order_sale(actor, TIMEOUT_AFTER_CHARGE)
    backdate(payment, seconds=55)

    assert run_command()[-1].startswith("Reconciled 0 payment(s) older than 60s")
    assert Payment.objects.get(pk=payment.pk).amount == Decimal("27.98")
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN
