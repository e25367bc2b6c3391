"""Many sold subscriptions with their due shipments, loaded with PostgreSQL COPY.

Used by the `generate_continuity_load` command and by `make bench-batch`. Each generated
subscription looks as if an agent had sold the continuity item on the start date
(orders.services.sales_order_submit): a customer with a default shipping address and a
tokenized card (also in the gateway simulator's ledger, so its sales approve), a submitted
continuity parent order with its one continuity line, the approved sale taken at submit
(in our payments and in the simulator's ledger), the subscription with the plan it was
sold with, and every planned shipment with its lines, the first one paid by that sale
(with its allocation of that sale).

So on its first ship date (the start date for the demo item 88000) every subscription has
one paid shipment due for a child order, and on the payment date of its second shipment
(ship date minus the payment lead days) one shipment due for a charge. The audit trail of
the sale itself is not generated: nothing in the batch jobs reads it.

The ORM would take minutes for the millions of rows of a large load; COPY takes seconds.
Ids of rows that other rows point at are taken from the tables' own sequences (nextval),
so that the generated rows and rows the application writes later never collide.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from continuity.models import (
    ContinuityParameters,
    Occurrence,
    OccurrenceLine,
    PaymentAllocation,
    Subscription,
)
from continuity.planning import ProgramPlan, program_get_for_quote, program_quote
from customers.models import Address, Customer
from devdata.continuity_load.batch import (
    ACCOUNT_DIGITS,
    ACCOUNT_PREFIX,
    LEDGER,
    LoadBatch,
    LoadShape,
)
from devdata.continuity_load.customers import customer_rows_copy
from devdata.continuity_load.sales import sale_rows_copy
from devdata.continuity_load.subscriptions import subscription_rows_copy
from orders.models import Item, SalesOrder, SalesOrderLine
from payments.gateways.simulator.models import SimulatedCard, SimulatedTransaction
from payments.models import Card, Payment, PaymentMethod


class LoadRefused(Exception):
    """The load cannot be generated here (not PostgreSQL, no such continuity item ...)."""


@dataclass(frozen=True)
class LoadResult:
    subscriptions: int
    occurrences: int
    rows: int
    seconds: float
    start_date: datetime.date
    # On this run date every generated subscription has one paid shipment due for a
    # child order ...
    child_order_run_date: datetime.date
    # ... and on this one (its second shipment's ship date minus the payment lead days)
    # one shipment due for a charge; None when the program has a single shipment or is
    # billed up front (nothing left to charge).
    payment_run_date: datetime.date | None


def _first_free_counter() -> int:
    last = (
        Customer.objects.filter(
            account_number__regex=rf"^{ACCOUNT_PREFIX}[0-9]{{{ACCOUNT_DIGITS}}}$"
        )
        .order_by("-account_number")
        .values_list("account_number", flat=True)
        .first()
    )
    return int(last[len(ACCOUNT_PREFIX) :]) + 1 if last else 1


def continuity_load_generate(
    *,
    count: int,
    start_date: datetime.date,
    item_number: str = "88000",
    batch_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Generate `count` subscriptions of `item_number` sold on `start_date`.

    One transaction on each connection (ours and the simulator's ledger): an interrupted
    run leaves nothing behind in ours. Accounts continue after the last generated one, so
    a second run adds `count` more. `batch_size` subscriptions are written per round of
    COPY, which bounds the memory of the buffers.
    """
    if connections["default"].vendor != "postgresql":
        raise LoadRefused(
            "generate_continuity_load needs PostgreSQL (it loads rows with COPY), "
            f"not {connections['default'].vendor}."
        )
    if count < 1:
        raise LoadRefused("--count must be at least 1.")
    item = Item.objects.filter(item_number=item_number).first()
    if item is None:
        raise LoadRefused(f"Item number {item_number} does not exist.")
    if not item.is_continuity:
        raise LoadRefused(f"Item {item_number} is not a continuity item.")
    method = PaymentMethod.objects.filter(code="Visa").first()
    if method is None:
        raise LoadRefused("Method of payment Visa does not exist.")
    program = program_get_for_quote(program_id=item.continuity_program_id)
    plan = ProgramPlan.of_program(program)
    # Every subscription is sold on the same day with one unit, so one quote serves all.
    quote = program_quote(program=plan, start_date=start_date, quantity=1, horizon_from=start_date)
    if plan.bill_up_front:
        paid_sequences = {shipment.sequence for shipment in quote.occurrences}
    else:
        paid_sequences = {quote.occurrences[0].sequence}
    parameters = ContinuityParameters.load()
    second = quote.occurrences[1] if len(quote.occurrences) > 1 else None
    payment_run_date = None
    if second is not None and second.sequence not in paid_sequences:
        payment_run_date = second.ship_date - datetime.timedelta(days=parameters.payment_lead_days)
    first = quote.occurrences[0]
    shape = LoadShape(
        item=item,
        method=method,
        program_id=program.pk,
        plan_json=plan.to_json(),
        quote=quote,
        paid_sequences=paid_sequences,
        due_now=quote.due_now,
        currency=settings.CURRENCY,
        start_date=start_date,
        # Sold at noon on the start date; the rows are written now.
        sold_at=timezone.make_aware(datetime.datetime.combine(start_date, datetime.time(12))),
        written_at=timezone.now(),
        expiry_year=start_date.year + 3,
    )
    started = time.perf_counter()
    rows = 0
    with transaction.atomic(), transaction.atomic(using=LEDGER):
        with connections["default"].cursor() as cursor:
            # Two generators at once would pick the same accounts.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('continuity.load'))")
        counter = _first_free_counter()
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            batch = LoadBatch.draw(shape, first_counter=counter + done, size=size)
            rows += _batch_write(shape, batch)
            done += size
            if progress:
                progress(done)
    _refresh_statistics()
    return LoadResult(
        subscriptions=count,
        occurrences=count * len(quote.occurrences),
        rows=rows,
        seconds=time.perf_counter() - started,
        start_date=start_date,
        child_order_run_date=first.ship_date,
        payment_run_date=payment_run_date,
    )


def _batch_write(shape: LoadShape, batch: LoadBatch) -> int:
    # In the order the foreign keys point: a subscription refers to its order, card and
    # address, an order to its customer.
    return (
        customer_rows_copy(shape, batch)
        + sale_rows_copy(shape, batch)
        + subscription_rows_copy(shape, batch)
    )


def _refresh_statistics() -> None:
    """The batch jobs' selections are planned from these statistics, so they must describe
    the new rows before the first run. VACUUM also sets the visibility map (index-only
    scans); it cannot run inside a transaction (a test's), where ANALYZE does."""
    tables = [
        model._meta.db_table
        for model in (
            Customer,
            Address,
            Card,
            SalesOrder,
            SalesOrderLine,
            Payment,
            Subscription,
            Occurrence,
            OccurrenceLine,
            PaymentAllocation,
        )
    ]
    for using, names in (
        ("default", tables),
        (LEDGER, [SimulatedCard._meta.db_table, SimulatedTransaction._meta.db_table]),
    ):
        connection = connections[using]
        verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for table in names:
                cursor.execute(f'{verb} "{table}"')
