"""Refunds (payments.services.payment_refund): the same idempotency rules as a sale, what
the sale becomes, and refusals that write and send nothing; and a void row left
unanswered, settled as a void."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from core.actors import Actor
from core.errors import Conflict, NotFound
from core.models import AuditEntry
from orders.services import sales_order_submit
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentStatus
from payments.services import (
    PaymentDeclined,
    PaymentOutcomeUnknown,
    ReversalDeclined,
    ReversalOutcomeUnknown,
    payment_reconcile,
    payment_refund,
)
from tests.factories import PaymentFactory
from tests.payments.support import (
    APPROVE,
    FIRST_SHIPMENT,
    SOFT_DECLINE,
    TIMEOUT_AFTER_CHARGE,
    TIMEOUT_BEFORE_CHARGE,
    ledger_reversals,
    order_ready,
    trail,
)

pytestmark = pytest.mark.django_db

RECONCILER = "reconcile_payments"
RECONCILE_ACTOR = Actor.job(RECONCILER)


def submitted_sale(actor, card_number=APPROVE) -> Payment:
    """The approved sale of a submitted order (a timeout card needs a second submit)."""
    order = order_ready(actor, card_number)
    try:
        sales_order_submit(order_id=order.pk, actor=actor)
    except PaymentOutcomeUnknown:
        sales_order_submit(order_id=order.pk, actor=actor)
    sale = Payment.objects.get(sales_order=order, operation="sale")
    assert sale.status == PaymentStatus.APPROVED
    return sale


def everything_written():
    """What a refused request must leave unchanged: our rows and the gateway's."""
    return (
        list(Payment.objects.order_by("id").values_list("id", "status")),
        AuditEntry.objects.count(),
        SimulatedTransaction.objects.using("gateway").count(),
    )


def reversal_row(reversal):
    return (
        reversal.operation,
        reversal.status,
        reversal.original_id,
        reversal.attempt_number,
        reversal.idempotency_key,
        reversal.amount,
        reversal.decline_code,
    )


def ledger_rows(sale):
    return list(
        ledger_reversals(sale)
        .order_by("id")
        .values_list("idempotency_key", "operation", "amount_minor", "approved")
    )


def test_a_full_refund_refunds_the_sale_once(demo, actor):
    sale = submitted_sale(actor)

    refund = payment_refund(payment_id=sale.pk, actor=actor, reason="Customer cancelled")

    key = f"payment-{sale.pk}-refund-1"
    assert reversal_row(refund) == ("refund", "approved", sale.pk, 1, key, FIRST_SHIPMENT, "")
    assert (refund.sales_order_id, refund.customer_id, refund.card_id, refund.currency) == (
        sale.sales_order_id,
        sale.customer_id,
        sale.card_id,
        sale.currency,
    )
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.REFUNDED
    assert ledger_rows(sale) == [(key, "refund", 2798, True)]
    assert refund.gateway_reference == ledger_reversals(sale).get().reference
    assert trail(refund) == [
        ("payment_created", "agent", "", "pending", "Customer cancelled", None),
        ("status_change", "agent", "pending", "approved", "", refund.gateway_reference),
    ]
    assert trail(sale)[-1] == (
        "status_change",
        "agent",
        "approved",
        "refunded",
        "Customer cancelled",
        sale.gateway_reference,
    )
    sale_entries = AuditEntry.objects.filter(object_type="payments.payment", object_id=str(sale.pk))
    last = sale_entries.order_by("id").last()
    assert last.details == {
        "gateway_reference": sale.gateway_reference,
        "key": sale.idempotency_key,
        "reversal": key,
        "reversal_reference": refund.gateway_reference,
    }


