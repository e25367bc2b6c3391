"""The seed procedure through the services: each step on its happy path and on each
refusal, with a check that a refusal wrote and charged nothing."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from continuity.models import Occurrence, OccurrenceStatus, ProgramEventLine, Subscription
from core.dates import business_date
from core.errors import Conflict
from customers.models import Customer
from orders.models import Item, SalesOrder, SalesOrderKind, SalesOrderLine, SalesOrderStatus
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_line_add,
    sales_order_line_remove,
    sales_order_line_set_start_date,
    sales_order_payment_set,
    sales_order_submit,
)
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentStatus
from payments.services import card_add
from tests.factories import CardFactory, CustomerFactory

pytestmark = pytest.mark.django_db

GOOD_CARD = "4111 1111 1111 1111"
SOFT_DECLINE_CARD = "4000 0000 0000 0002"


def ledger():
    return SimulatedTransaction.objects.using("gateway")


@pytest.fixture
def karen(demo):
    return Customer.objects.get(account_number="004021")


@pytest.fixture
def add_card(karen, actor):
    def add(number=GOOD_CARD, customer=None):
        return card_add(
            customer=customer or karen,
            card_number=number,
            expiry_month=12,
            expiry_year=business_date().year + 2,
            security_code="737",
            name_on_card="Karen Berg",
            actor=actor,
        )

    return add


@pytest.fixture
def ready_order(karen, actor, add_card):
    """Seed steps 1 to 6: Karen's order for 88000, completed, paid by Visa."""

    def build(item_number="88000", card_number=GOOD_CARD, **line):
        order = sales_order_create(customer=karen, actor=actor)
        sales_order_line_add(order_id=order.pk, item_number=item_number, actor=actor, **line)
        sales_order_complete(order_id=order.pk, actor=actor)
        card = add_card(card_number)
        return sales_order_payment_set(
            order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor
        )

    return build


# --- New sales order ------------------------------------------------------------------


def test_new_order_gets_a_sequence_number_and_the_default_ship_to(karen, actor):
    first = sales_order_create(customer=karen, actor=actor)
    second = sales_order_create(customer=karen, actor=actor)

    assert re.fullmatch(r"SO-\d{6}", first.number)
    assert int(second.number[3:]) == int(first.number[3:]) + 1
    assert first.status == SalesOrderStatus.OPEN
    assert first.ship_to.street == "1420 Pine Street"
    assert first.currency == "USD"


def test_blocked_customer_cannot_get_an_order(actor):
    blocked = CustomerFactory(blocked=True)
    with pytest.raises(ValidationError) as excinfo:
        sales_order_create(customer=blocked, actor=actor)
    assert excinfo.value.message_dict == {
        "customer": [f"Customer {blocked.account_number} is blocked and cannot place orders."]
    }
    assert not SalesOrder.objects.filter(customer=blocked).exists()


# --- Item number ----------------------------------------------------------------------


