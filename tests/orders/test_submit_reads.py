"""A submit's two steps (check and charge, then record and start the subscription) read
the tax tables and the program once in all, however many times their checks and pricing
ask, and each step the configuration's version once (orders.services.sales_order_submit,
core.read_once): a taxed order with a six-shipment subscription. The next submit, with
the configuration unchanged, reads only the version."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from continuity.models import Subscription
from core.actors import Actor
from core.read_once import shared_answers
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
    # As a process that has read nothing yet (order_ready's pricing read the tables).
    shared_answers.clear()

    with CaptureQueriesContext(connection) as submit:
        sales_order_submit(order_id=order.pk, actor=ACTOR)

    subscription = Subscription.objects.get(parent_order=order)
    assert subscription.occurrences.count() == 6
    # Step 1 checks and prices the order, step 3 plans and prices the shipments: each
    # reads the version; the tax tables are read once (the rates of the jurisdiction for
    # all six ship dates, every tax group in one query), in step 1, and step 3 finds them
    # kept under the same version; the program in step 1 only, since step 3 makes the
    # subscription from the program as sold, kept on the line in step 1.
    # The version: once a step, and once more for each of the 8 answers read cold (kept
    # for others only if the version did not change while it was read).
    assert reads_of(submit, "core_config_version") == 2 + 8
    assert reads_of(submit, "continuity_continuityprogram") == 1
    assert reads_of(submit, "continuity_programevent") == 1
    assert reads_of(submit, "orders_taxrate") == 1
    assert reads_of(submit, "orders_taxjurisdiction") == 1
    assert reads_of(submit, "orders_taxgroup") == 1
    # Each audit entry is written with its outbound event in one statement.
    assert not any('INSERT INTO "core_outboxevent"' in q["sql"] for q in submit.captured_queries)
    assert subscription.plan == order.lines.get().program_as_sold


@pytest.mark.django_db(transaction=True)
def test_the_next_submit_reads_only_the_configuration_version(demo):
    seattle()
    first, second = order_ready(ACTOR, APPROVE), order_ready(ACTOR, APPROVE)
    sales_order_submit(order_id=first.pk, actor=ACTOR)

    with CaptureQueriesContext(connection) as submit:
        sales_order_submit(order_id=second.pk, actor=ACTOR)

    assert Subscription.objects.get(parent_order=second).occurrences.count() == 6
    assert reads_of(submit, "core_config_version") == 2
    for table in CONFIGURATION_READ:
        assert reads_of(submit, table) == 0, table


# What a submit's pricing and planning read of the configuration.
CONFIGURATION_READ = (
    "continuity_continuityprogram",
    "continuity_programevent",
    "continuity_programeventline",
    "orders_taxrate",
    "orders_taxjurisdiction",
    "orders_taxgroup",
    "orders_pricetaxbasis",
)
