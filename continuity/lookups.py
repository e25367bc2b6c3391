"""Type-ahead lookups of continuity (core.lookups): the batch forms' sales order (a
continuity parent order, optionally of one continuity item) and the subscription actions'
reason code."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from continuity.models import Subscription
from continuity.reason_codes import reason_codes_for
from core.formatting import day_text
from core.lookups import LookupOption
from customers.models import Customer
from customers.selectors import (
    customer_filter_by_search,
    customer_search_condition,
    customer_search_terms,
)
from orders.models import Item, SalesOrder, SalesOrderKind, SalesOrderStatus
from orders.numbers import SALES_ORDER_PREFIX

# Sales order numbers are SALES_ORDER_PREFIX and at least this many digits (orders.numbers).
ORDER_NUMBER_DIGITS = 6
# "123", "so123", "SO-000123": the digits of an order number, however it is typed.
_ORDER_DIGITS = re.compile(r"(?:SO-?)?([0-9]+)", re.IGNORECASE)
# An order number with its prefix ("SO-0001", "so12") is no customer's name or phone.
_ORDER_NUMBER_TYPED = re.compile(r"SO-?[0-9]+", re.IGNORECASE)
# A customer name is first looked for among the customers of the newest parent orders:
# each costs a primary-key probe (a few microseconds), and a word common enough to fill
# the list fills it there. Rarer words go through the customers' trigram index
# (_ORDERS_OF_MATCHES).
NEWEST_ORDERS_WALKED = 2_000
# The trigram index serves words of 3 characters or more: for shorter ones a search among
# every customer would read the whole table, so they are looked for in the walk only. So
# are digits under 6 (an account number has 6): 4 digits are in the phone or account
# number of a thousand customers out of a million, and reading them all to find the orders
# of a few costs more than a keystroke's budget; the order numbers they start are found
# all the same.
TRIGRAM_LENGTH = 3
DIGITS_LENGTH = 6


def _parent_orders(item_id: int | None) -> QuerySet[SalesOrder]:
    """The parent orders a batch form may name: sold (not open), of `item_id` if given.
    Served by the partial index sales_order_parent_lookup_idx and, for an item,
    subscription_item_order_idx."""
    orders = SalesOrder.objects.filter(kind=SalesOrderKind.CONTINUITY_PARENT).exclude(
        status=SalesOrderStatus.OPEN
    )
    if item_id is not None:
        orders = orders.filter(
            pk__in=Subscription.objects.filter(item_id=item_id).values("parent_order_id")
        )
    return orders


def order_number_prefixes(text: str) -> list[str]:
    """The number prefixes `text` stands for. Digits are compared to the number's digits
    without its leading zeros: "123" is the start of SO-000123, SO-001234, SO-012345 and
    SO-123456 (and of SO-1234567 once numbers have seven digits); "0012" of SO-0012xx only.
    Any other text is the start of a number as written ("SO-" every one)."""
    match = _ORDER_DIGITS.fullmatch(text)
    if match is None:
        return [text.upper()]
    digits = match.group(1)
    significant = digits.lstrip("0")
    if len(significant) < len(digits) or not significant:
        # Typed with its leading zeros: the number as written.
        return [SALES_ORDER_PREFIX + digits]
    padding = max(ORDER_NUMBER_DIGITS - len(significant), 0)
    return [SALES_ORDER_PREFIX + "0" * zeros + significant for zeros in range(padding + 1)]


def _prefix_range(prefix: str) -> Q:
    """The numbers that start with `prefix`, as a range of the unique index of `number`
    (which PostgreSQL cannot derive from a LIKE outside the C collation), and the LIKE
    that keeps the answer exact in any collation."""
    after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(number__gte=prefix, number__lt=after, number__startswith=prefix)


def _ids_by_number(orders: QuerySet[SalesOrder], text: str, limit: int) -> list[int]:
    """The newest `limit` orders of each number prefix, in one query. Within a prefix the
    highest numbers are the newest (numbers come from a sequence as orders are created),
    so each reads the unique index of `number` backwards from the end of its range and
    stops after `limit` rows, where a walk back from the newest order would read every
    newer order first."""
    # A number is ASCII: text that is not cannot start one, and its last character may
    # have no successor for _prefix_range (U+10FFFF) or one PostgreSQL refuses (U+D7FF's
    # is a surrogate).
    prefixes = [prefix for prefix in order_number_prefixes(text) if prefix.isascii()]
    if not prefixes:
        return []
    by_prefix = [
        orders.filter(_prefix_range(prefix))
        .order_by("-number")
        .values_list("pk", flat=True)[:limit]
        for prefix in prefixes
    ]
    if connection.vendor != "postgresql":
        # SQLite (`make run`) refuses a LIMIT inside a compound query: one query a prefix.
        return [order_id for query in by_prefix for order_id in query]
    ids = by_prefix[0].union(*by_prefix[1:], all=True) if len(by_prefix) > 1 else by_prefix[0]
    return list(ids)


# The two ways to an order by its customer (_ids_by_customer). PostgreSQL's estimate of how
# many customers a LIKE matches is blind, so left to itself it walks every order for a
# rare word and reads every matching customer for a common one; these keep it to the way
# chosen. The walk reads the newest orders in order and each one's customer by primary key
# (OFFSET 0 keeps that lookup a probe per order), stopping at the `limit`th match.
_NEWEST_ORDERS_OF_MATCHES = """
SELECT newest.id FROM ({orders}) AS newest
CROSS JOIN LATERAL (
    SELECT search_document FROM customers_customer
    WHERE customers_customer.id = newest.customer_id OFFSET 0
) AS customer
WHERE {where}
ORDER BY newest.id DESC
LIMIT %s
"""
_ORDERS_OF_MATCHES = """
WITH lookup_customers AS MATERIALIZED (SELECT id FROM customers_customer WHERE {where})
{orders}
"""


def _searchable_among_all_customers(terms: list[str]) -> bool:
    return all(len(term) >= (DIGITS_LENGTH if term.isdigit() else TRIGRAM_LENGTH) for term in terms)


def _ids_by_customer(orders: QuerySet[SalesOrder], text: str, limit: int) -> list[int]:
    """The newest `limit` orders whose customer's name, account number, email or phone holds
    every word of `text` (the customer search's terms and trigram index): first among the
    NEWEST_ORDERS_WALKED newest orders (a primary-key probe each), then, if that did not
    fill the list and every word can use the trigram index, among all the orders of every
    matching customer."""
    if connection.vendor != "postgresql":
        # SQLite (`make run`, a few customers) has no LATERAL join: the plain query.
        customers = customer_filter_by_search(Customer.objects.all(), text)
        return list(
            orders.filter(customer__in=customers)
            .order_by("-id")
            .values_list("pk", flat=True)[:limit]
        )
    terms = customer_search_terms(text)
    where, patterns = customer_search_condition(terms)
    newest = orders.order_by("-id").values_list("id", "customer_id")[:NEWEST_ORDERS_WALKED]
    newest_sql, newest_params = newest.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            _NEWEST_ORDERS_OF_MATCHES.format(orders=newest_sql, where=where),
            [*newest_params, *patterns, limit],
        )
        found = [order_id for (order_id,) in cursor.fetchall()]
        if len(found) == limit or not _searchable_among_all_customers(terms):
            return found
        orders_sql, orders_params = (
            orders.filter(customer_id__in=RawSQL("SELECT id FROM lookup_customers", []))
            .order_by("-id")
            .values_list("pk", flat=True)[:limit]
            .query.sql_with_params()
        )
        cursor.execute(
            _ORDERS_OF_MATCHES.format(where=where, orders=orders_sql), [*patterns, *orders_params]
        )
        return [order_id for (order_id,) in cursor.fetchall()]


def sales_order_lookup(*, q: str, limit: int, item: str = "") -> list[LookupOption]:
    """Continuity parent orders, newest first, by number or by customer (name, account
    number, email, phone); with `item` (an item number) only those with a subscription of
    that item. At most four queries, whatever the size of the tables."""
    item_id = None
    if item:
        item_id = Item.objects.filter(item_number=item).values_list("pk", flat=True).first()
        if item_id is None:
            raise ValidationError({"item": _("There is no item %(number)s.") % {"number": item}})
    orders = _parent_orders(item_id)
    text = q.strip()
    if not text:
        ids = list(orders.order_by("-id").values_list("pk", flat=True)[:limit])
    else:
        found = set(_ids_by_number(orders, text, limit))
        if not _ORDER_NUMBER_TYPED.fullmatch(text):
            found.update(_ids_by_customer(orders, text, limit))
        ids = sorted(found, reverse=True)[:limit]
    chosen = (
        SalesOrder.objects.filter(pk__in=ids)
        .select_related("customer")
        .only("number", "status", "order_date", "customer__first_name", "customer__last_name")
        .order_by("-id")
    )
    return [
        LookupOption(
            value=order.number,
            label=f"{order.number} · {order.customer.full_name}",
            description=" · ".join(
                part for part in (day_text(order.order_date), order.get_status_display()) if part
            ),
        )
        for order in chosen
    ]


def reason_code_lookup(*, action: str, q: str, limit: int) -> list[LookupOption]:
    """The active reason codes that fit `action`, by code prefix or label (in the active
    language), in code order. The list is kept in the admin: a few dozen rows."""
    text = q.strip().lower()
    codes = [
        code
        for code in reason_codes_for(action)
        if not text or code.code.lower().startswith(text) or text in code.label.lower()
    ]
    codes.sort(key=lambda code: code.code)
    return [
        LookupOption(value=code.code, label=f"{code.code} · {code.label}") for code in codes[:limit]
    ]