def test_partial_refunds_add_up_and_the_last_one_refunds_the_sale(demo, actor):
    sale = submitted_sale(actor)

    first = payment_refund(payment_id=sale.pk, amount=Decimal("10.00"), actor=actor)
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED
    rest = payment_refund(payment_id=sale.pk, actor=actor)

    assert reversal_row(first) == (
        "refund",
        "approved",
        sale.pk,
        1,
        f"payment-{sale.pk}-refund-1",
        Decimal("10.00"),
        "",
    )
    assert reversal_row(rest) == (
        "refund",
        "approved",
        sale.pk,
        2,
        f"payment-{sale.pk}-refund-2",
        Decimal("17.98"),
        "",
    )
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.REFUNDED
    assert ledger_rows(sale) == [
        (f"payment-{sale.pk}-refund-1", "refund", 1000, True),
        (f"payment-{sale.pk}-refund-2", "refund", 1798, True),
    ]
    assert [row[:4] for row in trail(sale) if row[0] == "status_change"] == [
        ("status_change", "agent", "pending", "approved"),
        ("status_change", "agent", "approved", "refunded"),
    ]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("17.99", "At most 17.98 USD of this payment can still be refunded."),
        (Decimal("100"), "At most 17.98 USD of this payment can still be refunded."),
        ("0", "Enter an amount greater than zero."),
        (Decimal("-5.00"), "Enter an amount greater than zero."),
        ("1.234", "Enter the amount with at most two decimals."),
        ("ten", "Enter the amount to refund, for example 10.00."),
        ("NaN", "Enter the amount to refund, for example 10.00."),
    ],
)
def test_a_bad_refund_amount_is_refused_and_nothing_is_written_or_sent(
    demo, actor, amount, message
):
    sale = submitted_sale(actor)
    payment_refund(payment_id=sale.pk, amount=Decimal("10.00"), actor=actor)
    before = everything_written()

    with pytest.raises(ValidationError) as excinfo:
        payment_refund(payment_id=sale.pk, amount=amount, actor=actor)

    assert excinfo.value.message_dict == {"amount": [message]}
    assert everything_written() == before
    assert ledger_rows(sale) == [(f"payment-{sale.pk}-refund-1", "refund", 1000, True)]


def test_a_declined_sale_cannot_be_refunded(demo, actor):
    order = order_ready(actor, SOFT_DECLINE)
    with pytest.raises(PaymentDeclined):
        sales_order_submit(order_id=order.pk, actor=actor)
    sale = Payment.objects.get(sales_order=order)
    before = everything_written()

    with pytest.raises(Conflict) as refund_refused:
        payment_refund(payment_id=sale.pk, actor=actor)

    assert refund_refused.value.message == (
        f"Only an approved sale can be refunded. Payment {sale.pk}: operation Sale, "
        "status Declined."
    )
    assert everything_written() == before


def test_a_refund_itself_cannot_be_refunded_and_a_missing_payment_is_not_found(demo, actor):
    sale = submitted_sale(actor)
    refund = payment_refund(payment_id=sale.pk, amount=Decimal("5.00"), actor=actor)
    before = everything_written()

    with pytest.raises(Conflict) as excinfo:
        payment_refund(payment_id=refund.pk, actor=actor)
    with pytest.raises(NotFound):
        payment_refund(payment_id=sale.pk + 10_000, actor=actor)

    assert excinfo.value.message == (
        f"Only an approved sale can be refunded. Payment {refund.pk}: operation Refund, "
        "status Approved."
    )
    assert everything_written() == before


def test_a_refund_whose_answer_was_lost_is_settled_by_reconcile_with_one_refund(demo, actor):
    sale = submitted_sale(actor, TIMEOUT_AFTER_CHARGE)
    key = f"payment-{sale.pk}-refund-1"

    with pytest.raises(ReversalOutcomeUnknown) as excinfo:
        payment_refund(payment_id=sale.pk, actor=actor)

    refund = excinfo.value.payment
    assert reversal_row(refund) == ("refund", "unknown", sale.pk, 1, key, FIRST_SHIPMENT, "")
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED
    # The gateway refunded; only a look-up can tell.
    assert ledger_rows(sale) == [(key, "refund", 2798, True)]

    reconciled = payment_reconcile(payment_id=refund.pk, actor=RECONCILE_ACTOR)

    assert reversal_row(reconciled) == ("refund", "approved", sale.pk, 1, key, FIRST_SHIPMENT, "")
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.REFUNDED
    assert ledger_rows(sale) == [(key, "refund", 2798, True)]
    assert trail(refund) == [
        ("payment_created", "agent", "", "pending", "", None),
        ("status_change", "agent", "pending", "unknown", "", ""),
        ("status_change", RECONCILER, "unknown", "approved", "", reconciled.gateway_reference),
    ]
    assert trail(sale)[-1][:4] == ("status_change", RECONCILER, "approved", "refunded")


def test_asking_again_for_a_refund_whose_answer_was_lost_looks_it_up_not_refunds_twice(demo, actor):
    sale = submitted_sale(actor, TIMEOUT_AFTER_CHARGE)
    with pytest.raises(ReversalOutcomeUnknown):
        payment_refund(payment_id=sale.pk, amount=Decimal("12.00"), actor=actor)

    refund = payment_refund(payment_id=sale.pk, amount=Decimal("12.00"), actor=actor)

    key = f"payment-{sale.pk}-refund-1"
    assert reversal_row(refund) == ("refund", "approved", sale.pk, 1, key, Decimal("12.00"), "")
    assert Payment.objects.filter(original=sale).count() == 1
    assert ledger_rows(sale) == [(key, "refund", 1200, True)]
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED


