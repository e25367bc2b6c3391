"""A submit's two steps (check and charge, then record and start the subscription) each
read the tax tables once, however many times their checks and pricing ask, and the program
once in all (orders.services.sales_order_submit): a taxed order with a six-shipment
subscription."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from continuity.models import Subscription
from core.actors import Actor
from orders.services import sales_order_submit
from tests.continuity.test_money_audit_parts import seattle
from tests.payments.support import APPROVE, order_ready

ACTOR = Actor.job("test")


def reads_of(context, table: str) -> int:
    return sum(
        1
        for query in context.captured_queries
        if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]
    )


@pytest.mark.django_db(transaction=True)
def test_each_step_of_a_submit_reads_the_program_and_the_tax_tables_once(demo):
    seattle()
    order = order_ready(ACTOR, APPROVE)

    with CaptureQueriesContext(connection) as submit:
        sales_order_submit(order_id=order.pk, actor=ACTOR)

    subscription = Subscription.objects.get(parent_order=order)
    assert subscription.occurrences.count() == 6
    # Step 1 checks and prices the order, step 3 plans and prices the shipments: the
    # tax tables once each (the rates of the jurisdiction for all six ship dates, every
    # tax group in one query); the program in step 1 only, since step 3 makes the
    # subscription from the program as sold, kept on the line in step 1.
    assert reads_of(submit, "continuity_continuityprogram") == 1
    assert reads_of(submit, "continuity_programevent") == 1
    assert reads_of(submit, "orders_taxrate") == 2
    assert reads_of(submit, "orders_taxjurisdiction") == 2
    assert reads_of(submit, "orders_taxgroup") == 2
    # Each audit entry is written with its outbound event in one statement.
    assert not any('INSERT INTO "core_outboxevent"' in q["sql"] for q in submit.captured_queries)
    assert subscription.plan == order.lines.get().program_as_sold
