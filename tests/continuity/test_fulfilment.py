"""Continuity's part in fulfilment: when child orders are released, a shipment whose
child order is not released yet can still be skipped or cancelled (its child order
cancelled, its charge refunded once), one released cannot, and a parent order closes
when its program is over and every child order is invoiced or cancelled."""

import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from continuity.fulfilment import child_order_charges, parent_orders_close
from continuity.models import ContinuityParameters, Occurrence, PaymentAllocation
from continuity.presenters import effect_text
from continuity.subscription_actions.cancel import (
    cancel_preview,
    reactivate_preview,
    subscription_cancel,
)
from continuity.subscription_actions.shipments import skip_preview, subscription_skip_shipment
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.models import AuditEntry
from orders.fulfilment.services import (
    ShipmentConfirmation,
    sales_order_release,
    warehouse_shipment_record,
)
from orders.models import Carrier, SalesOrder
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment
from tests.batch.conftest import days
from tests.continuity.test_subscription_actions import (
    refunds_for,
    run_child_orders,
    run_payments,
    shipments,
    snapshot,
    subscription_of,
)

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("fulfilment-test")


def release_setting(mode, lead_days=2):
    parameters = ContinuityParameters.load()
    parameters.child_order_release = mode
    parameters.release_lead_days = lead_days
    parameters.save()


def ship_all(order, reference):
    Carrier.objects.get_or_create(code="UPS", defaults={"name": "UPS"})
    lines = tuple((line.line_number, line.quantity, "") for line in order.lines.all())
    return warehouse_shipment_record(
        ShipmentConfirmation(
            order.number, reference, "UPS", f"1Z{reference}", business_date(), lines
        ),
        source="api",
        actor=ACTOR,
    )


# --- Release -----------------------------------------------------------------------------


def test_at_creation_the_job_writes_child_orders_released(sell, today):
    order = sell()
    run = run_child_orders(today)
    child = shipments(order)[0].child_order
    assert (child.status, child.released_at is not None) == ("released", True)
    assert list(
        AuditEntry.objects.filter(object_type="orders.salesorder", object_id=str(child.pk))
        .order_by("id")
        .values_list("action", "from_status", "to_status")
    ) == [("order_created", "", "submitted"), ("status_change", "submitted", "released")]
    assert run.summary.get("released") == 0  # released as written, not after the run


def test_before_the_ship_date_the_job_releases_within_the_lead_days(sell, today):
    release_setting("before_ship_date", lead_days=2)
    order = sell()
    second = shipments(order)[1]
    run_child_orders(today)
    first_child = shipments(order)[0].child_order
    assert first_child.status == "released"  # its ship date is today: within 2 days
    # The second shipment's child order, created 3 days ahead, waits for its release.
    params = ContinuityParameters.load()
    params.child_order_lead_days = 3
    params.save()
    run_payments(second.ship_date - days(5))
    run = run_child_orders(second.ship_date - days(3))
    second.refresh_from_db()
    assert (second.status, second.child_order.status) == ("child_created", "submitted")
    assert run.summary["released"] == 0
    run = run_child_orders(second.ship_date - days(2))
    second.child_order.refresh_from_db()
    assert second.child_order.status == "released"
    assert run.summary["released"] == 1
    assert (
        "Released to the warehouse: 1" in run.summary_line if hasattr(run, "summary_line") else True
    )


def test_by_supervisor_the_job_never_releases(sell, today):
    release_setting("by_supervisor")
    order = sell()
    run_child_orders(today)
    run_child_orders(today + days(1))
    child = shipments(order)[0].child_order
    assert child.status == "submitted"
    sales_order_release(order_id=child.pk, actor=ACTOR)
    child.refresh_from_db()
    assert child.status == "released"
    with pytest.raises(Conflict):
        sales_order_release(order_id=child.pk, actor=ACTOR)


# --- A shipment whose child order is not released yet --------------------------------------


