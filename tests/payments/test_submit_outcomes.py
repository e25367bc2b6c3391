"""Every outcome of the gateway simulator, through the submit flow of an order:
what our payment rows, the order, its subscription, the audit trail and the gateway's own
ledger say afterwards."""

from decimal import Decimal

import pytest
from django.utils import timezone

from continuity.models import Occurrence, OccurrenceStatus, Subscription
from core.models import AuditEntry
from orders.models import SalesOrderStatus
from orders.services import sales_order_submit
from payments.gateways import get_gateway
from payments.gateways.base import DeclineCode, GatewayError
from payments.models import Payment
from payments.services import PaymentDeclined, PaymentOutcomeUnknown
from tests.payments.support import (
    APPROVE,
    APPROVE_AFTER_DECLINES,
    EXPIRED_CARD,
    FIRST_SHIPMENT,
    INSUFFICIENT_FUNDS,
    LOST_CARD,
    PROCESSING_ERROR,
    SOFT_DECLINE,
    STOLEN_CARD,
    TIMEOUT_AFTER_CHARGE,
    TIMEOUT_BEFORE_CHARGE,
    ledger_sales,
    order_ready,
    trail,
)

pytestmark = pytest.mark.django_db


def payment_row(payment):
    return (
        payment.operation,
        payment.status,
        payment.attempt_number,
        payment.idempotency_key,
        payment.amount,
        payment.decline_code,
        payment.decline_class,
    )


def order_status_changes(order):
    return [row for row in trail(order) if row[0] == "status_change"]


def assert_submitted_with_one_charge(order, payment):
    """The order is submitted, its subscription started with the first shipment paid by
    `payment`, and the gateway charged it exactly once."""
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.SUBMITTED
    subscription = Subscription.objects.get(parent_order=order)
    paid = Occurrence.objects.filter(subscription=subscription, status=OccurrenceStatus.PAID)
    assert list(paid.values_list("sequence", "payment_id")) == [(1, payment.pk)]
    assert list(ledger_sales(order).filter(approved=True).values_list("reference", flat=True)) == [
        payment.gateway_reference
    ]
    assert order_status_changes(order) == [
        ("status_change", "agent", "open", "submitted", "", None)
    ]


def assert_open_and_not_charged(order):
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert Subscription.objects.filter(parent_order=order).count() == 0
    assert ledger_sales(order).filter(approved=True).count() == 0
    assert order_status_changes(order) == []


def test_an_approved_card_submits_the_order_charged_once(demo, actor):
    started = timezone.now()
    order = order_ready(actor, APPROVE)

    sales_order_submit(order_id=order.pk, actor=actor)

    payment = Payment.objects.get(sales_order=order)
    key = f"order-{order.pk}-sale-1"
    assert payment_row(payment) == ("sale", "approved", 1, key, FIRST_SHIPMENT, "", "")
    assert payment.gateway_reference.startswith("sim_")
    assert_submitted_with_one_charge(order, payment)
    assert list(ledger_sales(order).values_list("idempotency_key", "approved", "amount_minor")) == [
        (key, True, 2798)
    ]
    assert trail(payment) == [
        ("payment_created", "agent", "", "pending", "", None),
        ("status_change", "agent", "pending", "approved", "", payment.gateway_reference),
    ]
    entries = AuditEntry.objects.filter(object_type="payments.payment", object_id=str(payment.pk))
    assert {entry.actor_user_id for entry in entries} == {actor.user_id}
    assert all(started <= entry.at <= timezone.now() for entry in entries)


@pytest.mark.parametrize(
    ("card_number", "code", "decline_class"),
    [
        (SOFT_DECLINE, DeclineCode.DO_NOT_HONOR, "soft"),
        (INSUFFICIENT_FUNDS, DeclineCode.INSUFFICIENT_FUNDS, "soft"),
        (LOST_CARD, DeclineCode.LOST_CARD, "hard"),
        (STOLEN_CARD, DeclineCode.STOLEN_CARD, "hard"),
        (EXPIRED_CARD, DeclineCode.EXPIRED_CARD, "hard"),
        (PROCESSING_ERROR, DeclineCode.PROCESSING_ERROR, "soft"),
    ],
)
def test_a_declined_card_keeps_the_order_open_and_charges_nothing(
    demo, actor, card_number, code, decline_class
):
    order = order_ready(actor, card_number)

    with pytest.raises(PaymentDeclined) as excinfo:
        sales_order_submit(order_id=order.pk, actor=actor)

    assert excinfo.value.message == code.reason
    payment = Payment.objects.get(sales_order=order)
    key = f"order-{order.pk}-sale-1"
    assert payment_row(payment) == (
        "sale",
        "declined",
        1,
        key,
        FIRST_SHIPMENT,
        code.value,
        decline_class,
    )
    assert excinfo.value.payment == payment
    assert_open_and_not_charged(order)
    assert list(ledger_sales(order).values_list("idempotency_key", "approved", "decline_code")) == [
        (key, False, code.value)
    ]
    assert payment.gateway_reference == ledger_sales(order).get().reference
    assert trail(payment) == [
        ("payment_created", "agent", "", "pending", "", None),
        ("status_change", "agent", "pending", "declined", code.value, payment.gateway_reference),
    ]