def test_regular_item_line_takes_the_item_price(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    line = sales_order_line_add(order_id=order.pk, item_number="0013", quantity=2, actor=actor)

    assert (line.line_number, line.unit_price, line.amount) == (
        1,
        Decimal("19.99"),
        Decimal("39.98"),
    )
    order.refresh_from_db()
    assert (order.total, order.amount_due) == (Decimal("39.98"), Decimal("39.98"))


def test_continuity_line_is_priced_at_its_first_shipment(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    line = sales_order_line_add(order_id=order.pk, item_number=" 88000 ", actor=actor)

    # 0013 at 17.99 plus 0015 at 9.99 per monthly box
    assert (line.unit_price, line.amount) == (Decimal("27.98"), Decimal("27.98"))
    assert line.continuity_start_date is None


def test_bill_up_front_line_is_priced_at_the_whole_program(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    line = sales_order_line_add(order_id=order.pk, item_number="88001", actor=actor)

    # three shipments of 2 x 0015 at 10.50
    assert line.amount == Decimal("63.00")


@pytest.mark.parametrize(
    ("item_number", "kwargs", "field", "message"),
    [
        ("99999", {}, "item_number", "Item number 99999 does not exist."),
        ("", {}, "item_number", "Enter an item number."),
        ("0013", {"quantity": 0}, "quantity", "Enter a quantity from 1 to 9999."),
        ("0013", {"quantity": "two"}, "quantity", "Enter a quantity from 1 to 9999."),
        ("0013", {"quantity": 10000}, "quantity", "Enter a quantity from 1 to 9999."),
        ("0013", {"quantity": 99999999999}, "quantity", "Enter a quantity from 1 to 9999."),
        (
            "88002",
            {"start_date": datetime.date(9999, 12, 31)},
            "start_date",
            "Enter a date between 01/01/2000 and 12/31/2199.",
        ),
        (
            "0013",
            {"start_date": datetime.date(2030, 1, 1)},
            "start_date",
            "Only a continuity item takes a start date.",
        ),
        (
            "88000",
            {"start_date": datetime.date(2030, 1, 1)},
            "start_date",
            "Program WELLNESS6 starts on the order date; it takes no start date.",
        ),
    ],
)
def test_bad_line_input_is_refused_and_writes_nothing(
    karen, actor, item_number, kwargs, field, message
):
    order = sales_order_create(customer=karen, actor=actor)
    with pytest.raises(ValidationError) as excinfo:
        sales_order_line_add(order_id=order.pk, item_number=item_number, actor=actor, **kwargs)
    assert excinfo.value.message_dict == {field: [message]}
    assert not SalesOrderLine.objects.filter(order=order).exists()


def test_inactive_item_is_refused(karen, actor):
    Item.objects.filter(item_number="0014").update(active=False)
    order = sales_order_create(customer=karen, actor=actor)
    with pytest.raises(ValidationError) as excinfo:
        sales_order_line_add(order_id=order.pk, item_number="0014", actor=actor)
    assert excinfo.value.message_dict == {
        "item_number": ["Item 0014 is not active and cannot be sold."]
    }
    assert not order.lines.exists()


def test_start_date_before_the_order_date_is_refused(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    yesterday = business_date() - datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as excinfo:
        sales_order_line_add(
            order_id=order.pk, item_number="88002", start_date=yesterday, actor=actor
        )
    assert list(excinfo.value.message_dict) == ["start_date"]
    assert not order.lines.exists()


def test_a_line_added_after_complete_requires_complete_again(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    assert sales_order_complete(order_id=order.pk, actor=actor).completed_at is not None

    sales_order_line_add(order_id=order.pk, item_number="0015", actor=actor)

    order.refresh_from_db()
    assert order.completed_at is None
    assert order.total == Decimal("31.99")


def test_removing_a_line_updates_the_totals(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0015", actor=actor)

    order = sales_order_line_remove(order_id=order.pk, line_number=1, actor=actor)

    assert [line.item.item_number for line in order.lines.all()] == ["0015"]
    assert order.total == Decimal("12.00")


# --- Complete and payment -------------------------------------------------------------


def test_complete_fixes_totals_and_amount_due(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0014", actor=actor)

    order = sales_order_complete(order_id=order.pk, actor=actor)

    assert (order.total, order.amount_due) == (Decimal("52.48"), Decimal("52.48"))
    assert order.completed_at is not None


def test_complete_without_lines_is_refused(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    with pytest.raises(ValidationError) as excinfo:
        sales_order_complete(order_id=order.pk, actor=actor)
    assert excinfo.value.messages == ["Add at least one line before completing the order."]
    order.refresh_from_db()
    assert order.completed_at is None


def test_payment_before_complete_is_refused(karen, actor, add_card):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    card = add_card()
    with pytest.raises(ValidationError):
        sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor)
    order.refresh_from_db()
    assert order.payment_method is None


@pytest.mark.parametrize(
    ("method", "card_kind", "field", "message"),
    [
        ("Diners", "own", "payment_method", "Method of payment Diners does not exist."),
        # A NUL names no method (and the database refuses to compare with one): not a 500.
        ("Vi\x00sa", "own", "payment_method", "Method of payment Visa does not exist."),
        ("", "own", "payment_method", "Enter a method of payment."),
        ("Visa", None, "card", "Add a credit card for method of payment Visa."),
        ("Visa", "other customer", "card", "This card does not belong to the customer."),
        (
            "Visa",
            "mastercard",
            "card",
            "Method of payment Visa takes Visa cards only; this card is a Mastercard.",
        ),
        ("Visa", "expired", "card", "This card has expired."),
        (
            "OnAccount",
            "own",
            "payment_method",
            "A continuity program is paid by card: its later shipments are charged to it.",
        ),
    ],
)
def test_bad_payment_line_is_refused(karen, actor, add_card, method, card_kind, field, message):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    cards = {
        None: None,
        "own": lambda: add_card(),
        "other customer": lambda: add_card(customer=CustomerFactory()),
        "mastercard": lambda: add_card("5555 5555 5555 4444"),
        "expired": lambda: CardFactory(customer=karen, expiry_year=2020),
    }
    card = cards[card_kind]() if cards[card_kind] else None

    with pytest.raises(ValidationError) as excinfo:
        sales_order_payment_set(
            order_id=order.pk, method_code=method, card_id=card.pk if card else None, actor=actor
        )

    assert excinfo.value.message_dict == {field: [message]}
    order.refresh_from_db()
    assert (order.payment_method_id, order.payment_card_id) == (None, None)


def test_method_of_payment_is_found_whatever_its_case(ready_order):
    order = ready_order()
    assert order.payment_method.code == "Visa"


# --- Submit ---------------------------------------------------------------------------


def test_submit_charges_the_amount_due_once_and_starts_the_subscription(ready_order, actor):
    order = ready_order()

    order = sales_order_submit(order_id=order.pk, actor=actor)

    assert order.status == SalesOrderStatus.SUBMITTED
    assert order.kind == SalesOrderKind.CONTINUITY_PARENT
    assert order.order_date == business_date()
    payment = Payment.objects.get(sales_order=order)
    assert (payment.status, payment.amount, payment.attempt_number) == (
        PaymentStatus.APPROVED,
        Decimal("27.98"),
        1,
    )
    assert payment.idempotency_key == f"order-{order.pk}-sale-1"
    charged = ledger().get(idempotency_key=payment.idempotency_key)
    assert (charged.approved, charged.amount_minor, charged.reference) == (
        True,
        2798,
        payment.gateway_reference,
    )
    subscription = Subscription.objects.get(parent_order=order)
    assert subscription.card_id == order.payment_card_id
    assert subscription.first_shipment_date == business_date()
    occurrences = list(subscription.occurrences.order_by("sequence"))
    assert [o.sequence for o in occurrences] == [1, 2, 3, 4, 5, 6]
    assert [o.status for o in occurrences] == ["paid"] + ["scheduled"] * 5
    assert occurrences[0].payment_id == payment.pk
    assert all(o.amount == Decimal("27.98") for o in occurrences)
    assert [
        (line.item.item_number, line.quantity, line.unit_price)
        for line in occurrences[0].lines.all()
    ] == [("0013", 1, Decimal("17.99")), ("0015", 1, Decimal("9.99"))]


def test_second_submit_returns_the_order_and_charges_nothing(ready_order, actor):
    order = ready_order()
    sales_order_submit(order_id=order.pk, actor=actor)

    again = sales_order_submit(order_id=order.pk, actor=actor)

    assert again.status == SalesOrderStatus.SUBMITTED
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert ledger().filter(idempotency_key__startswith=f"order-{order.pk}-").count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1


def test_declined_card_keeps_the_order_open_with_the_reason_and_no_subscription(
    ready_order, actor, add_card
):
    from payments.services import PaymentDeclined

    order = ready_order(card_number=SOFT_DECLINE_CARD)

    with pytest.raises(PaymentDeclined) as excinfo:
        sales_order_submit(order_id=order.pk, actor=actor)

    assert excinfo.value.message == (
        "The bank declined the charge. Try again later or use another card."
    )
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    declined = Payment.objects.get(sales_order=order)
    assert (declined.status, declined.decline_code, declined.decline_class) == (
        "declined",
        "do_not_honor",
        "soft",
    )
    assert not Subscription.objects.filter(parent_order=order).exists()

    # The agent changes the card and submits again: a second attempt with its own key.
    good = add_card()
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=good.pk, actor=actor)
    order = sales_order_submit(order_id=order.pk, actor=actor)

    assert order.status == SalesOrderStatus.SUBMITTED
    assert list(
        Payment.objects.filter(sales_order=order)
        .order_by("attempt_number")
        .values_list("attempt_number", "status", "card_id")
    ) == [(1, "declined", declined.card_id), (2, "approved", good.pk)]
    assert (
        ledger().filter(idempotency_key__startswith=f"order-{order.pk}-", approved=True).count()
        == 1
    )


def test_bill_up_front_pays_every_shipment_with_the_one_charge(ready_order, actor):
    order = sales_order_submit(order_id=ready_order("88001").pk, actor=actor)

    payment = Payment.objects.get(sales_order=order)
    assert payment.amount == Decimal("63.00")
    occurrences = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")
    first = business_date() + datetime.timedelta(days=7)
    assert [(o.ship_date >= first, o.status, o.payment_id) for o in occurrences] == [
        (True, OccurrenceStatus.PAID, payment.pk)
    ] * 3
    assert occurrences[0].ship_date == first


def test_open_ended_program_is_planned_up_to_the_horizon(ready_order, actor):
    start = business_date() + datetime.timedelta(days=10)
    order = sales_order_submit(order_id=ready_order("88002", start_date=start).pk, actor=actor)

    subscription = Subscription.objects.get(parent_order=order)
    horizon = business_date() + datetime.timedelta(days=90)
    assert subscription.open_ended is True
    assert subscription.planned_through == horizon
    assert subscription.start_date == start
    dates = list(subscription.occurrences.values_list("ship_date", flat=True))
    assert dates[0] == start
    assert all(day <= horizon for day in dates)
    assert len(dates) in (3, 4)


def test_submit_before_complete_is_refused_and_charges_nothing(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)

    with pytest.raises(ValidationError) as excinfo:
        sales_order_submit(order_id=order.pk, actor=actor)

    assert excinfo.value.messages == ["Complete the order before submitting it."]
    assert not Payment.objects.filter(sales_order=order).exists()
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN


def test_submit_without_payment_is_refused_and_charges_nothing(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)

    with pytest.raises(ValidationError) as excinfo:
        sales_order_submit(order_id=order.pk, actor=actor)

    assert excinfo.value.message_dict == {"payment_method": ["Enter a method of payment."]}
    assert not Payment.objects.filter(sales_order=order).exists()


def test_a_submitted_order_takes_no_more_lines(ready_order, actor):
    order = sales_order_submit(order_id=ready_order().pk, actor=actor)

    with pytest.raises(Conflict) as excinfo:
        sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)

    assert excinfo.value.message == (
        f"Sales order {order.number} can no longer be changed: its status is Submitted."
    )
    assert order.lines.count() == 1


def test_a_price_change_after_the_line_was_added_is_refused_at_submit(ready_order, actor):
    from continuity.models import ProgramEventLine

    order = ready_order()
    ProgramEventLine.objects.filter(
        event__program__code="WELLNESS6", item__item_number="0013"
    ).update(unit_price=Decimal("18.99"))

    with pytest.raises(Conflict):
        sales_order_submit(order_id=order.pk, actor=actor)

    assert not Payment.objects.filter(sales_order=order).exists()
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN


def test_standard_order_paid_on_account_is_submitted_without_a_charge(karen, actor):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0015", actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    sales_order_payment_set(order_id=order.pk, method_code="OnAccount", actor=actor)

    order = sales_order_submit(order_id=order.pk, actor=actor)

    assert (order.status, order.kind) == (SalesOrderStatus.SUBMITTED, SalesOrderKind.STANDARD)
    assert not Payment.objects.filter(sales_order=order).exists()


def test_a_line_whose_amount_the_books_cannot_hold_is_refused_on_its_quantity(karen, actor):
    """A price set high in the admin times a large quantity would overflow the money
    columns: refused with a message, nothing written."""
    Item.objects.create(item_number="BIG", name="Very dear", unit_price=Decimal("9999999.99"))
    order = sales_order_create(customer=karen, actor=actor)

    with pytest.raises(ValidationError) as excinfo:
        sales_order_line_add(order_id=order.pk, item_number="BIG", quantity=9999, actor=actor)

    assert excinfo.value.message_dict == {
        "quantity": [
            "The amount would be over 9,999,999,999.99, the largest amount the books can record."
        ]
    }
    assert not order.lines.exists()
    line = sales_order_line_add(order_id=order.pk, item_number="BIG", quantity=1000, actor=actor)
    assert line.amount == Decimal("9999999990.00")


def test_a_new_start_date_that_reprices_the_order_past_the_books_is_refused(karen, actor):
    """A start date re-quotes the program at today's prices: when those rose so far that
    the order's total would overflow, the date is refused and the line keeps its price."""
    Item.objects.create(item_number="BIG", name="Very dear", unit_price=Decimal("9999999.99"))
    order = sales_order_create(customer=karen, actor=actor)
    line = sales_order_line_add(order_id=order.pk, item_number="88002", actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="BIG", quantity=999, actor=actor)
    ProgramEventLine.objects.filter(event__program__code="PROTEINMONTHLY").update(
        unit_price=Decimal("20000000.00")
    )
    start = business_date() + datetime.timedelta(days=3)

    with pytest.raises(ValidationError) as excinfo:
        sales_order_line_set_start_date(
            order_id=order.pk, line_number=line.line_number, start_date=start, actor=actor
        )

    assert excinfo.value.message_dict == {
        "start_date": [
            "The amount would be over 9,999,999,999.99, the largest amount the books can record."
        ]
    }
    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.amount, line.continuity_start_date) == (Decimal("22.00"), None)
    assert order.total == Decimal("9990000012.01")
