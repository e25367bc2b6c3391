"""Create continuity child orders on PostgreSQL, run in-process."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Q

from batch.models import BatchJob, BatchRunProblem, BatchRunStatus
from batch.presenters import batch_run_summary_line
from batch.services import batch_run_inline, batch_run_request
from continuity import child_orders
from continuity.child_order_rows import child_orders_insert_orm
from continuity.models import ContinuityParameters, Occurrence, OccurrenceLine, Subscription
from continuity.selectors import (
    occurrences_due_for_child_orders,
    occurrences_due_for_child_orders_grouped,
)
from core import notifications as core_notifications
from core import services as core_services
from core.actors import Actor
from core.models import AuditEntry, Notification, OutboxEvent
from orders.models import SalesOrder, SalesOrderLine
from tests.batch.conftest import days, on_day

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("test")


def run_child_orders(run_date, **kwargs):
    with on_day(run_date):
        run = batch_run_request(
            job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=run_date, **kwargs
        )
        return batch_run_inline(run)


def run_payments(run_date, **kwargs):
    with on_day(run_date):
        run = batch_run_request(
            job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date, **kwargs
        )
        return batch_run_inline(run)


def occurrences(order):
    return list(Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence"))


def test_the_paid_first_shipment_becomes_a_child_order_of_the_parent(sell, today):
    order = sell()

    run = run_child_orders(today, item_number="88000", order_number=order.number)

    first = occurrences(order)[0]
    child = first.child_order
    assert first.status == "child_created"
    # Released as written: the parameters' default is release at creation.
    assert (child.kind, child.status, child.parent_id, child.customer_id) == (
        "continuity_child",
        "released",
        order.pk,
        order.customer_id,
    )
    assert (child.requested_ship_date, child.order_date, child.total) == (
        first.ship_date,
        today,
        Decimal("27.98"),
    )
    assert child.ship_to_id == order.ship_to_id
    assert child.source_reference == f"batch-run:{run.pk}"
    assert [
        (line.item.item_number, line.quantity, line.unit_price, line.occurrence_line.occurrence_id)
        for line in child.lines.order_by("line_number")
    ] == [("0013", 1, Decimal("17.99"), first.pk), ("0015", 1, Decimal("9.99"), first.pk)]
    assert list(order.child_orders.all()) == [child]
    assert (run.status, run.summary["created"], run.summary["not_processed"]) == (
        BatchRunStatus.SUCCEEDED,
        1,
        {},
    )
    assert batch_run_summary_line(run) == (
        "Child orders created: 1. Not created: awaiting payment 0, payment declined 0, "
        "card expired 0, on hold 0"
    )


def test_a_second_run_creates_no_duplicate_child_orders(sell, today):
    order = sell()
    run_child_orders(today)
    children = SalesOrder.objects.filter(parent=order).count()

    again = run_child_orders(today)

    assert again.selected_count == 0
    assert again.summary.get("created", 0) == 0
    assert SalesOrder.objects.filter(parent=order).count() == children == 1


def test_shipments_not_created_are_counted_by_reason(sell, today):
    awaiting = sell()
    declined = sell()
    on_hold = sell()
    expired = sell(expiry_year=today.year, expiry_month=today.month)
    # Charge the second shipments: one declines softly, one hard, one card has expired.
    from tests.batch.test_process_payments import give_card

    run_child_orders(today)  # the first shipments, paid at submit, ship first
    give_card(declined, "4000 0000 0000 0002")
    give_card(on_hold, "4000 0000 0000 9987")
    second_ship = occurrences(awaiting)[1].ship_date
    run_payments(second_ship - days(10), order_number=declined.number)  # not due yet: nothing
    ContinuityParameters.objects.update(payment_lead_days=5)
    for order in (declined, on_hold, expired):
        run_payments(second_ship - days(5), order_number=order.number)

    run = run_child_orders(second_ship)

    assert run.summary.get("created", 0) == 0
    assert run.summary["not_processed"] == {
        "awaiting_payment": 1,
        "payment_declined": 1,
        "on_hold": 1,
        "card_expired": 1,
    }
    reasons = dict(BatchRunProblem.objects.filter(run=run).values_list("occurrence_id", "reason"))
    assert reasons == {
        occurrences(awaiting)[1].pk: "awaiting_payment",
        occurrences(declined)[1].pk: "payment_declined",
        occurrences(on_hold)[1].pk: "on_hold",
        occurrences(expired)[1].pk: "card_expired",
    }
    assert batch_run_summary_line(run) == (
        "Child orders created: 0. Not created: awaiting payment 1, payment declined 1, "
        "card expired 1, on hold 1"
    )


def test_the_run_cap_and_limit_leave_the_rest_for_the_next_run(sell, today):
    orders = [sell() for _ in range(3)]
    ContinuityParameters.objects.update(max_child_orders_per_run=2)

    capped = run_child_orders(today)

    assert capped.summary["created"] == 2
    assert capped.summary["not_processed"] == {"limit_reached": 1}
    assert sum(1 for order in orders if occurrences(order)[0].child_order_id) == 2

    last = run_child_orders(today, limit=1)
    assert last.summary["created"] == 1
    assert all(occurrences(order)[0].child_order_id for order in orders)


def test_a_consolidating_program_puts_due_shipments_in_one_child_order(sell, today):
    order = sell("88002", start_date=today)  # PROTEINMONTHLY consolidates
    for occurrence in occurrences(order)[1:3]:
        # Both paid (as the payment job would have done).
        Occurrence.objects.filter(pk=occurrence.pk).update(
            status="paid", payment=occurrences(order)[0].payment
        )
    due_through = occurrences(order)[2].ship_date

    run = run_child_orders(due_through)

    first, second, third = occurrences(order)[:3]
    assert run.summary["created"] == 1
    assert first.child_order_id == second.child_order_id == third.child_order_id
    child = first.child_order
    assert child.total == Decimal("66.00")
    assert child.lines.count() == 3
    assert child.requested_ship_date == first.ship_date


def test_the_plan_streams_groups_in_the_order_of_their_first_shipment(sell, today):
    """The grouped selector (sorted by the database, read from a cursor) gives the groups
    a plan made in memory gives: one per shipment, one per consolidating subscription,
    each where its first shipment comes by ship date then id."""
    consolidating = [sell("88002", start_date=today) for _ in range(2)]
    singles = [sell() for _ in range(2)]
    for order in consolidating:
        for occurrence in occurrences(order)[1:3]:
            Occurrence.objects.filter(pk=occurrence.pk).update(
                status="paid", payment=occurrences(order)[0].payment
            )
    # A single shipment due between a consolidating subscription's first and second.
    late = sell()
    Occurrence.objects.filter(pk=occurrences(late)[0].pk).update(
        ship_date=occurrences(consolidating[0])[1].ship_date
    )
    singles.append(late)
    run_date = occurrences(consolidating[0])[2].ship_date

    in_memory: list[list[int]] = []
    by_subscription: dict[int, list[int]] = {}
    for pk, subscription_id, consolidate in occurrences_due_for_child_orders(
        run_date=run_date
    ).values_list("pk", "subscription_id", "subscription__plan__consolidate"):
        if consolidate:
            if subscription_id not in by_subscription:
                by_subscription[subscription_id] = []
                in_memory.append(by_subscription[subscription_id])
            by_subscription[subscription_id].append(pk)
        else:
            in_memory.append([pk])

    streamed = list(occurrences_due_for_child_orders_grouped(run_date=run_date))

    assert streamed == in_memory
    assert sorted(len(group) for group in streamed) == [1, 1, 1, 3, 3]


def test_open_ended_subscriptions_are_planned_up_to_the_horizon(sell, today):
    order = sell("88002", start_date=today)
    subscription = Subscription.objects.get(parent_order=order)
    count_before = subscription.occurrences.count()
    later = today + days(200)

    run_child_orders(later)

    subscription.refresh_from_db()
    horizon = later + days(ContinuityParameters.load().materialisation_horizon_days)
    assert subscription.planned_through == horizon
    dates = list(subscription.occurrences.order_by("sequence").values_list("ship_date", flat=True))
    assert len(dates) > count_before
    assert dates[-1] <= horizon
    assert list(
        subscription.occurrences.values_list("sequence", flat=True).order_by("sequence")
    ) == list(range(1, len(dates) + 1))
    # Prices come from the plan sold, not from today's program.
    assert set(subscription.occurrences.values_list("amount", flat=True)) == {Decimal("22.00")}


def test_the_subscription_completes_when_its_last_shipment_has_its_child_order(sell):
    order = sell("88001")  # billed up front: every shipment already paid
    last_ship = occurrences(order)[-1].ship_date

    run = run_child_orders(last_ship)

    assert run.summary["created"] == 3
    assert run.summary["completed_subscriptions"] == 1
    subscription = Subscription.objects.get(parent_order=order)
    assert subscription.status == "completed"
    # Completed in bulk, with the same trail and event as one by one.
    entry = AuditEntry.objects.get(
        object_type="continuity.subscription", object_id=str(subscription.pk), to_status="completed"
    )
    assert (entry.action, entry.from_status, entry.reason, entry.customer_id) == (
        "status_change",
        "active",
        "last shipment has its child order",
        subscription.customer_id,
    )
    assert entry.actor_label == f"create_child_orders run #{run.pk}"
    event = OutboxEvent.objects.get(audit_entry_id=entry.pk)
    assert (event.type, event.ordering_key) == (
        "subscription.completed",
        f"customer:{subscription.customer_id}",
    )


def test_a_dry_run_reports_and_changes_nothing(sell, today):
    order = sell()

    run = run_child_orders(today, dry_run=True)

    assert (run.summary["would_create"], run.summary["would_fulfil"]) == (1, 1)
    assert not SalesOrder.objects.filter(parent=order).exists()
    assert occurrences(order)[0].status == "paid"


def test_a_shipment_that_fails_is_reported_and_the_others_are_created(sell, today):
    good = sell()
    bad = sell()
    # A child-order line already claims the bad shipment's first line (say, a manual fix
    # gone wrong): the database refuses a second one.
    bad_line = OccurrenceLine.objects.filter(occurrence=occurrences(bad)[0]).first()
    stray = SalesOrder.objects.create(
        number="SO-STRAY1",
        customer=bad.customer,
        kind="continuity_child",
        parent=bad,
        currency="USD",
    )
    SalesOrderLine.objects.create(
        order=stray,
        line_number=1,
        item=bad_line.item,
        quantity=bad_line.quantity,
        unit_price=bad_line.unit_price,
        amount=bad_line.amount,
        occurrence_line=bad_line,
    )

    run = run_child_orders(today)

    assert run.status == BatchRunStatus.FINISHED_WITH_PROBLEMS
    assert run.error_count == 1
    assert occurrences(good)[0].status == "child_created"
    assert occurrences(bad)[0].status == "paid"
    problem = BatchRunProblem.objects.get(run=run)
    assert (problem.occurrence_id, problem.reason) == (occurrences(bad)[0].pk, "error")
    assert "IntegrityError" in problem.detail
    assert run.summary["created"] == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--item", "99999"], "Item number 99999 does not exist."),
        (["--order", "SO-999999"], "Sales order SO-999999 does not exist."),
        (["--date", "2026-02-30"], "--date must be a date like 2026-11-30, not '2026-02-30'."),
        (["--limit", "0"], "The limit must be 1 or more."),
    ],
)
def test_the_command_refuses_bad_arguments_with_one_line_and_exit_2(demo, arguments, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as excinfo:
        call_command("create_continuity_child_orders", *arguments)
    assert str(excinfo.value) == message
    assert excinfo.value.returncode == 2


def test_the_command_refuses_an_order_that_is_not_a_continuity_parent(sell, capsys):
    from django.core.management.base import CommandError

    order = sell()
    run_child_orders(order.order_date)
    child = SalesOrder.objects.get(parent=order)
    with pytest.raises(CommandError) as excinfo:
        call_command("process_continuity_payments", "--order", child.number)
    assert str(excinfo.value) == f"Sales order {child.number} is not a continuity parent order."


def test_the_command_prints_a_progress_bar_and_the_summary(sell, capsys, today):
    sell()
    call_command("create_continuity_child_orders", "--item", "88000", "--date", today.isoformat())
    out = capsys.readouterr().out
    assert "[##############################] 1/1" in out
    assert out.rstrip().endswith(
        "Child orders created: 1. Not created: awaiting payment 0, payment declined 0, "
        "card expired 0, on hold 0"
    )


def test_both_jobs_are_scheduled_daily_payments_first(db):
    from django_celery_beat.models import PeriodicTask

    tasks = {
        task.task: (task.crontab.hour, task.crontab.minute, task.queue, task.enabled)
        for task in PeriodicTask.objects.select_related("crontab").filter(crontab__isnull=False)
    }
    assert tasks["batch.scheduled_process_payments"] == ("1", "0", "batch", True)
    assert tasks["batch.scheduled_create_child_orders"] == ("2", "0", "batch", True)


def child_order_trail(order):
    """What the job wrote for the order's first shipment, without ids and times."""
    first = occurrences(order)[0]
    child = first.child_order
    entries = AuditEntry.objects.filter(
        Q(object_type="orders.salesorder", object_id=str(child.pk))
        | Q(object_type="continuity.occurrence", object_id=str(first.pk), to_status="child_created")
    ).order_by("id")
    return {
        "order": (child.kind, child.status, child.total, child.lines.count()),
        "entries": [
            (e.action, e.object_type, e.from_status, e.to_status, e.reason, e.customer_id)
            for e in entries
        ],
        "details": [sorted(e.details) for e in entries],
        "events": sorted(
            OutboxEvent.objects.filter(audit_entry_id__in=[e.pk for e in entries]).values_list(
                "type", flat=True
            )
        ),
        "email": Notification.objects.filter(key=f"child_order_created:order:{child.number}")
        .values_list("kind", "customer_id")
        .get(),
    }