def test_a_timeout_after_the_charge_is_unknown_until_the_next_submit_finds_the_charge(demo, actor):
    order = order_ready(actor, TIMEOUT_AFTER_CHARGE)
    key = f"order-{order.pk}-sale-1"

    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)

    payment = Payment.objects.get(sales_order=order)
    assert payment_row(payment) == ("sale", "unknown", 1, key, FIRST_SHIPMENT, "", "")
    assert payment.gateway_reference == ""
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert Subscription.objects.filter(parent_order=order).count() == 0
    # The gateway did charge: only a look-up can tell.
    assert list(ledger_sales(order).values_list("idempotency_key", "approved")) == [(key, True)]
    assert trail(payment) == [
        ("payment_created", "agent", "", "pending", "", None),
        ("status_change", "agent", "pending", "unknown", "", ""),
    ]

    sales_order_submit(order_id=order.pk, actor=actor)

    payment.refresh_from_db()
    assert payment_row(payment) == ("sale", "approved", 1, key, FIRST_SHIPMENT, "", "")
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert ledger_sales(order).count() == 1
    assert_submitted_with_one_charge(order, payment)
    assert trail(payment)[2:] == [
        ("status_change", "agent", "unknown", "approved", "", payment.gateway_reference)
    ]


def test_a_timeout_before_the_charge_is_sent_again_under_the_same_key(demo, actor):
    order = order_ready(actor, TIMEOUT_BEFORE_CHARGE)
    key = f"order-{order.pk}-sale-1"

    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)

    payment = Payment.objects.get(sales_order=order)
    assert payment_row(payment) == ("sale", "unknown", 1, key, FIRST_SHIPMENT, "", "")
    assert ledger_sales(order).count() == 0
    assert_open_and_not_charged(order)

    sales_order_submit(order_id=order.pk, actor=actor)

    payment.refresh_from_db()
    assert payment_row(payment) == ("sale", "approved", 1, key, FIRST_SHIPMENT, "", "")
    assert list(ledger_sales(order).values_list("idempotency_key", "approved")) == [(key, True)]
    assert_submitted_with_one_charge(order, payment)
    assert trail(payment) == [
        ("payment_created", "agent", "", "pending", "", None),
        ("status_change", "agent", "pending", "unknown", "", ""),
        ("status_change", "agent", "unknown", "approved", "", payment.gateway_reference),
    ]


def test_a_card_that_approves_after_two_declines_takes_three_attempts_with_new_keys(demo, actor):
    order = order_ready(actor, APPROVE_AFTER_DECLINES)
    card_id = order.payment_card_id

    for _attempt in (1, 2):
        with pytest.raises(PaymentDeclined):
            sales_order_submit(order_id=order.pk, actor=actor)
        assert_open_and_not_charged(order)
    sales_order_submit(order_id=order.pk, actor=actor)

    payments = list(Payment.objects.filter(sales_order=order).order_by("attempt_number"))
    soft = ("do_not_honor", "soft")
    assert [payment_row(payment) for payment in payments] == [
        ("sale", "declined", 1, f"order-{order.pk}-sale-1", FIRST_SHIPMENT, *soft),
        ("sale", "declined", 2, f"order-{order.pk}-sale-2", FIRST_SHIPMENT, *soft),
        ("sale", "approved", 3, f"order-{order.pk}-sale-3", FIRST_SHIPMENT, "", ""),
    ]
    assert {payment.card_id for payment in payments} == {card_id}
    assert list(ledger_sales(order).order_by("id").values_list("idempotency_key", "approved")) == [
        (f"order-{order.pk}-sale-1", False),
        (f"order-{order.pk}-sale-2", False),
        (f"order-{order.pk}-sale-3", True),
    ]
    assert_submitted_with_one_charge(order, payments[2])
    assert [row[:4] for payment in payments for row in trail(payment)] == [
        ("payment_created", "agent", "", "pending"),
        ("status_change", "agent", "pending", "declined"),
        ("payment_created", "agent", "", "pending"),
        ("status_change", "agent", "pending", "declined"),
        ("payment_created", "agent", "", "pending"),
        ("status_change", "agent", "pending", "approved"),
    ]


def test_submitting_a_submitted_order_again_charges_nothing(demo, actor):
    order = order_ready(actor, APPROVE)
    sales_order_submit(order_id=order.pk, actor=actor)
    audit_rows = AuditEntry.objects.count()

    again = sales_order_submit(order_id=order.pk, actor=actor)

    assert again.status == SalesOrderStatus.SUBMITTED
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert ledger_sales(order).count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1
    assert AuditEntry.objects.count() == audit_rows
    assert Payment.objects.get(sales_order=order).amount == Decimal("27.98")


def test_a_look_up_the_gateway_refuses_leaves_the_sale_unknown_and_sends_nothing(
    demo, actor, monkeypatch
):
    order = order_ready(actor, TIMEOUT_BEFORE_CHARGE)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)

    # The gateway (not our code) refuses look-ups for a while: that says nothing about the
    # charge, so it must neither be taken for a decline nor lead to sending the sale again.
    def refuse(idempotency_key):
        raise GatewayError("Look-ups are unavailable.")

    monkeypatch.setattr(get_gateway(), "lookup", refuse)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)
    monkeypatch.undo()

    payment = Payment.objects.get(sales_order=order)
    assert payment.status == "unknown"
    assert ledger_sales(order).count() == 0
    assert_open_and_not_charged(order)

    sales_order_submit(order_id=order.pk, actor=actor)

    payment.refresh_from_db()
    assert payment.status == "approved"
    assert_submitted_with_one_charge(order, payment)
