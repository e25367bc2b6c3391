"""Type-ahead lookups of continuity (core.lookups): the batch forms' sales order (a
continuity parent order, optionally of one continuity item) and the subscription actions'
reason code."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from continuity.models import Subscription
from continuity.reason_codes import reason_codes_for
from core.formatting import day_text
from core.lookups import LookupOption
from customers.models import Customer
from customers.selectors import customer_filter_by_search, customer_search_terms
from orders.models import Item, SalesOrder, SalesOrderKind, SalesOrderStatus
from orders.numbers import SALES_ORDER_PREFIX

# Sales order numbers are SALES_ORDER_PREFIX and at least this many digits (orders.numbers).
ORDER_NUMBER_DIGITS = 6
# "123", "so123", "SO-000123": the digits of an order number, however it is typed.
_ORDER_DIGITS = re.compile(r"(?:SO-?)?([0-9]+)", re.IGNORECASE)
# A customer name is first looked for among the customers of the newest parent orders:
# each costs a primary-key probe (about 1 us), and a word common enough to fill the list
# fills it there. Rarer words go through the customers' trigram index (ORDERS_OF_MATCHES).
NEWEST_ORDERS_WALKED = 2_000
# The trigram index serves words of 3 characters or more: for shorter ones a search among
# every customer would read the whole table, so they are looked for in the walk only.
TRIGRAM_LENGTH = 3


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


def _ids_by_number(orders: QuerySet[SalesOrder], text: str, limit: int) -> list[int]:
    by_prefix = Q()
    for prefix in order_number_prefixes(text):
        by_prefix |= Q(number__startswith=prefix)
    return list(orders.filter(by_prefix).order_by("-id").values_list("pk", flat=True)[:limit])


def _ids_by_customer(orders: QuerySet[SalesOrder], text: str, limit: int) -> list[int]:
    """The newest `limit` orders whose customer's name, account number, email or phone holds
    every word of `text` (customers.selectors' search document)."""
    matching_customers = customer_filter_by_search(Customer.objects.all(), text)
    newest = orders.order_by("-id").values("pk")[:NEWEST_ORDERS_WALKED]
    found = list(
        SalesOrder.objects.filter(pk__in=newest, customer__in=matching_customers.values("pk"))
        .order_by("-id")
        .values_list("pk", flat=True)[:limit]
    )
    if len(found) == limit or any(
        len(term) < TRIGRAM_LENGTH for term in customer_search_terms(text)
    ):
        return found
    return list(
        orders.filter(customer__in=matching_customers.values("pk"))
        .order_by("-id")
        .values_list("pk", flat=True)[:limit]
    )


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
        found = {*_ids_by_number(orders, text, limit), *_ids_by_customer(orders, text, limit)}
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
