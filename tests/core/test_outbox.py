"""Outbound events (core.outbox): every audited change of a registered model writes one
event, in the same transaction as the change and its audit entry."""

import re
import time
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from continuity.models import Occurrence, OccurrenceStatus
from core.actors import Actor
from core.models import AuditEntry, OutboxEvent, outbox_event_id, uuid7
from core.outbox import (
    outbox_event_data,
    outbox_event_for,
    outbox_event_types_invalid,
    outbox_known_event_types,
)
from core.services import (
    AuditRows,
    AuditSubject,
    audit_entries_insert,
    audit_entry_build,
    audit_record,
    audit_rows_insert,
    status_change,
)
from customers.models import Customer
from orders.models import SALES_ORDER_STATUS, SalesOrder, SalesOrderStatus
from orders.services import sales_order_create, sales_order_line_add
from tests.batch.test_create_child_orders import run_child_orders

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("test")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@pytest.fixture
def karen(demo):
    return Customer.objects.get(account_number="004021")


def last_event_id() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_of(obj) -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    )


def test_a_status_change_writes_one_event_with_its_audit_entry(karen):
    order = sales_order_create(customer=karen, actor=ACTOR)
    before = OutboxEvent.objects.count()

    with transaction.atomic():
        status_change(
            order,
            machine=SALES_ORDER_STATUS,
            to_status=SalesOrderStatus.CANCELLED,
            actor=ACTOR,
            customer_id=karen.pk,
            reason="customer asked",
        )

    assert OutboxEvent.objects.count() == before + 1
    event = OutboxEvent.objects.latest("id")
    assert (
        event.type,
        event.topic,
        event.object_type,
        event.object_id,
        event.ordering_key,
        event.customer_id,
        event.fanned_out,
    ) == (
        "order.cancelled",
        "order",
        "orders.salesorder",
        str(order.pk),
        f"customer:{karen.pk}",
        karen.pk,
        False,
    )
    assert re.fullmatch(r"evt_[0-9a-f-]{36}", event.event_id)
    assert outbox_event_data(event) == {
        "object": "order",
        "id": str(order.pk),
        "customer_id": karen.pk,
        "action": "status_change",
        "from_status": "open",
        "to_status": "cancelled",
        "reason": "customer asked",
        "details": {},
        "number": order.number,
    }
    entry = AuditEntry.objects.filter(object_id=str(order.pk), action="status_change").get()
    assert event.occurred_at == entry.at


def test_a_change_rolled_back_leaves_no_event(karen):
    order = sales_order_create(customer=karen, actor=ACTOR)
    events_before = OutboxEvent.objects.count()
    entries_before = AuditEntry.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        status_change(
            order,
            machine=SALES_ORDER_STATUS,
            to_status=SalesOrderStatus.CANCELLED,
            actor=ACTOR,
            customer_id=karen.pk,
        )
        assert OutboxEvent.objects.count() == events_before + 1
        raise RuntimeError("the caller's transaction fails after the change")

    assert OutboxEvent.objects.count() == events_before
    assert AuditEntry.objects.count() == entries_before
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN


def test_an_action_without_a_status_is_named_without_the_models_prefix(karen):
    order = sales_order_create(customer=karen, actor=ACTOR)

    sales_order_line_add(order_id=order.pk, item_number="0013", actor=ACTOR)

    assert [event.type for event in sorted(events_of(order), key=lambda e: e.pk)] == [
        "order.open",
        "order.line_added",
    ]


def test_bulk_entries_write_one_event_each_for_registered_models_only(karen):
    before = last_event_id()
    entries = [
        audit_entry_build(
            actor=ACTOR,
            action="order_line_added",
            obj=AuditSubject(SalesOrder, 900001),
            customer_id=karen.pk,
            details={"number": "S0900001"},
        ),
        # Not registered: audited, no event.
        audit_entry_build(
            actor=ACTOR, action="address_added", obj=AuditSubject(Customer, karen.pk)
        ),
        audit_entry_build(
            actor=ACTOR,
            action="status_change",
            obj=AuditSubject(Occurrence, 900002),
            customer_id=karen.pk,
            from_status=OccurrenceStatus.CHARGING,
            to_status=OccurrenceStatus.PAID,
        ),
        audit_entry_build(
            actor=ACTOR,
            action="occurrence_rescheduled",
            obj=AuditSubject(Occurrence, 900003),
            customer_id=None,
        ),
    ]

    with transaction.atomic():
        audit_entries_insert(entries)

    events = list(OutboxEvent.objects.filter(id__gt=before).order_by("id"))
    assert [(e.type, e.object_id, e.ordering_key, e.customer_id) for e in events] == [
        ("order.line_added", "900001", f"customer:{karen.pk}", karen.pk),
        ("shipment.paid", "900002", f"customer:{karen.pk}", karen.pk),
        ("shipment.rescheduled", "900003", "continuity.occurrence:900003", None),
    ]
    assert outbox_event_data(events[0])["number"] == "S0900001"
    assert "number" not in outbox_event_data(events[1])
    assert outbox_event_data(events[1])["from_status"] == "charging"
    assert len({event.event_id for event in events}) == 3
    assert all(re.fullmatch(r"evt_[0-9a-f-]{36}", event.event_id) for event in events)
    assert AuditEntry.objects.filter(object_type="customers.customer", action="address_added")


