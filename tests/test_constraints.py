"""The database itself refuses every write that would break a rule protecting money or
orders, whatever code path makes it.

Each test builds valid rows, then makes the violating write with the ORM in a way that
skips all Python validation (objects.create, save, bulk_create, queryset.update), and
checks that PostgreSQL refused it by name and that nothing was written. The write runs in
its own savepoint (`transaction.atomic()` inside `pytest.raises`) so the test can keep
using the connection after the refusal.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from continuity.models import (
    ContinuityParameters,
    HoldReason,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    ProgramEventLine,
    Subscription,
    SubscriptionStatus,
)
from customers.models import Address, AddressKind, Customer
from orders.models import Item, SalesOrder, SalesOrderKind, SalesOrderLine, SalesOrderStatus
from payments.models import (
    Card,
    DeclineClass,
    Payment,
    PaymentOperation,
    PaymentStatus,
)
from tests.factories import (
    AddressFactory,
    CardFactory,
    CustomerFactory,
    ItemFactory,
    OccurrenceFactory,
    OccurrenceLineFactory,
    PaymentFactory,
    ProgramEventLineFactory,
    SalesOrderFactory,
    SalesOrderLineFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

LIVE_SALE_STATUSES = [PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.APPROVED]


def declined_sale(**kwargs) -> Payment:
    return PaymentFactory(
        status=PaymentStatus.DECLINED,
        decline_code="do_not_honor",
        decline_class=DeclineClass.HARD,
        gateway_reference="",
        **kwargs,
    )


def paid_occurrence(**kwargs) -> Occurrence:
    """A shipment charged by an approved sale, ready for its child order."""
    occurrence = OccurrenceFactory(**kwargs)
    occurrence.payment = PaymentFactory(occurrence=occurrence)
    occurrence.status = OccurrenceStatus.PAID
    occurrence.save(update_fields=["payment", "status"])
    return occurrence


def child_order_for(occurrence: Occurrence) -> SalesOrder:
    parent = occurrence.subscription.parent_order
    return SalesOrderFactory(
        customer=parent.customer,
        kind=SalesOrderKind.CONTINUITY_CHILD,
        parent=parent,
        submitted=True,
    )


# --- Unique document numbers ----------------------------------------------------------------


def test_database_refuses_duplicate_sales_order_number():
    order = SalesOrderFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrder.objects.create(number=order.number, customer=CustomerFactory(), currency="USD")

    assert "Key (number)=" in str(excinfo.value)
    assert SalesOrder.objects.filter(number=order.number).count() == 1


def test_database_refuses_duplicate_customer_account_number():
    customer = CustomerFactory(account_number="774021")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Customer.objects.create(account_number="774021", first_name="Other", last_name="Person")

    assert "Key (account_number)=(774021)" in str(excinfo.value)
    assert list(Customer.objects.filter(account_number="774021")) == [customer]


def test_database_refuses_duplicate_item_number():
    item = ItemFactory(item_number="7713")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Item.objects.create(item_number="7713", name="Impostor", unit_price=Decimal("1.00"))

    assert "Key (item_number)=(7713)" in str(excinfo.value)
    assert list(Item.objects.filter(item_number="7713")) == [item]


def test_database_refuses_empty_customer_account_number_and_item_number():
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Customer.objects.create(account_number="", first_name="No", last_name="Number")
    assert "customer_account_number_not_empty" in str(excinfo.value)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Item.objects.create(item_number="", name="No number", unit_price=Decimal("1.00"))
    assert "item_number_not_empty" in str(excinfo.value)

    assert not Customer.objects.filter(account_number="").exists()
    assert not Item.objects.filter(item_number="").exists()


def test_database_refuses_duplicate_line_number_on_one_order():
    line = SalesOrderLineFactory(line_number=1)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrderLineFactory(order=line.order, line_number=1)

    assert "sales_order_line_number_unique" in str(excinfo.value)
    assert list(line.order.lines.all()) == [line]


# --- Non-negative money --------------------------------------------------------------------


def test_database_refuses_negative_item_unit_price():
    item = ItemFactory(unit_price=Decimal("10.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Item.objects.filter(pk=item.pk).update(unit_price=Decimal("-0.01"))

    assert "item_unit_price_gte_0" in str(excinfo.value)
    item.refresh_from_db()
    assert item.unit_price == Decimal("10.00")


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        # A total is its parts (sales_order_total_adds_up): a negative one moves its
        # subtotal too, and the subtotal's own rule may be the one PostgreSQL names.
        (
            {"total": Decimal("-1.00"), "subtotal": Decimal("-1.00")},
            ("sales_order_total_gte_0", "sales_order_subtotal_gte_0"),
        ),
        ({"amount_due": Decimal("-1.00")}, ("sales_order_amount_due_gte_0",)),
    ],
)
def test_database_refuses_negative_sales_order_total_or_amount_due(changes, constraint):
    order = SalesOrderFactory(total=Decimal("30.00"), amount_due=Decimal("15.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrder.objects.filter(pk=order.pk).update(**changes)

    assert any(name in str(excinfo.value) for name in constraint)
    order.refresh_from_db()
    assert (order.total, order.amount_due) == (Decimal("30.00"), Decimal("15.00"))


def test_database_refuses_sales_order_line_with_negative_price():
    order = SalesOrderFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        # The amount matches quantity x price, so only the price rule is broken.
        SalesOrderLine.objects.create(
            order=order,
            line_number=1,
            item=ItemFactory(),
            quantity=2,
            unit_price=Decimal("-5.00"),
            amount=Decimal("-10.00"),
        )

    assert "sales_order_line_price_gte_0" in str(excinfo.value)
    assert not order.lines.exists()


def test_database_refuses_negative_occurrence_amount():
    occurrence = OccurrenceFactory(amount=Decimal("15.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        # With its subtotal, as an amount is its parts (occurrence_amount_adds_up).
        occurrence.amount = occurrence.subtotal = Decimal("-15.00")
        occurrence.save(update_fields=["amount", "subtotal"])

    assert any(
        name in str(excinfo.value)
        for name in ("occurrence_amount_gte_0", "occurrence_subtotal_gte_0")
    )
    occurrence.refresh_from_db()
    assert occurrence.amount == Decimal("15.00")


def test_database_refuses_occurrence_line_with_negative_price():
    occurrence = OccurrenceFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        OccurrenceLine.objects.bulk_create(
            [
                OccurrenceLine(
                    occurrence=occurrence,
                    line_number=1,
                    item=ItemFactory(),
                    quantity=1,
                    unit_price=Decimal("-15.00"),
                    amount=Decimal("-15.00"),
                    gross_amount=Decimal("-15.00"),
                )
            ]
        )

    assert "occurrence_line_price_gte_0" in str(excinfo.value)
    assert not occurrence.lines.exists()


def test_database_refuses_program_event_line_with_negative_price():
    line = ProgramEventLineFactory(unit_price=Decimal("15.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        ProgramEventLine.objects.create(
            event=line.event, item=ItemFactory(), quantity=1, unit_price=Decimal("-0.01")
        )

    assert "program_event_line_price_gte_0" in str(excinfo.value)
    assert list(line.event.lines.all()) == [line]


# --- Positive quantities -------------------------------------------------------------------


def test_database_refuses_sales_order_line_with_zero_quantity():
    line = SalesOrderLineFactory(quantity=2, unit_price=Decimal("10.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        # Amount kept consistent (0 x 10.00 = 0) so only the quantity rule is broken.
        SalesOrderLine.objects.filter(pk=line.pk).update(
            quantity=0, amount=Decimal("0.00"), gross_amount=Decimal("0.00")
        )

    assert "sales_order_line_qty_gt_0" in str(excinfo.value)
    line.refresh_from_db()
    assert (line.quantity, line.amount) == (2, Decimal("20.00"))


def test_database_refuses_occurrence_line_with_zero_quantity():
    occurrence = OccurrenceFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        OccurrenceLine.objects.create(
            occurrence=occurrence,
            line_number=1,
            item=ItemFactory(),
            quantity=0,
            unit_price=Decimal("15.00"),
            amount=Decimal("0.00"),
        )

    assert "occurrence_line_qty_gt_0" in str(excinfo.value)
    assert not occurrence.lines.exists()


def test_database_refuses_program_event_line_with_zero_quantity():
    line = ProgramEventLineFactory(quantity=1)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        ProgramEventLine.objects.filter(pk=line.pk).update(quantity=0)

    assert "program_event_line_qty_gt_0" in str(excinfo.value)
    line.refresh_from_db()
    assert line.quantity == 1


def test_database_refuses_subscription_with_zero_quantity():
    subscription = SubscriptionFactory(quantity=1)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(quantity=0)

    assert "subscription_qty_gt_0" in str(excinfo.value)
    subscription.refresh_from_db()
    assert subscription.quantity == 1


# --- Amount = quantity x unit price --------------------------------------------------------


def test_database_refuses_sales_order_line_whose_amount_is_not_quantity_times_price():
    order = SalesOrderFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrderLine.objects.create(
            order=order,
            line_number=1,
            item=ItemFactory(),
            quantity=3,
            unit_price=Decimal("10.00"),
            amount=Decimal("10.00"),
        )

    assert "sales_order_line_amount_is_qty_times_price" in str(excinfo.value)
    assert not order.lines.exists()


def test_database_refuses_quantity_change_that_leaves_sales_order_line_amount_stale():
    line = SalesOrderLineFactory(quantity=1, unit_price=Decimal("10.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrderLine.objects.filter(pk=line.pk).update(quantity=5)

    assert "sales_order_line_amount_is_qty_times_price" in str(excinfo.value)
    line.refresh_from_db()
    assert (line.quantity, line.amount) == (1, Decimal("10.00"))


def test_database_refuses_occurrence_line_whose_amount_is_not_quantity_times_price():
    line = OccurrenceLineFactory(quantity=2, unit_price=Decimal("15.00"))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        line.amount = Decimal("15.00")
        line.save(update_fields=["amount"])

    assert "occurrence_line_amount_is_qty_times_price" in str(excinfo.value)
    line.refresh_from_db()
    assert line.amount == Decimal("30.00")


# --- Subscriptions and occurrences ---------------------------------------------------------


def test_database_refuses_second_subscription_for_one_continuity_order_line():
    subscription = SubscriptionFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Subscription.objects.create(
            customer=subscription.customer,
            parent_order=subscription.parent_order,
            parent_line=subscription.parent_line,
            program=subscription.program,
            item=subscription.item,
            start_date=subscription.start_date,
            first_shipment_date=subscription.first_shipment_date,
            payment_method=subscription.payment_method,
            card=subscription.card,
            currency="USD",
        )

    assert "Key (parent_line_id)=" in str(excinfo.value)
    assert list(Subscription.objects.filter(parent_line=subscription.parent_line)) == [subscription]


def test_database_refuses_subscription_whose_first_shipment_is_before_its_start():
    subscription = SubscriptionFactory(start_date=datetime.date(2026, 3, 1))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(
            first_shipment_date=datetime.date(2026, 2, 28)
        )

    assert "subscription_first_shipment_after_start" in str(excinfo.value)
    subscription.refresh_from_db()
    assert subscription.first_shipment_date == datetime.date(2026, 3, 1)


def test_database_refuses_duplicate_occurrence_sequence_in_one_subscription():
    occurrence = OccurrenceFactory(sequence=1)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Occurrence.objects.create(
            subscription=occurrence.subscription,
            sequence=1,
            event_number=1,
            ship_date=occurrence.ship_date + datetime.timedelta(days=30),
            amount=Decimal("15.00"),
            currency="USD",
        )

    assert "occurrence_sequence_unique" in str(excinfo.value)
    assert list(occurrence.subscription.occurrences.all()) == [occurrence]


def test_same_occurrence_sequence_is_allowed_in_different_subscriptions():
    first = OccurrenceFactory(sequence=1)
    second = OccurrenceFactory(sequence=1)

    assert first.subscription_id != second.subscription_id
    assert Occurrence.objects.filter(sequence=1).count() == 2


def test_database_refuses_duplicate_line_number_on_one_occurrence():
    line = OccurrenceLineFactory(line_number=1)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        OccurrenceLineFactory(occurrence=line.occurrence, line_number=1)

    assert "occurrence_line_number_unique" in str(excinfo.value)
    assert list(line.occurrence.lines.all()) == [line]


def test_database_refuses_second_child_order_line_for_one_occurrence_line():
    occurrence = paid_occurrence()
    occurrence_line = OccurrenceLineFactory(occurrence=occurrence)
    first_child = child_order_for(occurrence)
    first_line = SalesOrderLineFactory(
        order=first_child,
        line_number=1,
        item=occurrence_line.item,
        unit_price=occurrence_line.unit_price,
        occurrence_line=occurrence_line,
    )
    second_child = child_order_for(occurrence)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrderLine.objects.create(
            order=second_child,
            line_number=1,
            item=occurrence_line.item,
            quantity=1,
            unit_price=occurrence_line.unit_price,
            amount=occurrence_line.unit_price,
            occurrence_line=occurrence_line,
        )

    assert "Key (occurrence_line_id)=" in str(excinfo.value)
    assert list(SalesOrderLine.objects.filter(occurrence_line=occurrence_line)) == [first_line]
    assert not second_child.lines.exists()


def test_database_refuses_pointing_an_existing_child_line_at_an_occurrence_line_already_fulfilled():
    occurrence = paid_occurrence()
    occurrence_line = OccurrenceLineFactory(occurrence=occurrence)
    first_line = SalesOrderLineFactory(
        order=child_order_for(occurrence), line_number=1, occurrence_line=occurrence_line
    )
    second_line = SalesOrderLineFactory(order=child_order_for(occurrence), line_number=1)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrderLine.objects.filter(pk=second_line.pk).update(occurrence_line=occurrence_line)

    assert "Key (occurrence_line_id)=" in str(excinfo.value)
    second_line.refresh_from_db()
    assert second_line.occurrence_line_id is None
    assert list(SalesOrderLine.objects.filter(occurrence_line=occurrence_line)) == [first_line]


def test_database_refuses_subscription_on_hold_without_a_reason():
    subscription = SubscriptionFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(
            status=SubscriptionStatus.ON_HOLD, hold_reason=""
        )

    assert "subscription_hold_reason_iff_on_hold" in str(excinfo.value)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.hold_reason) == (SubscriptionStatus.ACTIVE, "")


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED, SubscriptionStatus.COMPLETED],
)
def test_database_refuses_hold_reason_on_a_subscription_not_on_hold(status):
    subscription = SubscriptionFactory(
        status=SubscriptionStatus.ON_HOLD, hold_reason=HoldReason.PAYMENT
    )

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        # Leaving hold without clearing the reason.
        subscription.status = status
        subscription.save(update_fields=["status"])

    assert "subscription_hold_reason_iff_on_hold" in str(excinfo.value)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.hold_reason) == (
        SubscriptionStatus.ON_HOLD,
        HoldReason.PAYMENT,
    )


def test_database_refuses_occurrence_marked_child_created_without_a_child_order():
    occurrence = paid_occurrence()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Occurrence.objects.filter(pk=occurrence.pk).update(status=OccurrenceStatus.CHILD_CREATED)

    assert "occurrence_child_order_iff_created" in str(excinfo.value)
    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.child_order_id) == (OccurrenceStatus.PAID, None)


def test_database_refuses_child_order_on_occurrence_not_marked_child_created():
    occurrence = paid_occurrence()
    child = child_order_for(occurrence)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Occurrence.objects.filter(pk=occurrence.pk).update(child_order=child)

    assert "occurrence_child_order_iff_created" in str(excinfo.value)
    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.child_order_id) == (OccurrenceStatus.PAID, None)


def test_occurrence_with_child_order_and_child_created_status_is_accepted():
    occurrence = paid_occurrence()
    child = child_order_for(occurrence)

    Occurrence.objects.filter(pk=occurrence.pk).update(
        status=OccurrenceStatus.CHILD_CREATED, child_order=child
    )

    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.child_order) == (OccurrenceStatus.CHILD_CREATED, child)


@pytest.mark.parametrize("status", [OccurrenceStatus.PAID, OccurrenceStatus.CHILD_CREATED])
def test_database_refuses_paid_occurrence_without_a_payment(status):
    occurrence = OccurrenceFactory()
    # A child order so that only the payment rule is broken for child_created.
    child = child_order_for(occurrence) if status == OccurrenceStatus.CHILD_CREATED else None

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Occurrence.objects.filter(pk=occurrence.pk).update(status=status, child_order=child)

    assert "occurrence_paid_has_payment" in str(excinfo.value)
    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.payment_id, occurrence.child_order_id) == (
        OccurrenceStatus.SCHEDULED,
        None,
        None,
    )


# --- Payments ------------------------------------------------------------------------------


def test_database_refuses_duplicate_payment_idempotency_key():
    # Both declined, so the live-sale rule is not what refuses the second row.
    payment = declined_sale(idempotency_key="order-1-sale-1")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        declined_sale(sales_order=payment.sales_order, idempotency_key="order-1-sale-1")

    assert "payment_idempotency_key_unique" in str(excinfo.value)
    assert list(Payment.objects.filter(idempotency_key="order-1-sale-1")) == [payment]


def test_database_refuses_empty_payment_idempotency_key():
    order = SalesOrderFactory(submitted=True)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        PaymentFactory(sales_order=order, idempotency_key="")

    assert "payment_idempotency_key_not_empty" in str(excinfo.value)
    assert not Payment.objects.filter(sales_order=order).exists()


@pytest.mark.parametrize("first_status", LIVE_SALE_STATUSES)
@pytest.mark.parametrize("second_status", LIVE_SALE_STATUSES)
def test_database_refuses_second_live_sale_for_one_occurrence(first_status, second_status):
    occurrence = OccurrenceFactory()
    first = PaymentFactory(occurrence=occurrence, status=first_status)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        PaymentFactory(occurrence=occurrence, status=second_status, attempt_number=2)

    assert "payment_one_live_sale_per_occurrence" in str(excinfo.value)
    assert list(Payment.objects.filter(occurrence=occurrence)) == [first]


def test_database_refuses_turning_a_declined_retry_live_while_another_sale_is_live():
    occurrence = OccurrenceFactory()
    approved = PaymentFactory(occurrence=occurrence, status=PaymentStatus.APPROVED)
    declined = declined_sale(occurrence=occurrence, attempt_number=2)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Payment.objects.filter(pk=declined.pk).update(status=PaymentStatus.APPROVED)

    assert "payment_one_live_sale_per_occurrence" in str(excinfo.value)
    assert list(Payment.objects.filter(occurrence=occurrence, status=PaymentStatus.APPROVED)) == [
        approved
    ]


def test_two_declined_sales_for_one_occurrence_are_allowed_and_then_one_live_sale():
    occurrence = OccurrenceFactory()

    declined_sale(occurrence=occurrence, attempt_number=1)
    declined_sale(occurrence=occurrence, attempt_number=2)
    approved = PaymentFactory(occurrence=occurrence, attempt_number=3)

    assert Payment.objects.filter(occurrence=occurrence).count() == 3
    assert list(Payment.objects.filter(occurrence=occurrence).exclude(status="declined")) == [
        approved
    ]


@pytest.mark.parametrize("first_status", LIVE_SALE_STATUSES)
@pytest.mark.parametrize("second_status", LIVE_SALE_STATUSES)
def test_database_refuses_second_live_sale_for_one_order(first_status, second_status):
    order = SalesOrderFactory(submitted=True)
    first = PaymentFactory(sales_order=order, status=first_status)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        PaymentFactory(sales_order=order, status=second_status, attempt_number=2)

    assert "payment_one_live_sale_per_order" in str(excinfo.value)
    assert list(Payment.objects.filter(sales_order=order)) == [first]


def test_two_declined_sales_for_one_order_are_allowed_and_then_one_live_sale():
    order = SalesOrderFactory(submitted=True)

    declined_sale(sales_order=order, attempt_number=1)
    declined_sale(sales_order=order, attempt_number=2)
    approved = PaymentFactory(sales_order=order, attempt_number=3)

    assert Payment.objects.filter(sales_order=order).count() == 3
    assert list(Payment.objects.filter(sales_order=order).exclude(status="declined")) == [approved]


def test_occurrence_sales_do_not_count_as_live_sales_of_their_parent_order():
    occurrence = OccurrenceFactory()
    order_sale = PaymentFactory(sales_order=occurrence.subscription.parent_order)

    occurrence_sale = PaymentFactory(occurrence=occurrence)

    assert occurrence_sale.sales_order == order_sale.sales_order
    assert Payment.objects.filter(sales_order=order_sale.sales_order).count() == 2


@pytest.mark.parametrize("amount", [Decimal("0.00"), Decimal("-15.00")])
def test_database_refuses_payment_amount_that_is_not_positive(amount):
    order = SalesOrderFactory(submitted=True)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        PaymentFactory(sales_order=order, amount=amount)

    assert "payment_amount_gt_0" in str(excinfo.value)
    assert not Payment.objects.filter(sales_order=order).exists()


def test_database_refuses_declined_payment_without_decline_code():
    payment = PaymentFactory(status=PaymentStatus.PENDING)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        payment.status = PaymentStatus.DECLINED
        payment.save(update_fields=["status"])

    assert "payment_declined_has_code" in str(excinfo.value)
    payment.refresh_from_db()
    assert (payment.status, payment.decline_code) == (PaymentStatus.PENDING, "")


@pytest.mark.parametrize("operation", [PaymentOperation.REFUND, PaymentOperation.VOID])
def test_database_refuses_refund_or_void_without_original_sale(operation):
    sale = PaymentFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        PaymentFactory(
            sales_order=sale.sales_order, operation=operation, status=PaymentStatus.APPROVED
        )

    assert "payment_reversal_has_original" in str(excinfo.value)
    assert list(Payment.objects.filter(sales_order=sale.sales_order)) == [sale]


@pytest.mark.parametrize("operation", [PaymentOperation.REFUND, PaymentOperation.VOID])
def test_refund_or_void_referencing_its_sale_is_accepted(operation):
    sale = PaymentFactory()

    reversal = PaymentFactory(
        sales_order=sale.sales_order, operation=operation, original=sale, attempt_number=1
    )

    assert list(sale.reversals.all()) == [reversal]


# --- Parameters, cards, addresses ----------------------------------------------------------


def test_database_refuses_a_second_parameters_row():
    ContinuityParameters.load()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        ContinuityParameters.objects.create(id=2)

    assert "continuity_parameters_single_row" in str(excinfo.value)
    assert list(ContinuityParameters.objects.values_list("id", flat=True)) == [1]


@pytest.mark.parametrize("last4", ["123", "12a4", "12 4", "abcd"])
def test_database_refuses_card_last4_that_is_not_four_digits(last4):
    card = CardFactory(last4="1111")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Card.objects.filter(pk=card.pk).update(last4=last4)

    assert "card_last4_digits" in str(excinfo.value)
    card.refresh_from_db()
    assert card.last4 == "1111"


@pytest.mark.parametrize("month", [0, 13])
def test_database_refuses_card_expiry_month_outside_1_to_12(month):
    customer = CustomerFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        CardFactory(customer=customer, expiry_month=month)

    assert "card_expiry_month_1_12" in str(excinfo.value)
    assert not Card.objects.filter(customer=customer).exists()


def test_database_refuses_second_card_with_the_same_gateway_token():
    card = CardFactory(token="tok_shared")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        CardFactory(token="tok_shared")

    assert "Key (token)=(tok_shared)" in str(excinfo.value)
    assert list(Card.objects.filter(token="tok_shared")) == [card]


def test_database_refuses_second_default_address_of_one_kind_for_one_customer():
    default = AddressFactory(kind=AddressKind.SHIPPING, is_default=True)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Address.objects.create(
            customer=default.customer,
            kind=AddressKind.SHIPPING,
            street="2 Other Street",
            city="Testville",
            postal_code="12345",
            is_default=True,
        )

    assert "address_one_default_per_kind" in str(excinfo.value)
    assert list(Address.objects.filter(customer=default.customer)) == [default]


def test_one_default_address_of_each_kind_and_further_non_defaults_are_allowed():
    shipping = AddressFactory(kind=AddressKind.SHIPPING, is_default=True)
    customer = shipping.customer

    AddressFactory(customer=customer, kind=AddressKind.BILLING, is_default=True)
    AddressFactory(customer=customer, kind=AddressKind.SHIPPING, is_default=False)

    assert customer.addresses.count() == 3
    assert customer.addresses.filter(is_default=True).count() == 2


# --- Order kinds and submission ------------------------------------------------------------


def test_database_refuses_child_order_without_a_parent():
    customer = CustomerFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrderFactory(customer=customer, kind=SalesOrderKind.CONTINUITY_CHILD, parent=None)

    assert "sales_order_parent_only_on_child" in str(excinfo.value)
    assert not SalesOrder.objects.filter(customer=customer).exists()


@pytest.mark.parametrize("kind", [SalesOrderKind.STANDARD, SalesOrderKind.CONTINUITY_PARENT])
def test_database_refuses_parent_on_an_order_that_is_not_a_child(kind):
    parent = SalesOrderFactory(kind=SalesOrderKind.CONTINUITY_PARENT, submitted=True)
    order = SalesOrderFactory(customer=parent.customer, kind=kind)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        order.parent = parent
        order.save(update_fields=["parent"])

    assert "sales_order_parent_only_on_child" in str(excinfo.value)
    order.refresh_from_db()
    assert order.parent_id is None
    assert not parent.child_orders.exists()


def test_database_refuses_submitted_order_without_submitted_at():
    order = SalesOrderFactory(status=SalesOrderStatus.OPEN)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SalesOrder.objects.filter(pk=order.pk).update(status=SalesOrderStatus.SUBMITTED)

    assert "sales_order_submitted_has_date" in str(excinfo.value)
    order.refresh_from_db()
    assert (order.status, order.submitted_at) == (SalesOrderStatus.OPEN, None)


def test_submitted_order_with_submitted_at_is_accepted():
    order = SalesOrderFactory(status=SalesOrderStatus.OPEN)

    SalesOrder.objects.filter(pk=order.pk).update(
        status=SalesOrderStatus.SUBMITTED, submitted_at=timezone.now()
    )

    order.refresh_from_db()
    assert order.status == SalesOrderStatus.SUBMITTED
    assert order.submitted_at is not None
