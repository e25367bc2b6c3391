"""Emails to customers: charged, payment failed, child order created,
subscription cancelled; in the customer's language; each once per event, however often a
job runs."""

import re

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from continuity.models import Occurrence, Subscription
from continuity.subscription_actions.cancel import subscription_cancel
from core.actors import Actor
from core.models import AuditEntry, Notification
from core.notification_sending import notifications_send
from customers.models import Customer
from payments.gateways.base import DeclineCode
from tests.batch.conftest import days, on_day

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("test")


def run(job, run_date):
    with on_day(run_date):
        return batch_run_inline(batch_run_request(job=job, actor=ACTOR, run_date=run_date))


def keys():
    return sorted(Notification.objects.values_list("kind", "key"))


def test_each_event_is_owed_once_even_when_the_jobs_run_again(sell, today):
    order = sell()
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    for _ in range(2):
        run(BatchJob.CREATE_CHILD_ORDERS, today)
        run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))

    kinds = [kind for kind, _key in keys()]
    assert sorted(kinds) == ["charged", "charged", "child_order_created"]
    first_payment = order.payments.get(occurrence__isnull=True).pk
    assert ("charged", f"charged:payment:{first_payment}") in keys()
    child = Notification.objects.get(kind="child_order_created")
    assert child.context == {
        "child_order": child.key.rsplit(":", 1)[1],
        "program": "Wellness club, 6 monthly boxes",
        "ship_date": today.isoformat(),
        "amount": "27.98",
        "currency": "USD",
        "ship_to": "1420 Pine Street, Seattle, 98101, US",
        "subtotal": "27.98",
        "delivery": "0.00",
        "tax": "0.00",
        "prices_include_tax": "",
    }


def test_a_declined_charge_owes_a_payment_failed_email_with_what_to_do(sell):
    from tests.batch.test_process_payments import give_card

    order = sell()
    give_card(order, "4000 0000 0000 0002")
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))  # not due again today

    failed = Notification.objects.get(kind="payment_failed")
    assert failed.context["retry_on"] == (second.ship_date - days(3)).isoformat()
    notifications_send()
    email = next(message for message in mail.outbox if "could not charge" in message.subject)
    assert email.to == ["karen.berg@example.com"]
    assert "we will try again on" in email.body
    assert "4000000000000002" not in email.body


def test_a_french_payment_failed_email_has_french_dates_amounts_and_reason(sell):
    """Written when sent, in the customer's language: the run that declined spoke English."""
    from tests.batch.test_process_payments import give_card

    laurent = Customer.objects.get(account_number="004023")  # French
    order = sell(customer=laurent)
    give_card(order, "4000 0000 0000 0002")
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))
    declined = order.payments.get(occurrence=second)
    with translation.override("fr"):
        french_reason = DeclineCode(declined.decline_code).reason
    assert french_reason != DeclineCode(declined.decline_code).reason  # a French one

    notifications_send()

    email = next(message for message in mail.outbox if "n'avons pas pu" in message.subject)
    assert email.to == [laurent.email]
    retry_on = second.ship_date - days(3)
    amount = f"{second.amount:.2f}".replace(".", ",")
    assert f"Nous n'avons pas pu débiter {amount} USD sur votre carte" in email.body
    assert f"pour l'expédition du {second.ship_date:%d/%m/%Y}" in email.body
    assert f"Motif\u00a0: {french_reason}" in email.body
    assert f"nous réessaierons le {retry_on:%d/%m/%Y}." in email.body
    assert re.findall(r"\d{4}-\d{2}-\d{2}", email.body) == []


def test_emails_go_out_in_the_customers_language_and_only_once(sell):
    laurent = Customer.objects.get(account_number="004023")  # French
    order = sell(customer=laurent)
    subscription_cancel(
        subscription_id=Subscription.objects.get(parent_order=order).pk,
        actor=ACTOR,
        reason_code="PRICE",
    )

    assert notifications_send() == 2  # charged at submit, cancelled
    assert notifications_send() == 0
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects == [
        f"Nous avons débité 27,98 USD pour votre commande {order.number}",
        "Votre abonnement Wellness club, 6 monthly boxes a été annulé",
    ]
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_the_database_refuses_a_second_notification_for_one_event(sell):
    sell()
    existing = Notification.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            kind=existing.kind, key=existing.key, customer=existing.customer, context={}
        )
    assert Notification.objects.filter(key=existing.key).count() == 1


def test_the_audit_trail_is_append_only_in_the_database(sell):
    sell()
    entry = AuditEntry.objects.first()
    for statement in (
        "UPDATE core_auditentry SET reason = 'x' WHERE id = %s",
        "DELETE FROM core_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [entry.pk])
    entry.refresh_from_db()
    assert entry.reason != "x"
