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


PLACES = [
    ("US", "WA", "98101"),
    ("US", "wa", "98101-1234"),
    ("US", "WA", "98004"),
    ("US", "WA", "98 004"),
    ("US", "WA", "99201"),
    ("US", "", "98101"),
    ("US", "OR", "97204"),
    ("FR", "", "69003"),
    ("FR", "ARA", "69003"),
    ("GB", "", "sw1a 1aa"),
    ("GB", "", "SW2 1AA"),
    ("CA", "QC", "H2X 1L4"),
]


def test_a_chunk_matches_each_place_as_the_database_does():
    """Within a block, places are matched in Python among the country's jurisdictions (a
    batch's customers all have different postal codes): the same answer as the query."""
    for name, country, region, prefix in [
        ("Seattle, WA", "US", "WA", "981"),
        ("Bellevue, WA", "US", "WA", "98004"),
        ("Washington", "US", "WA", ""),
        ("Lyon", "FR", "", "69"),
        ("France", "FR", "", ""),
        ("London SW1", "GB", "", "sw1"),
    ]:
        TaxJurisdiction.objects.create(
            name=name, country=country, region=region, postal_prefix=prefix
        )
    from orders.tax.selectors import tax_jurisdiction_for_place

    def answers():
        return [
            getattr(
                tax_jurisdiction_for_place(country=country, region=region, postal_code=postal),
                "name",
                None,
            )
            for country, region, postal in PLACES
        ]

    by_query = answers()
    with tax_tables_read_once():
        in_a_block = answers()

    assert by_query == [
        "Seattle, WA",
        "Seattle, WA",
        "Bellevue, WA",
        "Bellevue, WA",
        "Washington",
        None,
        None,
        "Lyon",
        "Lyon",
        "London SW1",
        None,
        None,
    ]
    assert in_a_block == by_query


def test_a_block_inside_a_chunk_keeps_the_chunks_answers(seattle_address):
    # A chunk (the charge's block) prices shipments, which opens a block of its own: the
    # inner block reads nothing the chunk has read, and leaves its answers to the chunk.
    with tax_tables_read_once():
        price(seattle_address)
        with tax_tables_read_once(), CaptureQueriesContext(connection) as inner:
            price(seattle_address)
        with CaptureQueriesContext(connection) as after:
            price(seattle_address)

    assert (tax_queries(inner), tax_queries(after)) == ([], [])


def test_a_block_picks_each_days_rate_as_the_database_does(seattle_address):
    """Within a block a jurisdiction's rates are read once for every day (a subscription's
    shipments ship on different days) and each day's rate is picked in Python: the same
    rate as the query picks, on the last day of a range, the first of the next, and a
    day with no rate in force."""
    from orders.tax.selectors import tax_rates_on

    rate = TaxRate.objects.get()
    rate.effective_to = DAY + datetime.timedelta(days=30)
    rate.save()
    group = rate.group
    later = TaxRate.objects.create(
        jurisdiction=rate.jurisdiction,
        group=group,
        rate=Decimal("10.50"),
        effective_from=DAY + datetime.timedelta(days=31),
        effective_to=DAY + datetime.timedelta(days=60),
    )
    days = [DAY + datetime.timedelta(days=offset) for offset in (-1, 0, 30, 31, 60, 61)]

    def answers():
        return [
            tax_rates_on(jurisdiction_id=rate.jurisdiction_id, group_ids={group.pk}, day=day)
            for day in days
        ]

    by_query = answers()
    with tax_tables_read_once(), CaptureQueriesContext(connection) as in_a_block:
        in_block = answers()

    expected = [{}, {group.pk: rate}, {group.pk: rate}, {group.pk: later}, {group.pk: later}, {}]
    assert by_query == expected
    assert in_block == expected
    assert len(tax_queries(in_a_block)) == 1
