"""The charged, payment-failed and child-order emails say what the amount is made of:
subtotal, delivery, tax and total, or where prices include tax (France), the total with
the TVA inside ("dont TVA"). Amounts worked by hand in tests/web/test_shipment_tax_pages.py:
Seattle 27.98 + 5.95 + 3.47 = 37.40 USD; Lyon 27.98 + 5.95 = 33.93 EUR, TVA 5.65 inside.
Emails queued before these parts existed still render, without them."""

import pytest
from django.core import mail

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from continuity.models import Occurrence
from core.actors import Actor
from core.models import Notification, NotificationKind
from core.notification_sending import notifications_send
from customers.models import Customer
from tests.batch.conftest import days, on_day
from tests.continuity.tax_setup import french_customer_in_euros, tax_and_delivery_set_up

pytestmark = pytest.mark.django_db

SEATTLE_PARTS = "Subtotal: 27.98 USD\nDelivery: 5.95 USD\nTax: 3.47 USD\nTotal: 37.40 USD\n"
LYON_PARTS = (
    "Sous-total\u00a0: 27,98 EUR\nLivraison\u00a0: 5,95 EUR\n"
    "Total TTC\u00a0: 33,93 EUR\ndont TVA\u00a0: 5,65 EUR\n"
)


@pytest.fixture
def taxed(demo):
    return tax_and_delivery_set_up()


def run(job, run_date):
    with on_day(run_date):
        return batch_run_inline(
            batch_run_request(job=job, actor=Actor.job("test"), run_date=run_date)
        )


def sent_bodies(kind_in_subject: str) -> list[str]:
    return [message.body for message in mail.outbox if kind_in_subject in message.subject]


def test_the_charge_at_submit_and_a_shipments_charge_email_their_parts(taxed, sell, today):
    order = sell()
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))
    run(BatchJob.CREATE_CHILD_ORDERS, today)

    charged = Notification.objects.filter(kind=NotificationKind.CHARGED).order_by("id")
    expected = {
        "subtotal": "27.98",
        "delivery": "5.95",
        "tax": "3.47",
        "prices_include_tax": "",
    }
    assert [{key: n.context[key] for key in expected} for n in charged] == [expected] * 2
    assert [n.context["amount"] for n in charged] == ["37.40", "37.40"]
    notifications_send()

    at_submit, shipment = sent_bodies("We charged")
    assert "We charged 37.40 USD to your card" in at_submit
    assert SEATTLE_PARTS in at_submit
    assert "We charged 37.40 USD to your card" in shipment
    assert SEATTLE_PARTS in shipment
    (child,) = sent_bodies("is on its way")
    assert ", 37.40 USD, already paid." in child
    assert SEATTLE_PARTS in child


def test_a_declined_charge_emails_the_parts_it_tried_to_charge(taxed, sell):
    from tests.batch.test_process_payments import give_card

    order = sell()
    give_card(order, "4000 0000 0000 0002")
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    run(BatchJob.PROCESS_PAYMENTS, second.ship_date - days(5))

    notifications_send()

    (failed,) = sent_bodies("could not charge")
    assert "We could not charge 37.40 USD to your card" in failed
    assert SEATTLE_PARTS in failed


def test_a_french_customer_reads_the_tva_inside_the_total(taxed, sell, today):
    order = sell(customer=french_customer_in_euros())
    run(BatchJob.CREATE_CHILD_ORDERS, today)

    notifications_send()

    (charged,) = sent_bodies("Nous avons débité")
    assert LYON_PARTS in charged
    (child,) = [message.body for message in mail.outbox if order.number not in message.subject]
    assert LYON_PARTS in child
    assert "Taxe" not in charged + child


def test_an_email_queued_before_the_parts_existed_still_renders(taxed, demo):
    karen = Customer.objects.get(account_number="004021")
    Notification.objects.create(
        kind=NotificationKind.CHARGED,
        key="charged:payment:old",
        customer=karen,
        context={
            "order": "SO-000001",
            "program": "Wellness club, 6 monthly boxes",
            "amount": "27.98",
            "currency": "USD",
            "card": "Visa •••• 4242",
            "ship_date": "",
        },
    )

    assert notifications_send() == 1

    (body,) = sent_bodies("We charged")
    assert "We charged 27.98 USD to your card Visa •••• 4242" in body
    assert "Subtotal" not in body and "Tax" not in body
