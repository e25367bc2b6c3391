"""Submit locks the order, then reads what it checks (the customer, the card, the
method, the ship-to) in a query of its own after the lock (orders.services
_order_locked_with). Joined in the locking statement instead, those rows would be the
ones committed when the statement began: after a wait for the lock, PostgreSQL checks
the locked order again but keeps the joined rows as they were. These tests hold the
order's lock on a second connection, change what submit checks, commit, and expect
submit, which waited, to see the change: refused, nothing charged."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from core.actors import Actor
from customers.models import Customer
from orders.models import SalesOrder, SalesOrderStatus
from orders.services import sales_order_submit
from payments.models import Card, Payment
from tests.continuity.test_money_findings import in_thread
from tests.payments.support import APPROVE, ledger_sales, order_ready

ACTOR = Actor.job("submit-lock-attack")

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "gateway"])


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        # A row lock's waiter waits on the holder's transaction id (no database named).
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _submit_while_the_lock_is_held(order: SalesOrder, change) -> dict:
    """Hold `order`'s row lock on another connection, start submit (which waits for it),
    make `change` in the holder's transaction once submit waits, commit; submit's
    outcome."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            SalesOrder.objects.select_for_update().get(pk=order.pk)
            locked.set()
            assert release.wait(20)
            change()

    holder, held = in_thread(hold)
    assert locked.wait(10)
    submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
    deadline = time.monotonic() + 10
    while _lock_waiters() == 0:
        assert time.monotonic() < deadline, "submit never waited for the order's lock"
        time.sleep(0.02)
    release.set()
    holder.join(20)
    submit.join(30)
    assert "error" not in held, held
    return outcome


def _nothing_charged(order: SalesOrder) -> None:
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert not Payment.objects.filter(sales_order=order).exists()
    assert not ledger_sales(order).exists()


def _block_the_customer(order: SalesOrder) -> None:
    Customer.objects.filter(pk=order.customer_id).update(blocked=True)


def _remove_the_card(order: SalesOrder) -> None:
    Card.objects.filter(pk=order.payment_card_id).update(active=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_block_the_customer, "blocked"),
        (_remove_the_card, "does not belong to the customer"),
    ],
    ids=["customer blocked", "card removed"],
)
def test_a_change_made_while_submit_waits_for_the_lock_is_seen_and_refused(demo, change, message):
    order = order_ready(ACTOR, APPROVE)

    outcome = _submit_while_the_lock_is_held(order, lambda: change(order))

    assert isinstance(outcome.get("error"), ValidationError), outcome
    assert message in str(outcome["error"])
    _nothing_charged(order)
