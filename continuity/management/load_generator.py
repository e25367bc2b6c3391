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
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from continuity.models import (
    ContinuityParameters,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    PaymentAllocation,
    Subscription,
    SubscriptionStatus,
)
from continuity.selectors import (
    ProgramPlan,
    ProgramQuote,
    program_get_for_quote,
    program_quote,
)
from core.bulk import copy_rows
from customers.models import Address, AddressKind, Customer
from orders.models import (
    Item,
    SalesOrder,
    SalesOrderKind,
    SalesOrderLine,
    SalesOrderStatus,
)
from orders.numbers import SALES_ORDER_SEQUENCE, format_sales_order_number
from payments.gateways.base import minor_units
from payments.gateways.simulator.models import SimulatedCard, SimulatedTransaction
from payments.gateways.simulator.test_cards import Behaviour
from payments.models import (
    Card,
    CardBrand,
    Payment,
    PaymentMethod,
    PaymentOperation,
    PaymentStatus,
)

LEDGER = "gateway"
# Generated accounts are L0000001, L0000002, ...: a prefix neither the demo accounts
# (0040xx) nor generate_customers (B0000001 ...) use.
ACCOUNT_PREFIX = "L"
ACCOUNT_DIGITS = 7
# What made the parent orders, so that generated rows can be told from sold ones.
SOURCE_REFERENCE = "generated-load"

