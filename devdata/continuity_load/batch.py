"""What one generated subscription shares with every other (the shape) and what each
round of COPY draws for its own rows (the batch: ids, accounts, names, card tokens)."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import connections, models

from continuity.models import Occurrence, Subscription
from continuity.planning import ProgramQuote
from customers.models import Address, Customer
from orders.models import Item, SalesOrder, SalesOrderLine
from orders.numbers import SALES_ORDER_SEQUENCE, format_sales_order_number
from payments.models import Card, Payment, PaymentMethod

# The payment simulator's ledger: its rows are written through its own connection.
LEDGER = "gateway"
# Generated accounts are L0000001, L0000002, ...: a prefix neither the demo accounts
# (0040xx) nor generate_customers (B0000001 ...) use.
ACCOUNT_PREFIX = "L"
ACCOUNT_DIGITS = 7

# Names only need to look like names: the batch jobs never read them.
FIRST_NAMES = ("Ava", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ethan", "Zoe", "Hugo")
LAST_NAMES = ("Smith", "Martin", "Garcia", "Nguyen", "Brown", "Dubois", "Miller", "Lopez")


def account_number(counter: int) -> str:
    return f"{ACCOUNT_PREFIX}{counter:0{ACCOUNT_DIGITS}d}"


@dataclass(frozen=True)
class LoadShape:
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


@dataclass(frozen=True)
class LoadBatch:
    """One round of COPY: the i-th entry of every list belongs to the i-th subscription
    (occurrence_ids holds one id per planned shipment of each, in order)."""

    counters: range
    # (account, first name, last name, e-mail, phone)
    people: list[tuple[str, str, str, str, str]]
    customer_ids: list[int]
    address_ids: list[int]
    card_ids: list[int]
    order_ids: list[int]
    order_line_ids: list[int]
    order_numbers: list[str]
    payment_ids: list[int]
    subscription_ids: list[int]
    occurrence_ids: list[int]
    # The card tokens at the gateway, and the gateway's references of the sales.
    tokens: list[str]
    references: list[str]

    @classmethod
    def draw(cls, shape: LoadShape, *, first_counter: int, size: int) -> LoadBatch:
        counters = range(first_counter, first_counter + size)
        people = []
        for counter in counters:
            account = account_number(counter)
            first = FIRST_NAMES[counter % len(FIRST_NAMES)]
            last = LAST_NAMES[(counter // len(FIRST_NAMES)) % len(LAST_NAMES)]
            email = f"{first.lower()}.{last.lower()}.{account.lower()}@example.com"
            people.append((account, first, last, email, f"+1 206 555 {counter % 10_000:04d}"))
        return cls(
            counters=counters,
            people=people,
            customer_ids=_next_ids(Customer, size),
            address_ids=_next_ids(Address, size),
            card_ids=_next_ids(Card, size),
            order_ids=_next_ids(SalesOrder, size),
            order_line_ids=_next_ids(SalesOrderLine, size),
            order_numbers=_next_order_numbers(size),
            payment_ids=_next_ids(Payment, size),
            subscription_ids=_next_ids(Subscription, size),
            occurrence_ids=_next_ids(Occurrence, size * len(shape.quote.occurrences)),
            tokens=["tok_sim_" + secrets.token_hex(12) for _ in range(size)],
            references=["sim_" + secrets.token_hex(10) for _ in range(size)],
        )


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