def test_skipping_a_shipment_with_an_unreleased_child_order_cancels_it_and_refunds_once(
    sell, today
):
    release_setting("by_supervisor")
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    child = first.child_order
    preview = skip_preview(subscription_id=first.subscription_id, occurrence_id=first.pk)
    assert [e.what for e in preview.effects] == ["cancel_child_order", "skip", "refund"]
    assert effect_text(preview.effects[0], "USD") == (
        f"Child order {child.number} of shipment 1 is cancelled: it is not released to the "
        "warehouse yet."
    )
    assert preview.refund_total == first.amount == Decimal("27.98")

    subscription_skip_shipment(
        subscription_id=first.subscription_id,
        occurrence_id=first.pk,
        actor=ACTOR,
        reason_code="TRAVEL",
    )

    first.refresh_from_db()
    child.refresh_from_db()
    assert (first.status, first.child_order_id, child.status) == ("skipped", None, "cancelled")
    assert list(child.lines.values_list("occurrence_line_id", flat=True)) == [None, None]
    assert refunds_for(first) == [("approved", Decimal("27.98"))]
    entry = AuditEntry.objects.filter(
        object_type="continuity.occurrence", object_id=str(first.pk), to_status="skipped"
    ).get()
    assert entry.details == {"child_order_cancelled": child.number}
    # A second pass refunds nothing more, and the job does not make it a child order again.
    refunds_before = Payment.objects.filter(operation="refund").count()
    run_payments(today)
    run_child_orders(today)
    assert Payment.objects.filter(operation="refund").count() == refunds_before
    assert SalesOrder.objects.filter(parent=order).count() == 1


def test_a_released_child_order_keeps_its_shipment_and_the_previews_say_so(sell, today):
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    before = snapshot(order)
    with pytest.raises(Conflict) as excinfo:
        skip_preview(subscription_id=first.subscription_id, occurrence_id=first.pk)
    assert excinfo.value.message == (
        f"The shipment of {first.ship_date:%m/%d/%Y} has its child order "
        f"{first.child_order.number}, released to the warehouse: it can no longer change."
    )
    preview = cancel_preview(subscription_id=first.subscription_id)
    keep = preview.effects[0]
    assert keep.what == "keep"
    assert effect_text(keep, "USD") == (
        f"Shipment 1 of {first.ship_date:%m/%d/%Y} has its child order "
        f"{first.child_order.number}, released to the warehouse (Released): it is not changed."
    )
    assert snapshot(order) == before


def test_cancelling_the_subscription_cancels_unreleased_child_orders_and_refunds_them(sell, today):
    release_setting("by_supervisor")
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    child = first.child_order
    subscription = subscription_of(order)
    preview = cancel_preview(subscription_id=subscription.pk)
    assert [(e.what, e.occurrence.sequence) for e in preview.effects][:4] == [
        ("cancel_child_order", 1),
        ("cancel", 1),
        ("refund", 1),
        ("cancel", 2),
    ]
    subscription_cancel(subscription_id=subscription.pk, actor=ACTOR, reason_code="PRICE")
    first.refresh_from_db()
    child.refresh_from_db()
    assert (first.status, child.status) == ("cancelled", "cancelled")
    assert refunds_for(first) == [("approved", Decimal("27.98"))]
    # The parent order is done: its program is over, its only child order cancelled.
    assert parent_orders_close(actor=ACTOR) == [order.number]
    order.refresh_from_db()
    assert order.status == "completed"
    with pytest.raises(Conflict) as excinfo:
        reactivate_preview(subscription_id=subscription.pk)
    assert "completed" in excinfo.value.message


@pytest.mark.django_db(transaction=True)
def test_a_release_and_a_skip_that_meet_one_wins_and_no_money_moves_for_the_loser(sell, today):
    """Two real connections: the supervisor's release holds the child order's row when
    the agent's skip reaches it; the skip waits, then finds it released and is refused
    whole (no refund, the shipment unchanged)."""
    release_setting("by_supervisor")
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    child = first.child_order
    gateway_before = SimulatedTransaction.objects.using("gateway").count()
    released_holding = threading.Event()
    skip_done = threading.Event()
    outcome = {}

    def skip():
        try:
            subscription_skip_shipment(
                subscription_id=first.subscription_id,
                occurrence_id=first.pk,
                actor=ACTOR,
                reason_code="TRAVEL",
            )
            outcome["skip"] = "done"
        except Conflict as error:
            outcome["skip"] = error.message
        finally:
            connection.close()
            skip_done.set()

    with transaction.atomic():
        sales_order_release(order_id=child.pk, actor=ACTOR)  # holds the row
        released_holding.set()
        thread = threading.Thread(target=skip)
        thread.start()
        # The skip is blocked on the order's row while this transaction is open.
        assert not skip_done.wait(1.0)
    thread.join(10)
    assert outcome["skip"] == (
        f"Sales order {child.number} is Released: it is with the warehouse and can no longer "
        "be cancelled."
    )
    first.refresh_from_db()
    child.refresh_from_db()
    assert (first.status, first.child_order_id, child.status) == (
        "child_created",
        child.pk,
        "released",
    )
    assert refunds_for(first) == []
    assert SimulatedTransaction.objects.using("gateway").count() == gateway_before


