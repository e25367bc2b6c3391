"""Within tax_tables_read_once() (a batch chunk), each answer of the tax tables is read
once: the second shipment priced for the same place and day asks the database nothing
about tax; outside the block every pricing reads the tables as they are."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Address
from orders.pricing import GoodsLine, document_price
from orders.tax.models import TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate
from orders.tax.selectors import tax_tables_read_once
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 12, 7)


@pytest.fixture
def seattle_address():
    group = TaxGroup.objects.create(
        code="STD",
        name_en="Standard",
        name_fr="Standard",
        kind=TaxGroupKind.STANDARD,
        is_default=True,
    )
    place = TaxJurisdiction.objects.create(
        name="Seattle, WA", country="US", region="WA", postal_prefix="981"
    )
    TaxRate.objects.create(
        jurisdiction=place, group=group, rate=Decimal("10.25"), effective_from=DAY
    )
    return Address.objects.create(
        customer=CustomerFactory(),
        street="1420 Pine Street",
        city="Seattle",
        state="WA",
        postal_code="98101",
        country="US",
    )


def price(address):
    return document_price(
        goods=[GoodsLine(key="1", amount=Decimal("27.98"), units=2)],
        ship_to=address,
        delivery_mode=None,
        currency="USD",
        on_date=DAY,
    )


def tax_queries(context) -> list[str]:
    return [q["sql"] for q in context.captured_queries if '"orders_tax' in q["sql"]]


def test_a_chunk_reads_the_tables_once_and_sees_a_change_only_in_the_next(seattle_address):
    with tax_tables_read_once():
        first = price(seattle_address)
        TaxRate.objects.update(rate=Decimal("20.00"))
        with CaptureQueriesContext(connection) as again:
            second = price(seattle_address)

    # 27.98 x 10.25 % = 2.86795 -> 2.87, both times: the block kept the first answers.
    assert (first.tax, second.tax) == (Decimal("2.87"), Decimal("2.87"))
    assert tax_queries(again) == []
    # After the block, the rate of now: 27.98 x 20 % = 5.596 -> 5.60.
    assert price(seattle_address).tax == Decimal("5.60")


def test_outside_a_block_every_pricing_reads_the_tables(seattle_address):
    price(seattle_address)
    with CaptureQueriesContext(connection) as again:
        price(seattle_address)

    assert len(tax_queries(again)) >= 3