def test_bulk_and_single_entries_make_the_same_event(karen):
    """The set-based PostgreSQL insert and the ORM's row say the same thing."""

    def entry():
        return audit_entry_build(
            actor=ACTOR,
            action="status_change",
            obj=AuditSubject(Occurrence, 900010),
            customer_id=karen.pk,
            from_status="scheduled",
            to_status="charging",
            reason="run",
            details={"run": 7, "note": "é"},
        )

    one = entry()
    audit_entries_insert([one])
    bulk = OutboxEvent.objects.latest("id")
    saved = entry()
    saved.save()
    single = outbox_event_for(saved)

    fields = ("type", "topic", "object_type", "object_id", "ordering_key", "customer_id")
    assert [getattr(bulk, name) for name in fields] == [getattr(single, name) for name in fields]
    single.refresh_from_db()
    assert outbox_event_data(bulk) == outbox_event_data(single)


def test_one_entry_and_its_event_are_one_statement_that_says_what_the_orm_says(karen):
    """audit_record on PostgreSQL: the entry and its event in one WITH statement, with the
    entry's id back and the object's reference (an order's number) on the event, as the
    ORM's two rows would have them; an unregistered model's entry has no event."""
    order = sales_order_create(customer=karen, actor=ACTOR)
    events_before = OutboxEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        entry = audit_record(
            actor=ACTOR,
            action="order_payment_set",
            obj=order,
            customer_id=karen.pk,
            details={"method": "VISA", "amount": "22.00"},
        )
    assert len(queries) == 1
    assert OutboxEvent.objects.count() == events_before + 1
    saved = AuditEntry.objects.get(pk=entry.pk)
    assert (saved.action, saved.object_id, saved.details, saved.at) == (
        "order_payment_set",
        str(order.pk),
        {"method": "VISA", "amount": "22.00"},
        entry.at,
    )
    event = OutboxEvent.objects.get(audit_entry=saved)
    assert (event.type, event.reference, event.occurred_at, event.ordering_key) == (
        "order.payment_set",
        order.number,
        entry.at,
        f"customer:{karen.pk}",
    )
    # Saved, as the ORM's would be: a second save updates the row, never inserts another.
    assert entry._state.adding is False

    entries_before = AuditEntry.objects.count()
    events_before = OutboxEvent.objects.count()
    audit_record(actor=ACTOR, action="customer_noted", obj=karen, customer_id=karen.pk)
    assert AuditEntry.objects.count() == entries_before + 1
    assert OutboxEvent.objects.count() == events_before


def test_columns_write_the_same_entries_and_events_as_instances(karen):
    """AuditRows (a batch chunk's entries as columns) and audit_entries_insert (model
    instances) write the same rows."""
    now = timezone.now()
    rows = AuditRows(actor=ACTOR, at=now)
    rows.add(
        "status_change",
        "continuity.occurrence",
        900020,
        karen.pk,
        from_status=OccurrenceStatus.PAID,
        to_status=OccurrenceStatus.CHILD_CREATED,
        details={"child_order": "S0900020", "note": "é"},
    )
    rows.add("address_added", "customers.customer", karen.pk, None)
    instance = audit_entry_build(
        actor=ACTOR,
        action="status_change",
        obj=AuditSubject(Occurrence, 900021),
        customer_id=karen.pk,
        from_status=OccurrenceStatus.PAID,
        to_status=OccurrenceStatus.CHILD_CREATED,
        details={"child_order": "S0900020", "note": "é"},
    )
    instance.at = now
    before_entry = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    before_event = last_event_id()

    audit_rows_insert(rows)
    audit_entries_insert([instance])

    columns = (
        "at", "actor_user_id", "actor_label", "action", "object_type", "customer_id",
        "from_status", "to_status", "reason", "details",
    )  # fmt: skip
    entries = list(AuditEntry.objects.filter(id__gt=before_entry).order_by("id").values(*columns))
    assert len(entries) == 3
    assert entries[0] == entries[2]
    assert entries[0]["details"] == {"child_order": "S0900020", "note": "é"}
    assert entries[1]["action"] == "address_added" and entries[1]["details"] == {}
    events = list(OutboxEvent.objects.filter(id__gt=before_event).order_by("id"))
    # The customer's change has no event (customers are not registered).
    assert [(e.type, e.object_id, e.ordering_key) for e in events] == [
        ("shipment.child_created", "900020", f"customer:{karen.pk}"),
        ("shipment.child_created", "900021", f"customer:{karen.pk}"),
    ]


def event_uuid(event_id: str) -> uuid.UUID:
    assert event_id.startswith("evt_")
    return uuid.UUID(event_id.removeprefix("evt_"))


