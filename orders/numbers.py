"""Human-readable document numbers from database sequences.

PostgreSQL hands out sequence values without locking anything, so concurrent batch
chunks creating child orders never wait on each other for a number. Gaps (from rolled
back transactions) are normal and harmless.
"""

from django.db import connection, transaction
from django.db.models import F

from orders.models import NumberSequence

SALES_ORDER_SEQUENCE = "sales_order_number"
SALES_ORDER_PREFIX = "SO-"


def next_values(sequence: str, count: int = 1) -> list[int]:
    if count < 1:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)", [f"{sequence}_seq", count]
            )
            return [row[0] for row in cursor.fetchall()]
    with transaction.atomic():
        NumberSequence.objects.get_or_create(name=sequence)
        NumberSequence.objects.filter(name=sequence).update(last_value=F("last_value") + count)
        last = NumberSequence.objects.get(name=sequence).last_value
    return list(range(last - count + 1, last + 1))


def format_sales_order_number(value: int) -> str:
    return f"{SALES_ORDER_PREFIX}{value:06d}"


def next_sales_order_numbers(count: int = 1) -> list[str]:
    return [format_sales_order_number(value) for value in next_values(SALES_ORDER_SEQUENCE, count)]


INVOICE_SEQUENCE = "invoice_number"
INVOICE_PREFIX = "INV-"


def next_invoice_number() -> str:
    return f"{INVOICE_PREFIX}{next_values(INVOICE_SEQUENCE)[0]:06d}"
