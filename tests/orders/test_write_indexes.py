"""The indexes a sales order and a shipment pay for when they are written: each serves a
read, and none is kept that no read uses (the child-order job writes thousands of orders
a run and moves as many shipments; docs/benchmarks.md).

Read from PostgreSQL's catalogue, as the migrations left it."""

import pytest
from django.db import connection

from continuity.lookups import _ids_by_number, _prefix_range
from orders.models import SalesOrder
from tests.factories import SalesOrderFactory

pytestmark = pytest.mark.django_db


def index_definitions(table: str, column: str) -> dict[str, str]:
    """{index name: definition} of the indexes of `table` that hold `column`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT indexname, indexdef FROM pg_indexes
            WHERE schemaname = current_schema() AND tablename = %s
              AND indexdef ~ ('\\m' || %s || '\\M')
            ORDER BY indexname
            """,
            [table, column],
        )
        return dict(cursor.fetchall())


def test_the_order_number_has_one_index_the_unique_one():
    # unique=True on PostgreSQL adds a varchar_pattern_ops twin: no query reads it.
    assert index_definitions("orders_salesorder", "number") == {
        "sales_order_number_unique": (
            "CREATE UNIQUE INDEX sales_order_number_unique ON public.orders_salesorder "
            "USING btree (number)"
        )
    }


@pytest.mark.parametrize(
    ("table", "name"),
    [
        ("orders_salesorder", "sales_order_delivery_mode_idx"),
        ("continuity_occurrence", "occurrence_delivery_mode_idx"),
    ],
)
def test_the_delivery_mode_is_indexed_only_where_one_is_named(table, name):
    assert index_definitions(table, "delivery_mode_id") == {
        name: (
            f"CREATE INDEX {name} ON public.{table} USING btree (delivery_mode_id) "
            "WHERE (delivery_mode_id IS NOT NULL)"
        )
    }


def test_the_number_lookup_reads_a_prefix_from_the_unique_index():
    """The sales-orders lookup by digits ("1234") reads each number prefix as a range of
    the unique index, the index the dropped twin would otherwise have served."""
    orders = [SalesOrderFactory() for _ in range(3)]
    prefix = orders[0].number[:-1]
    query = (
        SalesOrder.objects.filter(_prefix_range(prefix))
        .order_by("-number")
        .values_list("pk", flat=True)[:10]
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        # A table this small would be read whole: plan as for the million rows it holds.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())

    assert "sales_order_number_unique" in plan
    found = set(_ids_by_number(SalesOrder.objects.all(), orders[0].number, 10))
    assert found == {orders[0].pk}
