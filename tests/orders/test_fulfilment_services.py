"""The services behind the warehouse's confirmations: partial and final shipments, their
invoices adding up to the order to the cent, replays, refusals that write nothing, and
two confirmations that meet on one order (two real connections)."""

import datetime
import re
import threading
from decimal import Decimal
from random import Random

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict, NotFound
from core.models import Notification
from orders.fulfilment.invoicing import invoice_price
from orders.fulfilment.services import (
    ShipmentConfirmation,
    sales_order_release,
    warehouse_shipment_check,
    warehouse_shipment_record,
)
from orders.models import (
    Invoice,
    InvoiceLine,
    SalesOrder,
    SalesOrderLine,
    WarehouseShipment,
    WarehouseShipmentLine,
)

ACTOR = Actor.job("warehouse-test")


def confirm(order, reference, lines, *, carrier="UPS", tracking="1Z999", date=None):
    return ShipmentConfirmation(
        order.number, reference, carrier, tracking, date or business_date(), tuple(lines)
    )


def rows():
    return (
        WarehouseShipment.objects.count(),
        WarehouseShipmentLine.objects.count(),
        Invoice.objects.count(),
        InvoiceLine.objects.count(),
        Notification.objects.filter(kind="order_shipped").count(),
        list(SalesOrderLine.objects.order_by("pk").values_list("shipped_quantity", flat=True)),
        list(SalesOrder.objects.order_by("pk").values_list("status", flat=True)),
    )


@pytest.mark.django_db
def test_a_partial_shipment_leaves_the_rest_open_and_the_last_one_completes_the_order(
    child_order, carriers
):
    child = child_order()
    first = warehouse_shipment_record(
        confirm(child, "WH-1", [(1, 1, "0013")]), source="api", actor=ACTOR
    )
    child.refresh_from_db()
    assert (first.created, child.status) == (True, "partially_shipped")
    assert list(child.lines.values_list("line_number", "shipped_quantity")) == [(1, 1), (2, 0)]
    first_invoice = first.shipment.invoice
    assert first_invoice.total == Decimal("17.99")
    assert re.fullmatch(r"INV-\d{6}", first_invoice.number)
    second = warehouse_shipment_record(
        confirm(child, "WH-2", [(2, 1, "")]), source="csv", actor=ACTOR
    )
    child.refresh_from_db()
    # Its own sequence: the next number (PostgreSQL's sequences outlive a test's rollback).
    assert second.shipment.invoice.number == f"INV-{int(first_invoice.number[4:]) + 1:06d}"
    assert child.status == "completed"
    assert sum(invoice.total for invoice in child.invoices.all()) == child.total
    notification = Notification.objects.get(key=f"order_shipped:shipment:{first.shipment.pk}")
    assert notification.context["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999"
    assert notification.context["rest_to_follow"] is True


@pytest.mark.django_db
def test_the_same_confirmation_again_writes_nothing_and_other_content_is_refused(
    child_order, carriers
):
    child = child_order()
    original = warehouse_shipment_record(
        confirm(child, "WH-1", [(1, 1, "")]), source="api", actor=ACTOR
    )
    before = rows()
    replay = warehouse_shipment_record(
        confirm(child, " WH-1 ", [(1, 1, "")], carrier="ups"), source="api", actor=ACTOR
    )
    assert (replay.created, replay.shipment.pk) == (False, original.shipment.pk)
    assert warehouse_shipment_check(confirm(child, "WH-1", [(1, 1, "")])).created is False
    with pytest.raises(Conflict) as excinfo:
        warehouse_shipment_record(
            confirm(child, "WH-1", [(1, 1, "")], tracking="OTHER"), source="api", actor=ACTOR
        )
    assert excinfo.value.message == (
        f"Warehouse shipment WH-1 is already recorded, for sales order {child.number}, with "
        "other content."
    )
    assert rows() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"reference": ""}, "warehouse_shipment_id", "Enter the warehouse's shipment id."),
        (
            {"reference": "x" * 65},
            "warehouse_shipment_id",
            "A warehouse shipment id has at most 64 characters.",
        ),
        ({"carrier": "DHL"}, "carrier", "No active carrier has the code DHL."),
        (
            {"carrier": "UPS" + "X" * 30},
            "carrier",
            "No active carrier has the code UPSXXXXXXXXXXXXXXXXX.",
        ),
        ({"carrier": ""}, "carrier", "Enter the carrier's code."),
        ({"tracking": " "}, "tracking_number", "Enter the tracking number."),
        ({"date": None}, "shipped_date", "Enter the shipped date."),
        ({"date": "future"}, "shipped_date", "The shipped date cannot be in the future."),
        ({"lines": []}, "lines", "A shipment ships at least one line."),
        (
            {"lines": [(1, 1, ""), (1, 1, "")]},
            "lines",
            "Each order line appears once in a shipment.",
        ),
        ({"lines": [(1, 0, "")]}, "lines", "Each quantity shipped is at least 1."),
        ({"lines": [(9, 1, "")]}, "lines", "Sales order {number} has no line 9."),
        ({"lines": [(1, 2, "")]}, "lines", "Line 1 has 1 left to ship, not 2."),
        ({"lines": [(1, 1, "0015")]}, "lines", "Line 1 is item 0013, not 0015."),
    ],
)
def test_a_bad_confirmation_names_its_field_and_writes_nothing(
    child_order, carriers, change, field, message
):
    child = child_order()
    values = {"reference": "WH-1", "carrier": "UPS", "tracking": "1Z", "date": business_date()}
    values.update(change)
    if values["date"] == "future":
        values["date"] = business_date() + datetime.timedelta(days=2)
    lines = values.pop("lines", [(1, 1, "")])
    confirmation = ShipmentConfirmation(
        child.number,
        values["reference"],
        values["carrier"],
        values["tracking"],
        values["date"],
        tuple(lines),
    )
    before = rows()
    with pytest.raises(ValidationError) as excinfo:
        warehouse_shipment_record(confirmation, source="api", actor=ACTOR)
    assert excinfo.value.message_dict[field] == [message.format(number=child.number)]
    assert rows() == before


