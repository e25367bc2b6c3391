"""A child order whose row breaks a foreign key fails alone: the chunk's deferred checks run
inside the savepoint of its writes (continuity.child_orders), so its groups are retried
one by one and the others are created. Checked only at COMMIT, the bulk write would have
"succeeded" and the whole chunk failed at its commit instead."""

from __future__ import annotations

import pytest
from django.db import connection

from continuity.child_orders import child_orders_create
from continuity.models import Occurrence, OccurrenceStatus
from core.actors import Actor
from core.models import AuditEntry
from orders.models import SalesOrder, SalesOrderLine

ACTOR = Actor.job("broken-reference-attack")
MISSING_DELIVERY_MODE = 987_654_321

pytestmark = pytest.mark.django_db


def _first_paid(order) -> Occurrence:
    return Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]


def _point_at_a_missing_delivery_mode(occurrence: Occurrence) -> None:
    """What a row damaged outside the application looks like: the shipment names a
    delivery mode that is not there (its own foreign key switched off for the write)."""
    table = Occurrence._meta.db_table
    # ALTER TABLE refuses while the sales' own deferred checks wait in the transaction.
    connection.check_constraints()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        cursor.execute(
            f"UPDATE {table} SET delivery_mode_id = %s WHERE id = %s",
            [MISSING_DELIVERY_MODE, occurrence.pk],
        )
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")


def test_a_broken_reference_fails_its_own_child_order_not_the_chunk(sell, today):
    good, broken = _first_paid(sell()), _first_paid(sell())
    assert good.status == broken.status == OccurrenceStatus.PAID
    _point_at_a_missing_delivery_mode(broken)
    orders_before = SalesOrder.objects.count()

    result = child_orders_create(groups=[[good.pk], [broken.pk]], run_date=today, actor=ACTOR)

    assert result.created_orders == 1
    assert result.fulfilled_occurrences == 1
    ((pk, reason, detail),) = result.problems
    assert (pk, reason) == (broken.pk, "error")
    assert detail.startswith("IntegrityError:") and "delivery_mode_id" in detail
    assert SalesOrder.objects.count() == orders_before + 1

    good.refresh_from_db()
    child = SalesOrder.objects.get(number=result.order_numbers[0])
    assert (good.status, good.child_order_id) == (OccurrenceStatus.CHILD_CREATED, child.pk)
    # Nothing of the broken one's child order is left: no order, line, status or entry.
    broken.refresh_from_db()
    assert (broken.status, broken.child_order_id) == (OccurrenceStatus.PAID, None)
    assert not SalesOrderLine.objects.filter(occurrence_line__occurrence=broken).exists()
    assert not AuditEntry.objects.filter(
        object_type=Occurrence._meta.label_lower,
        object_id=str(broken.pk),
        to_status=OccurrenceStatus.CHILD_CREATED,
    ).exists()