# --- Invoices apply the shipment's charge; the parent order closes ------------------------------


def test_the_invoice_applies_the_shipments_charge_and_the_parent_closes_when_all_are_done(
    sell, today
):
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    child = first.child_order
    allocation = PaymentAllocation.objects.get(occurrence=first)
    assert child_order_charges(child.pk) == [(allocation.payment_id, Decimal("27.98"))]

    recorded = ship_all(child, "WH-100")
    invoice = recorded.shipment.invoice
    assert (invoice.total, invoice.payment_id, invoice.payment_applied, invoice.balance) == (
        Decimal("27.98"),
        allocation.payment_id,
        Decimal("27.98"),
        Decimal("0.00"),
    )
    child.refresh_from_db()
    assert child.status == "completed"

    # The program still runs: the parent order stays open.
    assert parent_orders_close(actor=ACTOR) == []
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="PRICE")
    # Closed by the child-order job (after its run) ...
    run = run_child_orders(today + days(1))
    order.refresh_from_db()
    assert (order.status, run.summary["parent_orders_completed"]) == ("completed", 1)
    entry = AuditEntry.objects.filter(
        object_type="orders.salesorder", object_id=str(order.pk), to_status="completed"
    ).get()
    assert entry.from_status == "submitted"
    # ... and on demand, which then has nothing left to do.
    call_command("close_parent_orders")
    assert SalesOrder.objects.filter(pk=order.pk, status="completed").count() == 1


def test_a_parent_order_with_a_released_child_not_yet_invoiced_stays_open(sell, today):
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="PRICE")
    assert parent_orders_close(actor=ACTOR) == []
    ship_all(first.child_order, "WH-200")
    assert parent_orders_close(actor=ACTOR) == [order.number]


def test_the_close_command_refuses_an_unknown_or_non_parent_order(sell, today, capsys):
    from django.core.management.base import CommandError

    order = sell()
    run_child_orders(today)
    with pytest.raises(CommandError) as excinfo:
        call_command("close_parent_orders", "--order", "SO-999999")
    assert (str(excinfo.value), excinfo.value.returncode) == (
        "Sales order SO-999999 does not exist.",
        2,
    )
    child = shipments(order)[0].child_order
    with pytest.raises(CommandError) as excinfo:
        call_command("close_parent_orders", "--order", child.number)
    assert str(excinfo.value) == f"Sales order {child.number} is not a continuity parent order."
    order.refresh_from_db()
    assert order.status == "submitted"
    assert Occurrence.objects.filter(subscription__parent_order=order).exists()


def test_the_money_audit_finds_nothing_wrong_after_a_whole_fulfilment_and_a_cancel(sell, today):
    from continuity.money_audit import money_audit

    release_setting("before_ship_date", lead_days=0)
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    ship_all(first.child_order, "WH-300")
    other = sell()
    params = ContinuityParameters.load()
    params.child_order_release = "by_supervisor"
    params.save()
    run_child_orders(today)
    cancelled_first = shipments(other)[0]
    subscription_cancel(
        subscription_id=cancelled_first.subscription_id, actor=ACTOR, reason_code="PRICE"
    )
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="PRICE")
    assert sorted(parent_orders_close(actor=ACTOR)) == sorted([order.number, other.number])
    audit = money_audit(source="test", save=False)
    assert audit.findings == []
    assert audit.checked["invoices"] == 1


def test_the_money_audit_finds_an_invoice_that_bills_more_than_its_order(sell, today):
    from continuity.money_audit import money_audit

    order = sell()
    run_child_orders(today)
    child = shipments(order)[0].child_order
    invoice = ship_all(child, "WH-400").shipment.invoice
    # Tamper as a bug would: the invoice bills a cent more (its parts still add up).
    from orders.models import Invoice

    Invoice.objects.filter(pk=invoice.pk).update(
        total=invoice.total + Decimal("0.01"), subtotal=invoice.subtotal + Decimal("0.01")
    )
    kinds = [finding["kind"] for finding in money_audit(source="test", save=False).findings]
    assert kinds.count("invoices_mismatch") == 1