def unix_milliseconds(value: uuid.UUID) -> int:
    return value.int >> 80


def test_event_ids_are_version_7_uuids_in_time_order(karen):
    """Both ways of writing events (SQL in bulk, the ORM one by one) make ids of version
    7: the time in milliseconds first, so their unique index grows at its right edge."""
    started = time.time_ns() // 1_000_000
    rows = AuditRows(actor=ACTOR, at=timezone.now())
    for pk in range(900030, 900040):
        rows.add("status_change", "continuity.occurrence", pk, karen.pk, to_status="paid")
    before = last_event_id()
    audit_rows_insert(rows)
    in_python = [uuid7() for _ in range(100)]
    one_more = event_uuid(outbox_event_id())
    finished = time.time_ns() // 1_000_000

    in_bulk = [event_uuid(e.event_id) for e in OutboxEvent.objects.filter(id__gt=before)]
    assert len(in_bulk) == 10
    for value in [*in_bulk, *in_python, one_more]:
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert started <= unix_milliseconds(value) <= finished
    assert len({*in_bulk, *in_python}) == 110
    # Later milliseconds sort after earlier ones.
    assert [unix_milliseconds(v) for v in in_python] == sorted(
        unix_milliseconds(v) for v in in_python
    )


def test_the_child_order_job_writes_events_for_its_orders_and_shipments(sell, today, karen):
    order = sell()
    first = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]
    before = last_event_id()

    run_child_orders(today, item_number="88000", order_number=order.number)

    first.refresh_from_db()
    child = first.child_order
    new = list(OutboxEvent.objects.filter(id__gt=before).order_by("id"))
    assert [(event.type, event.object_id) for event in new] == [
        ("order.submitted", str(child.pk)),
        ("order.released", str(child.pk)),  # released as written (the default)
        ("shipment.child_created", str(first.pk)),
    ]
    assert {event.ordering_key for event in new} == {f"customer:{karen.pk}"}
    assert outbox_event_data(new[2])["details"] == {"child_order": child.number}
    assert outbox_event_data(new[0])["details"]["occurrences"] == [first.pk]
    # Bulk-written orders carry their number, as those written one at a time do.
    assert outbox_event_data(new[0])["number"] == child.number
    assert outbox_event_data(new[1])["number"] == child.number


def test_selling_a_program_writes_order_subscription_and_payment_events(sell, karen):
    before = last_event_id()

    order = sell()

    # Each shipment written with the subscription is an event of its own: the first
    # paid with the order, the others scheduled.
    topics = {event.topic for event in OutboxEvent.objects.filter(id__gt=before)}
    assert topics == {"order", "subscription", "payment", "shipment"}
    shipments = Occurrence.objects.filter(subscription__parent_order=order).order_by("pk")
    assert list(
        OutboxEvent.objects.filter(id__gt=before, topic="shipment")
        .order_by("id")
        .values_list("type", "object_id")
    ) == [
        ("shipment.paid" if shipment.status == "paid" else "shipment.scheduled", str(shipment.pk))
        for shipment in shipments
    ]
    assert OutboxEvent.objects.filter(
        id__gt=before, type="order.submitted", object_id=str(order.pk)
    ).exists()
    assert OutboxEvent.objects.filter(id__gt=before, type="subscription.active").count() == 1
    assert OutboxEvent.objects.filter(id__gt=before, type="payment.approved").exists()


def test_endpoint_event_types_are_checked_against_the_registered_topics():
    assert outbox_event_types_invalid(["*", "order.*", "order.submitted", "shipment.paid"]) == []
    assert outbox_event_types_invalid(["orders.submitted", "order.dispatched", "invoice.*", 3]) == [
        "orders.submitted",
        "order.dispatched",
        "invoice.*",
        "3",
    ]


def test_the_docs_list_every_registered_event_type():
    listed = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", DOCS.read_text(), re.MULTILINE))
    assert listed == outbox_known_event_types()


def test_the_bulk_statement_names_types_as_the_single_entries_do(karen):
    """The type rule is written twice, in Python (one entry) and in SQL (a batch): every
    registered action and status comes out the same."""
    from core.outbox import _topics, outbox_event_type

    entries, expected = [], []
    for label, spec in sorted(_topics.items()):
        app_label, model_name = label.split(".")
        model = apps.get_model(app_label, model_name)
        actions = [f"{spec.topic}_thing", f"{model_name}_thing", "plain_thing", "status_change"]
        for action in actions:
            for to_status in ("", "some_status"):
                entries.append(
                    audit_entry_build(
                        actor=ACTOR,
                        action=action,
                        obj=AuditSubject(model, 900100),
                        customer_id=karen.pk,
                        to_status=to_status,
                    )
                )
                expected.append(outbox_event_type(spec, action=action, to_status=to_status))
    before = last_event_id()

    audit_entries_insert(entries)

    assert (
        list(
            OutboxEvent.objects.filter(id__gt=before).order_by("id").values_list("type", flat=True)
        )
        == expected
    )
    assert "shipment.thing" in expected and "order.thing" in expected
