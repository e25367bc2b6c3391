import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import selectors
from customers.models import Address, AddressKind, Customer
from devdata.customer_generator import AccountRange, PersonMaker

pytestmark = pytest.mark.django_db

NAME_ORDER = ("last_name", "first_name", "account_number")


def generated(start=1, count=500):
    return AccountRange(start=start, count=count).customers()


def test_generates_the_customers_of_the_range_with_the_model_search_document(db):
    call_command("generate_customers", count=500, batch_size=200, verbosity=0)

    customers = list(generated())
    assert len(customers) == 500
    assert {c.account_number for c in customers} == {f"B{n:07d}" for n in range(1, 501)}
    for customer in customers:
        assert customer.first_name and customer.last_name
        assert customer.search_document == Customer.build_search_document(
            account_number=customer.account_number,
            first_name=customer.first_name,
            last_name=customer.last_name,
            email=customer.email,
            phone=customer.phone,
        )
    addresses = Address.objects.filter(customer__in=customers)
    assert addresses.count() == 500
    assert set(addresses.values_list("kind", "is_default")) == {(AddressKind.SHIPPING, True)}


def test_a_second_run_on_the_same_range_is_refused_and_writes_nothing(db):
    call_command("generate_customers", count=500, verbosity=0)
    customers, addresses = Customer.objects.count(), Address.objects.count()

    with pytest.raises(CommandError) as same_range:
        call_command("generate_customers", count=500, verbosity=0)
    with pytest.raises(CommandError) as overlapping_range:
        call_command("generate_customers", start=400, count=200, verbosity=0)

    assert same_range.value.returncode == 2
    assert str(same_range.value) == (
        "accounts B0000001..B0000500 already hold 500 customers; nothing was generated "
        "(choose another --start)."
    )
    assert overlapping_range.value.returncode == 2
    assert (Customer.objects.count(), Address.objects.count()) == (customers, addresses)


def test_the_next_range_is_generated_beside_the_first(db):
    call_command("generate_customers", count=100, verbosity=0)
    call_command("generate_customers", start=101, count=100, verbosity=0)

    assert generated(count=200).count() == 200


def test_the_same_seed_gives_the_same_customers():
    first = [PersonMaker(seed=7, start=1).customer(counter) for counter in range(1, 50)]
    again = [PersonMaker(seed=7, start=1).customer(counter) for counter in range(1, 50)]
    other = [PersonMaker(seed=8, start=1).customer(counter) for counter in range(1, 50)]

    assert first == again
    assert first != other


@pytest.mark.parametrize(("probe_rows", "head_rows"), [(40, 400), (2_000, 20_000)])
def test_search_finds_what_the_plain_filter_finds_in_name_order(
    db, monkeypatch, probe_rows, head_rows
):
    """Both search strategies (walk the name order, or sort every match) return exactly
    the first rows of the plain filter; small walks force the sort on common terms too."""
    monkeypatch.setattr(selectors, "SEARCH_PROBE_ROWS", probe_rows)
    monkeypatch.setattr(selectors, "SEARCH_HEAD_ROWS", head_rows)
    call_command("generate_customers", count=500, verbosity=0)
    sample = list(generated().order_by("account_number")[:40])
    # "an", "ar": two letters next to a word of three, the shortest searched (alone, refused).
    queries = {"karen", "son", "mar", "an son", "ar mar", "B00001", "zzzq", "50%", "a_b"}
    queries.add("(206) 555-0142")
    for customer in sample:
        queries |= {
            customer.first_name,
            customer.last_name.upper(),
            f"{customer.first_name} {customer.last_name}",
            customer.last_name[:3],
            customer.account_number,
        }
        if customer.phone:
            queries.add(customer.phone)

    sorted_searches = walked_searches = 0
    # A surname of two letters ("Li") is refused alone: not a search to compare.
    searched = [
        query
        for query in sorted(queries)
        if any(len(word) >= selectors.SEARCH_WORD_MIN_LENGTH for word in query.split())
    ]
    for query in searched:
        expected = list(
            selectors.customer_filter_by_search(Customer.objects.all(), query)
            .order_by(*NAME_ORDER)
            .values_list("account_number", flat=True)[:25]
        )
        with CaptureQueriesContext(connection) as statements:
            found = [c.account_number for c in selectors.customer_search(query=query)]
        assert found == expected, query
        if any(") AS matches" in statement["sql"] for statement in statements):
            sorted_searches += 1
        else:
            walked_searches += 1
    assert sorted_searches and walked_searches
