"""What the payment tests share: the simulator's test cards, an order ready to submit
(built through the order-entry services, as an agent would), the gateway's ledger and the
audit trail of a payment."""

from __future__ import annotations

import datetime
import os
import threading
from decimal import Decimal

from django.db import connections

from core.dates import business_date
from core.models import AuditEntry
from customers.models import Customer
from orders.models import SalesOrder
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_line_add,
    sales_order_payment_set,
)
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Card, Payment
from payments.services import card_add

# The simulator's test cards (docs/simulator.md).
APPROVE = "4242 4242 4242 4242"
SOFT_DECLINE = "4000 0000 0000 0002"
INSUFFICIENT_FUNDS = "4000 0000 0000 9995"
LOST_CARD = "4000 0000 0000 9987"
STOLEN_CARD = "4000 0000 0000 9979"
EXPIRED_CARD = "4000 0000 0000 0069"
PROCESSING_ERROR = "4000 0000 0000 0119"
TIMEOUT_AFTER_CHARGE = "4000 0000 0000 0259"
TIMEOUT_BEFORE_CHARGE = "4000 0000 0000 0267"
APPROVE_AFTER_DECLINES = "4000 0000 0000 0309"

KAREN = "004021"
# Item 88000: a monthly program whose first shipment (27.98) is charged at submit.
CONTINUITY_ITEM = "88000"
FIRST_SHIPMENT = Decimal("27.98")

# Long enough for the settings outside DEBUG (50 characters or more).
SUBPROCESS_SECRET_KEY = "test-only-secret-key-for-a-subprocess-0123456789-abcdefghij"


def karen() -> Customer:
    return Customer.objects.get(account_number=KAREN)


def card_of_karen(actor, number: str, *, security_code: str = "321") -> Card:
    return card_add(
        customer=karen(),
        card_number=number,
        expiry_month=1,
        expiry_year=business_date().year + 3,
        security_code=security_code,
        name_on_card="Karen Berg",
        actor=actor,
    )


def order_ready(
    actor,
    card_number: str = APPROVE,
    *,
    card: Card | None = None,
    item_number: str = CONTINUITY_ITEM,
) -> SalesOrder:
    """Karen's open order for a continuity item (88000), completed, paid by Visa with the
    given card."""
    order = sales_order_create(customer=karen(), actor=actor)
    sales_order_line_add(order_id=order.pk, item_number=item_number, actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    card = card or card_of_karen(actor, card_number)
    return sales_order_payment_set(
        order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor
    )


def ledger_sales(order: SalesOrder):
    """The sales the gateway recorded for an order's submit (ours is the only key)."""
    return SimulatedTransaction.objects.using("gateway").filter(
        idempotency_key__startswith=f"order-{order.pk}-sale-", operation="sale"
    )


def ledger_reversals(sale: Payment):
    """The refunds and voids the gateway recorded against a sale of ours."""
    return SimulatedTransaction.objects.using("gateway").filter(
        original_reference=sale.gateway_reference
    )


def trail(obj) -> list[tuple]:
    """The audit rows of a payment or order, oldest first: (action, by, from, to, reason,
    gateway reference)."""
    entries = AuditEntry.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk)
    ).order_by("id")
    return [
        (
            entry.action,
            entry.actor_label,
            entry.from_status,
            entry.to_status,
            entry.reason,
            entry.details.get("gateway_reference"),
        )
        for entry in entries
    ]


def backdate(payment: Payment, *, seconds: int) -> None:
    """Make a payment look as old as a stale one: the reconcile command skips young ones."""
    Payment.objects.filter(pk=payment.pk).update(
        created_at=payment.created_at - datetime.timedelta(seconds=seconds)
    )


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process that works on this test's database (pytest
    renamed it to test_...), with the gateway's ledger there too."""
    database = connections["default"].settings_dict
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    url = (
        f"postgres://{credentials}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    env = {key: value for key, value in os.environ.items() if key != "GATEWAY_DATABASE_URL"}
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": env.get("SECRET_KEY") or SUBPROCESS_SECRET_KEY,
            "DEBUG": "false",
            "PAYMENT_GATEWAY_LATENCY_MS": "0",
            **overrides,
        }
    )
    return env


def in_threads(calls, *, answers: tuple[type[Exception], ...]) -> list:
    """Run each call in a thread of its own (each with its own database connections,
    closed when it ends) and return what each returned, or the exception of `answers`
    it raised, in call order. The caller decides where the threads meet (a barrier)."""
    results = [None] * len(calls)

    def run(index, call):
        try:
            results[index] = call()
        except answers as error:
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
