import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.selectors import customer_search
from customers.serializers import SEARCH_TEXT_PATTERN
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def accounts(query, **kwargs):
    return [customer.account_number for customer in customer_search(query=query, **kwargs)]


def test_first_name_matches_every_karen_case_insensitively(demo):
    assert accounts("KAREN") == ["004021", "004022", "004025", "004023", "004024"]


def test_first_and_last_name_find_the_one_karen_berg(demo):
    assert accounts("karen berg") == ["004021"]
    assert accounts("Berg Karen") == ["004021"]


def test_account_number_finds_its_customer(demo):
    assert accounts("004021") == ["004021"]


def test_phone_matches_with_or_without_formatting(demo):
    assert accounts("(206) 555-0142") == ["004021"]
    assert accounts("2065550142") == ["004021"]


def test_email_finds_its_customer(demo):
    assert accounts("karen.berg@example") == ["004021"]


def test_a_whole_email_address_finds_only_its_own_domain(db):
    """The sort strategy looks an address up by its part up to "@" (customers.selectors):
    the domain still decides."""
    first = CustomerFactory(first_name="Ann", last_name="Lee", email="ann.lee@north.example")
    CustomerFactory(first_name="Ann", last_name="Lee", email="ann.lee@south.example")
    CustomerFactory(first_name="Bo", last_name="Lee", email="jann.lee@east.example")
    assert accounts("Ann.Lee@North.Example") == [first.account_number]
    assert len(accounts("ann.lee@")) == 3
    assert accounts("ann.lee@west.example") == []


def test_results_are_capped_at_the_limit(db):
    CustomerFactory.create_batch(30, last_name="Capwell")
    assert len(accounts("capwell")) == 25
    assert len(accounts("capwell", limit=5)) == 5


def test_a_query_under_two_characters_is_refused(demo):
    with pytest.raises(ValidationError) as excinfo:
        customer_search(query=" k ")
    assert excinfo.value.message_dict == {"search": ["Enter at least 2 characters to search."]}


@pytest.mark.parametrize("query", ["ka", "KA", "ka be", " 12 ", "1 2"])
def test_a_search_without_a_word_of_three_characters_is_refused_and_reads_nothing(demo, query):
    with CaptureQueriesContext(connection) as queries, pytest.raises(ValidationError) as excinfo:
        customer_search(query=query)
    assert excinfo.value.message_dict == {
        "search": ["Enter a word of at least 3 characters to search."]
    }
    assert queries.captured_queries == []


def test_a_phone_written_in_pairs_of_digits_is_searched_by_its_digits(demo):
    """ "02 15 96 47 38" has no word of three characters, but ten digits: a phone number."""
    assert accounts("20 65 55 01 42") == ["004021"]
    assert "004021" in accounts("2 0 6")
    for query in ("20 65 55 01 42", "(2) 1", "2 0 6"):
        assert re.fullmatch(SEARCH_TEXT_PATTERN, query), query
    for query in ("ka", "1 2", " 12 ", "ka be"):
        assert not re.fullmatch(SEARCH_TEXT_PATTERN, query), query


def test_a_short_word_next_to_a_longer_one_is_searched(demo):
    assert accounts("ka berg") == ["004021"]
    assert accounts("Berg K") == ["004021"]


def test_no_match_is_an_empty_list(demo):
    assert accounts("zzzz") == []


def test_search_document_follows_edits(demo):
    customer = CustomerFactory(first_name="Olga", last_name="Petrova", email="")
    customer.last_name = "Ivanova"
    customer.save(update_fields=["last_name"])
    assert [c.pk for c in customer_search(query="olga ivanova")] == [customer.pk]
    assert customer_search(query="petrova") == []


def test_postgresql_has_a_trigram_index_on_the_search_document(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'customer_search_trgm_idx'"
        )
        (definition,) = cursor.fetchone()
    assert "gin (search_document gin_trgm_ops)" in definition