@pytest.mark.django_db
def test_an_order_not_released_or_unknown_cannot_ship(child_order, carriers):
    from continuity.models import ContinuityParameters

    parameters = ContinuityParameters.load()
    parameters.child_order_release = "by_supervisor"
    parameters.save()
    child = child_order()
    before = rows()
    with pytest.raises(Conflict) as excinfo:
        warehouse_shipment_record(confirm(child, "WH-1", [(1, 1, "")]), source="api", actor=ACTOR)
    assert (
        excinfo.value.message == f"Sales order {child.number} is not released to the warehouse yet."
    )
    with pytest.raises(NotFound):
        warehouse_shipment_record(
            ShipmentConfirmation("SO-999999", "WH-1", "UPS", "1Z", business_date(), ((1, 1, ""),)),
            source="api",
            actor=ACTOR,
        )
    assert rows() == before
    sales_order_release(order_id=child.pk, actor=ACTOR)
    assert warehouse_shipment_record(
        confirm(child, "WH-1", [(1, 1, "")]), source="api", actor=ACTOR
    ).created


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_of_the_last_units_that_meet_ship_them_once(child_order, carriers):
    """The first holds the order's row; the second waits for it, then finds nothing left
    of line 1 to ship and writes nothing."""
    child = child_order()
    outcome = {}
    done = threading.Event()

    def second():
        try:
            warehouse_shipment_record(
                confirm(child, "WH-B", [(1, 1, "")], tracking="B"), source="api", actor=ACTOR
            )
            outcome["second"] = "recorded"
        except ValidationError as error:
            outcome["second"] = error.message_dict["lines"]
        finally:
            connection.close()
            done.set()

    with transaction.atomic():
        warehouse_shipment_record(
            confirm(child, "WH-A", [(1, 1, "")], tracking="A"), source="api", actor=ACTOR
        )
        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(1.0)  # blocked on the order's row
    thread.join(10)
    assert outcome["second"] == ["Line 1 has 0 left to ship, not 1."]
    assert list(WarehouseShipment.objects.values_list("warehouse_reference", flat=True)) == ["WH-A"]
    assert Invoice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_warehouse_id_sent_for_two_orders_at_once_is_recorded_once(child_order, carriers):
    first_child = child_order()
    second_child = child_order()
    outcome = {}
    done = threading.Event()

    def other_order():
        try:
            warehouse_shipment_record(
                confirm(second_child, "WH-SAME", [(1, 1, "")]), source="api", actor=ACTOR
            )
            outcome["other"] = "recorded"
        except Conflict as error:
            outcome["other"] = error.message
        finally:
            connection.close()
            done.set()

    with transaction.atomic():
        warehouse_shipment_record(
            confirm(first_child, "WH-SAME", [(1, 1, "")]), source="api", actor=ACTOR
        )
        thread = threading.Thread(target=other_order)
        thread.start()
        assert not done.wait(1.0)  # waits on the unique warehouse id
    thread.join(10)
    assert outcome["other"] == (
        f"Warehouse shipment WH-SAME is already recorded, for sales order "
        f"{first_child.number}, with other content."
    )
    second_child.refresh_from_db()
    assert second_child.status == "released"
    assert WarehouseShipment.objects.count() == 1


