import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.limits import SEARCH_TERM_MAX_LENGTH, length_check
from core.models import AuditEntry
from core.presenters import audit_entry_text
from customers.models import Address, AddressKind, Customer, digits_only
from customers.page_sections import customer_page_sections, customer_timeline_labelers

SEARCH_MIN_LENGTH = 2
# A search needs one word this long: a shorter one cannot use the trigram index, and a
# rare fragment of two letters ("sj") would read the whole table (200 ms and more among a
# million customers). "li wei" is searched (by "wei"); "li" alone is refused.
SEARCH_WORD_MIN_LENGTH = 3
# A query made only of digits and the separators people type in phone numbers.
_PHONE_OR_NUMBER = re.compile(r"^[\d\s().+/-]+$")
# The first search strategy reads customers in result order from the covering index of
# migration 0003 (about 0.3 us a row on PostgreSQL) and keeps those that match: first a
# probe of SEARCH_PROBE_ROWS, then, if the term showed up there, up to SEARCH_HEAD_ROWS.
# See _matching_customers.
SEARCH_PROBE_ROWS = 2_000
SEARCH_HEAD_ROWS = 20_000
# The sort strategy looks a term this long up by some of its trigrams (_index_pieces).
SEARCH_INDEX_PIECES_FROM = 7

# Both strategies find account numbers (unique, and in the covering index) in result
# order; `{where}` is one `search_document LIKE` per term. Each runs inside
# _CUSTOMERS_SQL, which reads what the results show of those customers in the same
# statement: one round trip and no ORM query to build, about 2 ms of a search's 5.
_HEAD_SQL = """
SELECT account_number FROM (
    SELECT account_number, last_name, first_name, search_document
    FROM customers_customer
    ORDER BY last_name, first_name, account_number
    LIMIT %s
) AS head
WHERE {where}
ORDER BY last_name, first_name, account_number
LIMIT %s
"""
# `{fence}`, OFFSET 0 on PostgreSQL, keeps the subquery from being merged with its
# ORDER BY ... LIMIT: planned alone, it reads the matches through the trigram index, and
# the sort keeps the first of them as they come (a CTE made the same plan, but copied
# every match into a store first: 10 ms against 7 for 18,000 Browns).
_MATCHES_SQL = """
SELECT account_number FROM (
    SELECT account_number, last_name, first_name
    FROM customers_customer
    WHERE {where}
    {fence}
) AS matches
ORDER BY last_name, first_name, account_number
LIMIT %s
"""
# The columns the results dialog and the API show (CustomerSummarySerializer), and the
# city of the default address, the billing one first, as
# Address.objects.filter(is_default=True).order_by("kind") would give it.
_CUSTOMERS_SQL = """
SELECT c.id, c.account_number, c.first_name, c.last_name, c.email, c.phone, c.blocked, (
    SELECT a.city FROM customers_address AS a
    WHERE a.customer_id = c.id AND a.is_default = %s
    ORDER BY a.kind
    LIMIT 1
) AS city
FROM customers_customer AS c
WHERE c.account_number IN ({accounts})
ORDER BY c.last_name, c.first_name, c.account_number
"""


def customer_search_terms(text: str) -> list[str]:
    """The lower-case substrings that a customer's search document must all contain."""
    if _PHONE_OR_NUMBER.match(text) and digits_only(text):
        # "(555) 010-4021" and "5550104021" find the same phone; "004021" an account.
        # Punctuation without a digit ("-", "()") is no phone: as the empty term it would
        # match every customer, so it is looked for as typed.
        return [digits_only(text)]
    return text.lower().split()


def customer_filter_by_search(customers: QuerySet[Customer], text: str) -> QuerySet[Customer]:
    """Keep the customers whose search document holds every word of `text`."""
    for term in customer_search_terms(text):
        customers = customers.filter(search_document__contains=term)
    return customers


def search_too_short_message() -> str:
    """The refusal of a search under SEARCH_MIN_LENGTH characters, on page and API."""
    return _("Enter at least %(count)d characters to search.") % {"count": SEARCH_MIN_LENGTH}


