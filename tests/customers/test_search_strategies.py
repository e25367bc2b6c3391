"""The search's strategies (customers.selectors._matching_customers) answer exactly what
the plain filter does, whichever of them finds the rows, and read the results' fields in
the same statement."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import selectors
from customers.management.commands.cluster_customers import is_clustered
from customers.models import AddressKind, Customer
from customers.selectors import customer_filter_by_search, customer_search
from tests.factories import AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db

NAME_ORDER = ("last_name", "first_name", "account_number")
QUERIES = [
    "smith",
    "SMITH",
    "Smi",
    "smit",
    "ith",
    "adams-smith",
    "smith-zane",
    "smith anna",
    "anna",
    "zane",
    "5550000",
    "first07 smith",
    "mail only the.smiths@example",
]
# Probe and walk lengths that make each strategy answer on this small table: the walk
# alone (the defaults reach every row), the longer walk after a probe of one row, and
# the sort after walks too short to reach the surname block.
STRATEGIES = {"walk": (2_000, 20_000), "probe then walk": (1, 20_000), "sort": (1, 3)}


@pytest.fixture
def surname_block():
    """A common last name's block in the name order, with matches before it (hyphenated
    names, a first name, an e-mail), in it (every case) and after it (longer names)."""
    people = [("Anna", "Adams-Smith"), ("Smithy", "Baker"), ("Zoe", "Blacksmith")]
    people += [("Anna", "Smith"), ("Bert", "SMITH"), ("Carl", "smith"), ("Anna", "Smith-Zane")]
    people += [(f"First{number:02d}", "Smith") for number in range(30)]
    people += [("Dora", "Smithson"), ("Eve", "Tsmith"), ("Zane", "Zed-Smith"), ("Ann", "Zane")]
    people += [(f"Other{number:02d}", f"Name{number:02d}") for number in range(20)]
    customers = [CustomerFactory(first_name=first, last_name=last) for first, last in people]
    CustomerFactory(first_name="Mail", last_name="Only", email="the.smiths@example.com")
    for customer in customers[::3]:
        AddressFactory(customer=customer, city=f"Ship {customer.account_number}")
        AddressFactory(
            customer=customer, kind=AddressKind.BILLING, city=f"Bill {customer.account_number}"
        )
    return customers


def expected(query, limit):
    matching = customer_filter_by_search(Customer.objects.all(), query).order_by(*NAME_ORDER)
    return list(matching[:limit])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("limit", [25, 3])
def test_every_strategy_returns_the_rows_of_the_plain_filter(
    surname_block, monkeypatch, strategy, query, limit
):
    probe, head = STRATEGIES[strategy]
    monkeypatch.setattr(selectors, "SEARCH_PROBE_ROWS", probe)
    monkeypatch.setattr(selectors, "SEARCH_HEAD_ROWS", head)

    found = customer_search(query=query, limit=limit)

    assert [c.account_number for c in found] == [c.account_number for c in expected(query, limit)]


def test_the_results_carry_their_fields_and_the_default_billing_city(surname_block):
    found = {customer.account_number: customer for customer in customer_search(query="smith")}

    assert len(found) == settings.CUSTOMER_SEARCH_LIMIT
    for customer in expected("smith", settings.CUSTOMER_SEARCH_LIMIT):
        result = found[customer.account_number]
        fields = ("first_name", "last_name", "email", "phone", "blocked", "full_name")
        assert [getattr(result, name) for name in fields] == [
            getattr(customer, name) for name in fields
        ]
        default = customer.addresses.filter(is_default=True).order_by("kind").first()
        assert result.city == (default.city if default else None)
    assert any(result.city and result.city.startswith("Bill ") for result in found.values())


def test_a_search_is_one_statement_when_the_probe_finds_enough(surname_block, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_PROBE_ROWS", 2_000)
    with CaptureQueriesContext(connection) as queries:
        found = customer_search(query="smith", limit=5)
        # Shown fields are there already; only the others cost a query.
        [(c.account_number, c.full_name, c.email, c.phone, c.blocked, c.city) for c in found]

    assert len(queries) == 1


def test_a_search_takes_three_statements_at_most(surname_block, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_PROBE_ROWS", 1)
    monkeypatch.setattr(selectors, "SEARCH_HEAD_ROWS", 3)
    with CaptureQueriesContext(connection) as queries:
        customer_search(query="anna")

    assert len(queries) == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="CLUSTER is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_clustering_the_table_changes_no_answer(surname_block):
    before = {query: [c.account_number for c in customer_search(query=query)] for query in QUERIES}
    call_command("cluster_customers", stdout=io.StringIO())

    assert is_clustered()
    with connection.cursor() as cursor:  # schema, which the test's flush leaves
        cursor.execute("ALTER TABLE customers_customer SET WITHOUT CLUSTER")
    assert {
        query: [c.account_number for c in customer_search(query=query)] for query in QUERIES
    } == before