@pytest.mark.parametrize("settled_by", ["reconcile", "asking-again"])
def test_a_refund_the_gateway_never_saw_is_sent_again_under_its_key(demo, actor, settled_by):
    sale = submitted_sale(actor, TIMEOUT_BEFORE_CHARGE)
    key = f"payment-{sale.pk}-refund-1"
    with pytest.raises(ReversalOutcomeUnknown) as excinfo:
        payment_refund(payment_id=sale.pk, actor=actor)
    assert ledger_rows(sale) == []

    # Settling is not a new refund: the gateway never saw the key, so reconciling (or the
    # same request again) looks it up and sends it again under that key.
    if settled_by == "reconcile":
        refund = payment_reconcile(payment_id=excinfo.value.payment.pk, actor=RECONCILE_ACTOR)
    else:
        refund = payment_refund(payment_id=sale.pk, actor=actor)

    assert refund.pk == excinfo.value.payment.pk
    assert reversal_row(refund) == ("refund", "approved", sale.pk, 1, key, FIRST_SHIPMENT, "")
    assert ledger_rows(sale) == [(key, "refund", 2798, True)]
    assert Payment.objects.filter(original=sale).count() == 1
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.REFUNDED


def test_while_a_refund_is_unconfirmed_another_amount_is_refused(demo, actor):
    sale = submitted_sale(actor, TIMEOUT_BEFORE_CHARGE)
    with pytest.raises(ReversalOutcomeUnknown):
        payment_refund(payment_id=sale.pk, amount=Decimal("10.00"), actor=actor)
    before = everything_written()

    with pytest.raises(Conflict) as other_amount:
        payment_refund(payment_id=sale.pk, amount=Decimal("5.00"), actor=actor)
    with pytest.raises(Conflict):
        payment_refund(payment_id=sale.pk, actor=actor)  # all that is left: 27.98

    message = (
        f"A refund of 10.00 USD on payment {sale.pk} is being confirmed with the payment "
        "service. Reconcile it before asking for anything else."
    )
    assert other_amount.value.message == message
    assert everything_written() == before
    assert ledger_rows(sale) == []


def test_a_void_left_unanswered_is_settled_as_a_void_not_a_refund(demo, actor):
    # No service starts a void, but the model keeps the operation: a void row still
    # pending is sent to the gateway as a void and voids the sale.
    sale = submitted_sale(actor)
    key = f"payment-{sale.pk}-void-1"
    void = PaymentFactory(
        sales_order=sale.sales_order,
        customer=sale.customer,
        method=sale.method,
        card=sale.card,
        original=sale,
        operation="void",
        status=PaymentStatus.PENDING,
        amount=sale.amount,
        idempotency_key=key,
        gateway_reference="",
    )

    reconciled = payment_reconcile(payment_id=void.pk, actor=RECONCILE_ACTOR)

    assert reversal_row(reconciled) == ("void", "approved", sale.pk, 1, key, FIRST_SHIPMENT, "")
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.VOIDED
    assert ledger_rows(sale) == [(key, "void", 2798, True)]


def test_a_refund_the_gateway_refuses_is_declined_and_the_next_one_gets_a_new_key(demo, actor):
    # A sale the gateway has no record of (its reference is not the simulator's).
    sale = PaymentFactory(amount=Decimal("30.00"))

    with pytest.raises(ReversalDeclined) as excinfo:
        payment_refund(payment_id=sale.pk, amount=Decimal("10.00"), actor=actor)
    with pytest.raises(ReversalDeclined):
        payment_refund(payment_id=sale.pk, amount=Decimal("10.00"), actor=actor)

    refunds = Payment.objects.filter(original=sale).order_by("id")
    assert [(r.idempotency_key, r.status, r.decline_code, r.decline_class) for r in refunds] == [
        (f"payment-{sale.pk}-refund-1", "declined", "gateway_error", "hard"),
        (f"payment-{sale.pk}-refund-2", "declined", "gateway_error", "hard"),
    ]
    assert excinfo.value.message == (
        f"The payment service refused the refund: No approved sale with reference "
        f"{sale.gateway_reference}."
    )
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED
    assert (
        SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__startswith=f"payment-{sale.pk}-")
        .count()
        == 0
    )