def search_word_too_short_message() -> str:
    """The refusal of a search whose every word is under SEARCH_WORD_MIN_LENGTH."""
    return _("Enter a word of at least %(count)d characters to search.") % {
        "count": SEARCH_WORD_MIN_LENGTH
    }


def customer_search_condition(terms: list[str]) -> tuple[str, list[str]]:
    """The SQL condition (and its parameters) that a customers_customer row's search
    document holds every term, in the form the trigram index serves. For raw queries that
    must keep PostgreSQL from planning a walk instead (see _matching_customers)."""
    where = " AND ".join(["search_document LIKE %s ESCAPE '\\'"] * len(terms))
    return where, [f"%{connection.ops.prep_for_like_query(term)}%" for term in terms]


def _index_pieces(text: str) -> list[str]:
    """What the sort strategy looks `text` up by in the trigram index: the whole of a
    short text; of a longer one, every third trigram and the last (which cover it). The
    index reads every entry of each trigram it is given, and some trigrams are in a
    large share of the documents (every phone has "555", every account "b00"): a phone
    number's eight trigrams took 4 to 9 ms of index, its three or four take 1 to 3, and
    still leave a handful of rows to check."""
    if len(text) < SEARCH_INDEX_PIECES_FROM:
        return [text]
    pieces = [text[start : start + 3] for start in range(0, len(text) - 2, 3)]
    if len(text) % 3:
        pieces.append(text[-3:])
    return pieces


def _sort_strategy_condition(terms: list[str]) -> tuple[str, list[str]]:
    """customer_search_condition for the sort strategy, which reads every match through
    the trigram index. A long term is looked up by some of its pieces (_index_pieces) and
    an e-mail address by its part up to the "@" only; either is then checked in full
    (strpos, exact) on the rows found. An address's domain trigrams ("exa", "com") are in
    nearly every customer's document, and the index would read all their entries (80 ms
    for one address among a million customers, 4 to 14 ms without them). Each piece's
    LIKE holds for every document that contains the term, so no match is lost."""
    conditions, parameters = [], []
    for term in terms:
        local, at, _domain = term.partition("@")
        indexed = f"{local}@" if at and len(local) >= 3 and len(term) > len(local) + 1 else term
        pieces = _index_pieces(indexed)
        if pieces == [term]:
            where, patterns = customer_search_condition([term])
            conditions.append(where)
            parameters += patterns
            continue
        # strpos is exact and never used for an index lookup: only the pieces' LIKEs are,
        # and whatever they find is checked for the whole term.
        where, patterns = customer_search_condition(pieces)
        conditions.append(f"{where} AND strpos(search_document, %s) > 0")
        parameters += [*patterns, term]
    return " AND ".join(conditions), parameters


def customer_search(*, query: str, limit: int | None = None) -> list[Customer]:
    """Customers matching every word of the query, by name, account number, email or phone.

    Case-insensitive; a word matches anywhere in those fields. At most `limit` rows
    (CUSTOMER_SEARCH_LIMIT by default) come back, in name order: a call-center search
    narrows down, it does not page through thousands. On PostgreSQL a trigram index and a
    covering name-order index keep it fast on a million customers (_matching_customers).
    """
    text = (query or "").strip()
    if len(text) < SEARCH_MIN_LENGTH:
        raise ValidationError({"search": search_too_short_message()}, code="too_short")
    length_check(text, field="search", max_length=SEARCH_TERM_MAX_LENGTH)
    # As typed: "(2) 1" is a phone's digits, which every customer has (a walk finds them).
    # A phone number typed as it is written ("02 15 96 47 38": words of two digits) is
    # searched by its digits, one term of ten.
    if all(len(word) < SEARCH_WORD_MIN_LENGTH for word in text.split()) and not (
        _PHONE_OR_NUMBER.match(text) and len(digits_only(text)) >= SEARCH_WORD_MIN_LENGTH
    ):
        raise ValidationError({"search": search_word_too_short_message()}, code="too_short")
    terms = customer_search_terms(text)
    return _matching_customers(terms, limit or settings.CUSTOMER_SEARCH_LIMIT)


def _customers(accounts_sql: str, params: list):
    """The customers whose account number `accounts_sql` selects, in name order, with
    the fields the results show (the others are deferred) and `city`."""
    sql = _CUSTOMERS_SQL.format(accounts=accounts_sql)
    return list(Customer.objects.raw(sql, [True, *params]))


