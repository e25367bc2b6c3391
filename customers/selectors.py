import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from customers.models import Address, AddressKind, Customer, digits_only

SEARCH_MIN_LENGTH = 2
# A query made only of digits and the separators people type in phone numbers.
_PHONE_OR_NUMBER = re.compile(r"^[\d\s().+/-]+$")


def customer_filter_by_search(customers: QuerySet[Customer], text: str) -> QuerySet[Customer]:
    """Keep the customers whose search document holds every word of `text`."""
    if _PHONE_OR_NUMBER.match(text):
        # "(555) 010-4021" and "5550104021" find the same phone; "004021" an account.
        return customers.filter(search_document__contains=digits_only(text))
    for word in text.lower().split():
        customers = customers.filter(search_document__contains=word)
    return customers


def customer_search(*, query: str, limit: int | None = None) -> list[Customer]:
    """Customers matching every word of the query, by name, account number, email or phone.

    Case-insensitive; a word matches anywhere in those fields (a trigram index serves it on
    PostgreSQL). At most `limit` rows (CUSTOMER_SEARCH_LIMIT by default) come back, in
    name order: a call-center search narrows down, it does not page through thousands.
    """
    text = (query or "").strip()
    if len(text) < SEARCH_MIN_LENGTH:
        raise ValidationError(
            {
                "search": _("Enter at least %(count)d characters to search.")
                % {"count": SEARCH_MIN_LENGTH}
            },
            code="too_short",
        )
    limit = limit or settings.CUSTOMER_SEARCH_LIMIT
    return list(
        customer_filter_by_search(Customer.objects.all(), text)
        .only("id", "account_number", "first_name", "last_name", "email", "phone", "blocked")
        .order_by("last_name", "first_name", "account_number")[:limit]
    )


def customer_get(*, account_number: str) -> Customer:
    return Customer.objects.prefetch_related("addresses", "cards").get(
        account_number=account_number
    )


def customer_default_ship_to(customer: Customer) -> Address | None:
    return (
        customer.addresses.filter(kind=AddressKind.SHIPPING).order_by("-is_default", "id").first()
    )
