"""`make run` keeps its data in SQLite, which adds and multiplies decimals as floats: the
database's checks that a document's total is its parts and a line's amount is quantity x
unit price must still hold for amounts a float cannot write (17.99 + 5.95 + 2.45 is
26.389999... there, 7 x 17.99 is 125.92999...). A fresh SQLite database, migrated and
written through the ORM in a process of its own, as `make run` does."""

import subprocess

from tests.sqlite_run import ROOT, sqlite_migrated

WRITE = """
from decimal import Decimal as D
from customers.models import Customer
from orders.models import Item, SalesOrder, SalesOrderLine
customer = Customer.objects.create(account_number="009001", first_name="Ada", last_name="Float")
item = Item.objects.create(item_number="9001", name="Vitamins", unit_price=D("17.99"))
order = SalesOrder.objects.create(
    number="SO-900001", customer=customer, currency="USD", total=D("26.39"),
    subtotal=D("17.99"), delivery_amount=D("5.95"), tax_amount=D("2.45"),
)
SalesOrderLine.objects.create(
    order=order, line_number=1, item=item, quantity=7, unit_price=D("17.99"),
    amount=D("125.93"), tax_amount=D("12.91"), gross_amount=D("138.84"),
)
print("written", SalesOrder.objects.count(), SalesOrderLine.objects.count())
# The sales-orders lookup's PostgreSQL query (a UNION of limited reads, a LATERAL join)
# has a plain form for SQLite.
from django.utils import timezone
from continuity.lookups import sales_order_lookup
SalesOrder.objects.filter(pk=order.pk).update(
    kind="continuity_parent", status="submitted", submitted_at=timezone.now()
)
for q in ["", "9", "SO-9", "Float", "009001", "nobody"]:
    print("lookup", repr(q), [option.value for option in sales_order_lookup(q=q, limit=10)])
"""


def test_totals_and_line_amounts_a_float_cannot_write_are_accepted_on_sqlite(tmp_path):
    """And the sales-orders lookup, whose PostgreSQL form SQLite cannot run, answers."""
    manage, env = sqlite_migrated(tmp_path)
    written = subprocess.run(
        [*manage, "shell", "-c", WRITE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr[-2000:]
    lines = written.stdout.strip().splitlines()
    assert lines[-7:] == [
        "written 1 1",
        "lookup '' ['SO-900001']",
        "lookup '9' ['SO-900001']",
        "lookup 'SO-9' ['SO-900001']",
        "lookup 'Float' ['SO-900001']",
        "lookup '009001' ['SO-900001']",
        "lookup 'nobody' []",
    ]