def test_the_orm_paths_of_make_run_write_what_the_sql_paths_write(sell, today, monkeypatch):
    """On SQLite (make run) the job writes through the ORM what PostgreSQL writes in raw
    statements (the shipments' read, the orders, the audit rows, the emails): run once
    each way here, on PostgreSQL, with the modules that choose told "sqlite" the second
    time (Django's own vendor checks left alone)."""

    class LooksLikeSQLite:
        vendor = "sqlite"

        def __getattr__(self, name):
            return getattr(connection, name)

    by_sql, by_orm = sell(), sell()
    run_child_orders(today, order_number=by_sql.number)
    for module in (child_orders, core_services, core_notifications):
        monkeypatch.setattr(module, "connection", LooksLikeSQLite())
    orm_calls = []
    monkeypatch.setattr(
        child_orders,
        "child_orders_insert_orm",
        lambda *args, **kwargs: orm_calls.append(1) or child_orders_insert_orm(*args, **kwargs),
    )
    run_child_orders(today, order_number=by_orm.number)
    monkeypatch.undo()
    assert orm_calls == [1]

    sql_trail, orm_trail = child_order_trail(by_sql), child_order_trail(by_orm)
    assert sql_trail["entries"] == [
        ("order_created", "orders.salesorder", "", "submitted", "", by_sql.customer_id),
        ("status_change", "orders.salesorder", "submitted", "released", "", by_sql.customer_id),
        ("status_change", "continuity.occurrence", "paid", "child_created", "", by_sql.customer_id),
    ]
    assert orm_trail["entries"] == [
        (*entry[:5], by_orm.customer_id) for entry in sql_trail["entries"]
    ]
    for key in ("order", "details", "events"):
        assert orm_trail[key] == sql_trail[key], key
    assert sql_trail["email"] == ("child_order_created", by_sql.customer_id)
    assert orm_trail["email"] == ("child_order_created", by_orm.customer_id)