# Names only need to look like names: the batch jobs never read them.
FIRST_NAMES = ("Ava", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ethan", "Zoe", "Hugo")
LAST_NAMES = ("Smith", "Martin", "Garcia", "Nguyen", "Brown", "Dubois", "Miller", "Lopez")
CITIES = (
    ("Seattle", "WA", "981"),
    ("Portland", "OR", "972"),
    ("Denver", "CO", "802"),
    ("Austin", "TX", "787"),
    ("Boston", "MA", "021"),
    ("Chicago", "IL", "606"),
)


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


def account_number(counter: int) -> str:
    return f"{ACCOUNT_PREFIX}{counter:0{ACCOUNT_DIGITS}d}"


def _next_ids(model: type[models.Model], count: int) -> list[int]:
    """`count` ids from the table's own identity sequence."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _next_order_numbers(count: int) -> list[str]:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s) FROM generate_series(1, %s)", [f"{SALES_ORDER_SEQUENCE}_seq", count]
        )
        return [format_sales_order_number(row[0]) for row in cursor.fetchall()]


# --- The load -----------------------------------------------------------------------------


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
    shape = _Shape(
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
            rows += _generate_batch(shape, first_counter=counter + done, size=size)
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


@dataclass(frozen=True)
class _Shape:
    """What every generated subscription shares."""

    item: Item
    method: PaymentMethod
    program_id: int
    plan_json: dict
    quote: ProgramQuote
    paid_sequences: set[int]
    due_now: Decimal
    currency: str
    start_date: datetime.date
    sold_at: datetime.datetime
    written_at: datetime.datetime
    expiry_year: int


def _generate_batch(shape: _Shape, *, first_counter: int, size: int) -> int:
    counters = range(first_counter, first_counter + size)
    customer_ids = _next_ids(Customer, size)
    address_ids = _next_ids(Address, size)
    card_ids = _next_ids(Card, size)
    order_ids = _next_ids(SalesOrder, size)
    order_line_ids = _next_ids(SalesOrderLine, size)
    payment_ids = _next_ids(Payment, size)
    subscription_ids = _next_ids(Subscription, size)
    shipments = shape.quote.occurrences
    occurrence_ids = _next_ids(Occurrence, size * len(shipments))
    numbers = _next_order_numbers(size)
    tokens = ["tok_sim_" + secrets.token_hex(12) for _ in range(size)]
    references = ["sim_" + secrets.token_hex(10) for _ in range(size)]
    rows = 0

    people = []  # (account, first name, last name, e-mail, phone)
    for counter in counters:
        account = account_number(counter)
        first = FIRST_NAMES[counter % len(FIRST_NAMES)]
        last = LAST_NAMES[(counter // len(FIRST_NAMES)) % len(LAST_NAMES)]
        email = f"{first.lower()}.{last.lower()}.{account.lower()}@example.com"
        people.append((account, first, last, email, f"+1 206 555 {counter % 10_000:04d}"))

    rows += copy_rows(
        Customer,
        (
            "id",
            "account_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "language",
            "blocked",
            "search_document",
            "created_at",
        ),
        (
            (
                customer_id,
                account,
                first,
                last,
                email,
                phone,
                "en",
                False,
                Customer.build_search_document(
                    account_number=account,
                    first_name=first,
                    last_name=last,
                    email=email,
                    phone=phone,
                ),
                shape.written_at,
            )
            for customer_id, (account, first, last, email, phone) in zip(
                customer_ids, people, strict=True
            )
        ),
    )
    rows += copy_rows(
        Address,
        (
            "id",
            "customer_id",
            "kind",
            "name",
            "street",
            "city",
            "state",
            "postal_code",
            "country",
            "is_default",
        ),
        (
            (
                address_id,
                customer_id,
                AddressKind.SHIPPING.value,
                f"{first} {last}",
                f"{100 + counter % 9_000} Pine Street",
                *CITIES[counter % len(CITIES)][:2],
                f"{CITIES[counter % len(CITIES)][2]}{counter % 100:02d}",
                "US",
                True,
            )
            for address_id, customer_id, counter, (_account, first, last, _email, _phone) in zip(
                address_ids, customer_ids, counters, people, strict=True
            )
        ),
    )
    # The card is tokenized at the gateway (its ledger, through its own connection) and
    # kept in ours as token, brand, last four digits and expiry.
    rows += copy_rows(
        SimulatedCard,
        ("token", "behaviour", "brand", "last4", "expiry_month", "expiry_year", "created_at"),
        (
            (
                token,
                Behaviour.APPROVE.value,
                CardBrand.VISA.value,
                "4242",
                12,
                shape.expiry_year,
                shape.written_at,
            )
            for token in tokens
        ),
        using=LEDGER,
    )
    rows += copy_rows(
        Card,
        (
            "id",
            "customer_id",
            "token",
            "brand",
            "last4",
            "expiry_month",
            "expiry_year",
            "name_on_card",
            "active",
            "created_at",
        ),
        (
            (
                card_id,
                customer_id,
                token,
                CardBrand.VISA.value,
                "4242",
                12,
                shape.expiry_year,
                f"{first} {last}",
                True,
                shape.written_at,
            )
            for card_id, customer_id, token, (_account, first, last, _email, _phone) in zip(
                card_ids, customer_ids, tokens, people, strict=True
            )
        ),
    )
    rows += copy_rows(
        SalesOrder,
        (
            "id",
            "number",
            "customer_id",
            "kind",
            "status",
            "parent_id",
            "ship_to_id",
            "currency",
            "total",
            "amount_due",
            "completed_at",
            "payment_method_id",
            "payment_card_id",
            "order_date",
            "requested_ship_date",
            "submitted_at",
            "source_reference",
            "created_by_id",
            "created_at",
        ),
        (
            (
                order_id,
                number,
                customer_id,
                SalesOrderKind.CONTINUITY_PARENT.value,
                SalesOrderStatus.SUBMITTED.value,
                None,
                address_id,
                shape.currency,
                shape.due_now,
                shape.due_now,
                shape.sold_at,
                shape.method.pk,
                card_id,
                shape.start_date,
                None,
                shape.sold_at,
                SOURCE_REFERENCE,
                None,
                shape.written_at,
            )
            for order_id, number, customer_id, address_id, card_id in zip(
                order_ids, numbers, customer_ids, address_ids, card_ids, strict=True
            )
        ),
    )
    # The continuity line is priced at what is due now for one unit (as
    # sales_order_line_add prices it); the program starts on the order date.
    rows += copy_rows(
        SalesOrderLine,
        (
            "id",
            "order_id",
            "line_number",
            "item_id",
            "quantity",
            "unit_price",
            "amount",
            "continuity_start_date",
            "occurrence_line_id",
        ),
        (
            (
                line_id,
                order_id,
                1,
                shape.item.pk,
                1,
                shape.due_now,
                shape.due_now,
                shape.start_date if shape.quote.program.prompt_for_start_date else None,
                None,
            )
            for line_id, order_id in zip(order_line_ids, order_ids, strict=True)
        ),
    )
    # The sale taken at submit: approved by the gateway (its ledger) and in our payments.
    amount_minor = minor_units(shape.due_now, shape.currency)
    rows += copy_rows(
        SimulatedTransaction,
        (
            "idempotency_key",
            "operation",
            "token",
            "original_reference",
            "amount_minor",
            "currency",
            "approved",
            "decline_code",
            "reference",
            "created_at",
        ),
        (
            (
                f"order-{order_id}-sale-1",
                "sale",
                token,
                "",
                amount_minor,
                shape.currency,
                True,
                "",
                reference,
                shape.sold_at,
            )
            for order_id, token, reference in zip(order_ids, tokens, references, strict=True)
        ),
        using=LEDGER,
    )
    rows += copy_rows(
        Payment,
        (
            "id",
            "sales_order_id",
            "occurrence_id",
            "customer_id",
            "method_id",
            "card_id",
            "original_id",
            "operation",
            "status",
            "amount",
            "currency",
            "attempt_number",
            "idempotency_key",
            "gateway_reference",
            "decline_code",
            "decline_class",
            "message",
            "created_at",
            "answered_at",
        ),
        (
            (
                payment_id,
                order_id,
                None,
                customer_id,
                shape.method.pk,
                card_id,
                None,
                PaymentOperation.SALE.value,
                PaymentStatus.APPROVED.value,
                shape.due_now,
                shape.currency,
                1,
                f"order-{order_id}-sale-1",
                reference,
                "",
                "",
                "Approved",
                shape.sold_at,
                shape.sold_at,
            )
            for payment_id, order_id, customer_id, card_id, reference in zip(
                payment_ids, order_ids, customer_ids, card_ids, references, strict=True
            )
        ),
    )
    rows += copy_rows(
        Subscription,
        (
            "id",
            "customer_id",
            "parent_order_id",
            "parent_line_id",
            "program_id",
            "item_id",
            "quantity",
            "start_date",
            "first_shipment_date",
            "open_ended",
            "plan",
            "planned_through",
            "payment_method_id",
            "card_id",
            "ship_to_id",
            "currency",
            "status",
            "hold_reason",
            "schedule_shift_days",
            "created_at",
        ),
        (
            (
                subscription_id,
                customer_id,
                order_id,
                line_id,
                shape.program_id,
                shape.item.pk,
                1,
                shape.start_date,
                shape.quote.first_shipment_date,
                shape.quote.open_ended,
                shape.plan_json,
                shape.quote.planned_through,
                shape.method.pk,
                card_id,
                address_id,
                shape.currency,
                SubscriptionStatus.ACTIVE.value,
                "",
                0,
                shape.sold_at,
            )
            for subscription_id, customer_id, order_id, line_id, card_id, address_id in zip(
                subscription_ids,
                customer_ids,
                order_ids,
                order_line_ids,
                card_ids,
                address_ids,
                strict=True,
            )
        ),
    )
    occurrence_rows = []
    line_rows = []
    allocation_rows = []
    ids = iter(occurrence_ids)
    for subscription_id, payment_id in zip(subscription_ids, payment_ids, strict=True):
        for shipment in shipments:
            occurrence_id = next(ids)
            paid = shipment.sequence in shape.paid_sequences
            occurrence_rows.append(
                (
                    occurrence_id,
                    subscription_id,
                    shipment.sequence,
                    shipment.event_number,
                    shipment.ship_date,
                    shipment.amount,
                    shape.currency,
                    OccurrenceStatus.PAID.value if paid else OccurrenceStatus.SCHEDULED.value,
                    payment_id if paid else None,
                    0,
                    None,
                    "",
                    None,
                )
            )
            if paid and shipment.amount > 0:
                # The sale taken at submit pays this shipment: its allocation, as
                # continuity.services.occurrences_create writes for a sold order.
                allocation_rows.append((occurrence_id, payment_id, shipment.amount, shape.sold_at))
            for number, line in enumerate(shipment.lines, start=1):
                line_rows.append(
                    (
                        occurrence_id,
                        number,
                        line.item_id,
                        line.quantity,
                        line.unit_price,
                        line.amount,
                    )
                )
    rows += copy_rows(
        Occurrence,
        (
            "id",
            "subscription_id",
            "sequence",
            "event_number",
            "ship_date",
            "amount",
            "currency",
            "status",
            "payment_id",
            "payment_attempts",
            "next_payment_attempt_on",
            "decline_reason",
            "child_order_id",
        ),
        occurrence_rows,
    )
    rows += copy_rows(
        OccurrenceLine,
        ("occurrence_id", "line_number", "item_id", "quantity", "unit_price", "amount"),
        line_rows,
    )
    rows += copy_rows(
        PaymentAllocation,
        ("occurrence_id", "payment_id", "amount", "created_at"),
        allocation_rows,
    )
    return rows


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
