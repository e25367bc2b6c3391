"""Submit charges an order at most once, whatever happens between us and the gateway."""

import threading

import pytest
from django.db import connections

import orders.services
from continuity.models import Subscription
from core.actors import Actor
from core.dates import business_date
from customers.models import Customer
from orders.models import SalesOrder, SalesOrderStatus
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_line_add,
    sales_order_payment_set,
    sales_order_submit,
)
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentStatus
from payments.services import PaymentOutcomeUnknown, card_add

TIMEOUT_AFTER_CHARGE = "4000 0000 0000 0259"
TIMEOUT_BEFORE_CHARGE = "4000 0000 0000 0267"


def charges_for(order):
    return SimulatedTransaction.objects.using("gateway").filter(
        idempotency_key__startswith=f"order-{order.pk}-", operation="sale"
    )


def ready_order(actor, card_number="4242 4242 4242 4242"):
    karen = Customer.objects.get(account_number="004021")
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    card = card_add(
        customer=karen,
        card_number=card_number,
        expiry_month=1,
        expiry_year=business_date().year + 3,
        security_code="321",
        name_on_card="Karen Berg",
        actor=actor,
    )
    return sales_order_payment_set(
        order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor
    )


@pytest.mark.django_db
def test_a_timeout_after_the_charge_is_looked_up_not_charged_again(demo, actor):
    order = ready_order(actor, TIMEOUT_AFTER_CHARGE)

    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)

    payment = Payment.objects.get(sales_order=order)
    assert payment.status == PaymentStatus.UNKNOWN
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert [c.approved for c in charges_for(order)] == [True]

    order = sales_order_submit(order_id=order.pk, actor=actor)

    assert order.status == SalesOrderStatus.SUBMITTED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert charges_for(order).count() == 1
    assert payment.gateway_reference == charges_for(order).get().reference


@pytest.mark.django_db
def test_a_timeout_before_the_charge_is_sent_again_with_the_same_key(demo, actor):
    order = ready_order(actor, TIMEOUT_BEFORE_CHARGE)

    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)
    assert charges_for(order).count() == 0

    order = sales_order_submit(order_id=order.pk, actor=actor)

    assert order.status == SalesOrderStatus.SUBMITTED
    assert list(charges_for(order).values_list("idempotency_key", "approved")) == [
        (f"order-{order.pk}-sale-1", True)
    ]
    assert Payment.objects.filter(sales_order=order).count() == 1


@pytest.mark.django_db
def test_the_payment_line_cannot_change_while_a_charge_is_unconfirmed(demo, actor):
    order = ready_order(actor, TIMEOUT_AFTER_CHARGE)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=actor)

    from core.errors import Conflict

    with pytest.raises(Conflict):
        sales_order_payment_set(
            order_id=order.pk, method_code="Visa", card_id=order.payment_card_id, actor=actor
        )


@pytest.mark.django_db
def test_a_crash_between_the_gateway_answer_and_our_commit_charges_once(demo, actor, monkeypatch):
    order = ready_order(actor)

    class Crash(BaseException):
        """Stands for the process dying: nothing after the gateway call is committed."""

    def crash(**kwargs):
        raise Crash

    monkeypatch.setattr(orders.services, "payment_record_answer", crash)
    with pytest.raises(Crash):
        sales_order_submit(order_id=order.pk, actor=actor)
    monkeypatch.undo()

    payment = Payment.objects.get(sales_order=order)
    assert payment.status == PaymentStatus.PENDING
    assert [c.approved for c in charges_for(order)] == [True]

    order = sales_order_submit(order_id=order.pk, actor=actor)

    assert order.status == SalesOrderStatus.SUBMITTED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert charges_for(order).count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_agents_submitting_at_once_charge_once(demo, agent, settings):
    # Slow gateway: the second submit arrives while the first charge is in flight.
    settings.PAYMENT_GATEWAY_LATENCY_MS = 200
    actor = Actor.of_user(agent)
    order = ready_order(actor)
    outcomes = []

    def submit():
        try:
            outcomes.append(sales_order_submit(order_id=order.pk, actor=actor).status)
        except PaymentOutcomeUnknown:
            outcomes.append("unknown")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    order = SalesOrder.objects.get(pk=order.pk)
    assert order.status == SalesOrderStatus.SUBMITTED
    assert outcomes.count(SalesOrderStatus.SUBMITTED) >= 1
    assert charges_for(order).count() == 1
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1
