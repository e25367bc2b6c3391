import contextlib
import datetime

import pytest
import time_machine
from django.utils import timezone

from core.actors import Actor
from core.dates import business_date
from customers.models import Customer
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_line_add,
    sales_order_payment_set,
    sales_order_submit,
)
from payments.services import card_add

GOOD_CARD = "4242 4242 4242 4242"


@pytest.fixture
def sell(demo):
    """Sell a continuity item to Karen Berg through the order-entry services (seed steps
    1 to 7) and return the submitted parent order."""
    actor = Actor.job("test")
    karen = Customer.objects.get(account_number="004021")

    def sell_item(
        item_number="88000",
        card_number=GOOD_CARD,
        expiry_year=None,
        expiry_month=12,
        start_date=None,
        customer=None,
    ):
        customer = customer or karen
        order = sales_order_create(customer=customer, actor=actor)
        sales_order_line_add(
            order_id=order.pk, item_number=item_number, actor=actor, start_date=start_date
        )
        sales_order_complete(order_id=order.pk, actor=actor)
        card = card_add(
            customer=customer,
            card_number=card_number,
            expiry_month=expiry_month,
            expiry_year=expiry_year or business_date().year + 3,
            security_code="737",
            name_on_card=customer.full_name,
            actor=actor,
        )
        sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor)
        return sales_order_submit(order_id=order.pk, actor=actor)

    return sell_item


@pytest.fixture
def today():
    return business_date()


def days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


@contextlib.contextmanager
def on_day(date: datetime.date):
    """Live on `date` (noon in BUSINESS_TIME_ZONE, the clock running): a batch run's date is at
    most BATCH_MAX_DAYS_AHEAD after today, so a test of a shipment months ahead travels
    to the day its run would happen, as beat would run it then."""
    noon = datetime.datetime.combine(
        date, datetime.time(12), tzinfo=timezone.get_current_timezone()
    )
    with time_machine.travel(noon, tick=True):
        yield