# --- The invoices of an order add up to it, to the cent ------------------------------------


class _Line:
    def __init__(self, pk, quantity, unit_price, tax, include_tax):
        self.pk = pk
        self.quantity = quantity
        self.unit_price = unit_price
        self.amount = unit_price * quantity
        self.tax_amount = tax
        self.gross_amount = self.amount if include_tax else self.amount + tax


class _Order:
    currency = "USD"
    delivery_amount = Decimal("5.95")
    delivery_tax_rate = Decimal("10.2500")
    delivery_tax_amount = Decimal("0.61")

    def __init__(self, include_tax):
        self.prices_include_tax = include_tax


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 7),
            st.decimals("0.01", "99.99", places=2),
            st.decimals("0.00", "30.00", places=2),
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_invoices_of_any_split_add_up_to_the_order(lines_spec, include_tax, seed):
    random = Random(seed)
    order = _Order(include_tax)
    lines = [
        _Line(pk, quantity, price, tax, include_tax)
        for pk, (quantity, price, tax) in enumerate(lines_spec, start=1)
    ]
    left = {line.pk: line.quantity for line in lines}
    billed: dict[int, tuple[int, Decimal, Decimal, Decimal]] = {}
    totals = [Decimal("0"), Decimal("0"), Decimal("0")]  # amount, tax, total
    first = True
    while any(left.values()):
        shipped = []
        for line in lines:
            if left[line.pk]:
                quantity = random.randint(0, left[line.pk])
                if quantity:
                    shipped.append((line, quantity))
        if not shipped:
            continue
        price = invoice_price(order, shipped, billed=billed, first_invoice=first)
        first = False
        for part in price.lines:
            left[part.order_line.pk] -= part.quantity
            q, amount, tax, gross = billed.get(part.order_line.pk, (0, 0, 0, 0))
            billed[part.order_line.pk] = (
                q + part.quantity,
                amount + part.amount,
                tax + part.tax_amount,
                gross + part.gross_amount,
            )
            assert part.amount == part.order_line.unit_price * part.quantity
            assert part.tax_amount >= 0
        totals[0] += price.subtotal
        totals[1] += price.tax_amount
        totals[2] += price.total
    goods = sum(line.amount for line in lines)
    tax = sum(line.tax_amount for line in lines) + order.delivery_tax_amount
    assert (totals[0], totals[1]) == (goods, tax)
    assert totals[2] == goods + order.delivery_amount + (0 if include_tax else tax)


def test_a_small_tax_shipped_unit_by_unit_is_never_billed_negative():
    order = _Order(include_tax=False)
    line = _Line(1, 7, Decimal("1.00"), Decimal("0.05"), include_tax=False)
    billed: dict = {}
    taxes = []
    for shipment in range(7):
        price = invoice_price(order, [(line, 1)], billed=billed, first_invoice=shipment == 0)
        part = price.lines[0]
        taxes.append(part.tax_amount)
        q, amount, tax, gross = billed.get(1, (0, 0, 0, 0))
        billed[1] = (q + 1, amount + part.amount, tax + part.tax_amount, gross + part.gross_amount)
    assert taxes == [Decimal(t) for t in ("0.01", "0.00", "0.01", "0.01", "0.01", "0.00", "0.01")]
    assert sum(taxes) == Decimal("0.05")