def _matching_customers(terms: list[str], limit: int) -> list[Customer]:
    """The first `limit` customers, in name order, whose search document contains every
    term: the same rows as `customer_filter_by_search(...).order_by(name)[:limit]`, found
    by one of two strategies, because no single plan is fast for every query on a
    million customers.

    1. Walk: read the first customers in name order (an index-only scan of the covering
       index) and keep those that match. A common term (a first name such as "karen", a
       fragment such as "mar") has its first `limit` matches among the first few thousand,
       and since those rows are a prefix of the whole order the answer is exact, in a few
       milliseconds, where sorting its thousands of matches would take tens. A short
       probe first spares a rare term (a phone number, a surname) the longer walk.
    2. Sort: otherwise the term is rare, or its matches gather far down the order (every
       "Smith" sorts under S, so a walk would read most of the table). Collect every match
       through the trigram index, then sort them. The subquery is fenced (OFFSET 0) so
       that PostgreSQL cannot turn this back into a walk down the name index: its estimates
       cannot see where in the order the matches sit. A common last name has thousands
       of matches, each read from the table: on a table kept in name order
       (`cluster_customers`) they share a few hundred pages instead of one page each.
    """
    where, patterns = customer_search_condition(terms)
    head_sql = _HEAD_SQL.format(where=where)
    found = _customers(head_sql, [SEARCH_PROBE_ROWS, *patterns, limit])
    if len(found) == limit:
        return found
    # Any match in the probe is worth the longer walk. The probe is not a fair sample:
    # it holds only the first surnames of the order, and within a surname the first
    # names run in order too, so a first name as common as "Paul" may show there once.
    if found:
        found = _customers(head_sql, [SEARCH_HEAD_ROWS, *patterns, limit])
        if len(found) == limit:
            return found
    fence = ""
    if connection.vendor == "postgresql":
        where, patterns = _sort_strategy_condition(terms)
        fence = "OFFSET 0"
    return _customers(_MATCHES_SQL.format(where=where, fence=fence), [*patterns, limit])


def customer_get(*, account_number: str) -> Customer:
    if "\x00" in account_number:  # PostgreSQL refuses NUL in a query: no such customer
        raise Customer.DoesNotExist
    return Customer.objects.get(account_number=account_number)


def customer_page_get(*, account_number: str) -> Customer:
    """A customer with what the customer page shows: the addresses, and in
    `customer.page_sections` each registered section's data by name (customers.page_sections),
    in a fixed number of queries."""
    if "\x00" in account_number:  # PostgreSQL refuses NUL in a query: no such customer
        raise Customer.DoesNotExist
    customer = Customer.objects.prefetch_related("addresses").get(account_number=account_number)
    # Set like a Prefetch(to_attr=...): the page and the API read it from the customer.
    customer.page_sections = {
        section.name: section.load(customer) for section in customer_page_sections()
    }
    return customer


def customer_default_ship_to(customer: Customer) -> Address | None:
    return (
        customer.addresses.filter(kind=AddressKind.SHIPPING).order_by("-is_default", "id").first()
    )


def customer_timeline(customer: Customer, *, limit: int = 100) -> list[tuple[object, str]]:
    """The customer's audit trail, newest first, each entry with its sentence."""
    entries = list(AuditEntry.objects.filter(customer=customer).order_by("-at", "-id")[:limit])
    labels = _timeline_labels(entries)
    return [(entry, audit_entry_text(entry, labels)) for entry in entries]


def _timeline_labels(entries) -> dict[tuple[str, str], str]:
    """What each object of the timeline is called, read per kind (a query each) through
    the labelers the customer page sections declare."""
    ids: dict[str, set[int]] = {}
    for entry in entries:
        if entry.object_id.isdigit():
            ids.setdefault(entry.object_type, set()).add(int(entry.object_id))
    labels: dict[tuple[str, str], str] = {}
    for object_type, labeler in customer_timeline_labelers().items():
        if object_type in ids:
            labels.update(
                {(object_type, str(pk)): label for pk, label in labeler(ids[object_type])}
            )
    return labels
