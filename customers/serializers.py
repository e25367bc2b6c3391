"""API representations of customers: search results, the customer page, addresses."""

from django.utils.functional import lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.limits import SEARCH_TERM_MAX_LENGTH
from core.rest_fields import StrictCharField
from customers.models import AddressKind, Language
from customers.page_sections import customer_page_sections
from customers.selectors import (
    SEARCH_MIN_LENGTH,
    SEARCH_WORD_MIN_LENGTH,
    search_too_short_message,
)

# What customer_search takes: a word of SEARCH_WORD_MIN_LENGTH characters (that many in a
# row that are not spaces, so at least SEARCH_MIN_LENGTH once the spaces around are
# stripped), or a phone number as people write it with that many digits ("02 15 96 47
# 38"); and no NUL character.
SEARCH_TEXT_PATTERN = (
    r"^(?:[^\u0000]*" + r"[^\s\u0000]{" + str(SEARCH_WORD_MIN_LENGTH) + r"}[^\u0000]*"
    r"|[\d\s().+/-]*(?:\d[\s().+/-]*){" + str(SEARCH_WORD_MIN_LENGTH) + r",})$"
)


@extend_schema_field({"type": "string", "pattern": SEARCH_TEXT_PATTERN})
class SearchTextField(StrictCharField):
    """The search words. The schema states customer_search's rule (SEARCH_TEXT_PATTERN),
    which customer_search itself enforces, with its message, for the search page too."""


class CustomerSearchQuerySerializer(serializers.Serializer):
    search = SearchTextField(
        min_length=SEARCH_MIN_LENGTH,
        max_length=SEARCH_TERM_MAX_LENGTH,
        error_messages={
            "blank": lazy(search_too_short_message, str)(),
            "min_length": lazy(search_too_short_message, str)(),
        },
        help_text="Words of a name, an account number, a phone number or an email: 2 "
        "characters or more, not counting spaces around them, and one word of 3 or more "
        "(else 400 on `search`).",
    )


class CustomerRefSerializer(serializers.Serializer):
    account_number = serializers.CharField()
    full_name = serializers.CharField()


class CustomerSummarySerializer(serializers.Serializer):
    account_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    blocked = serializers.BooleanField()
    city = serializers.CharField(allow_null=True, help_text="Of the default address.")


class CustomerSearchResultSerializer(serializers.Serializer):
    limit = serializers.IntegerField(help_text="The most rows a search returns.")
    results = CustomerSummarySerializer(many=True, help_text="In name order.")


class AddressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=AddressKind.choices)
    name = serializers.CharField()
    street = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    is_default = serializers.BooleanField()


class CustomerSerializer(serializers.Serializer):
    """The customer page: addresses, active cards, the latest 50 orders, subscriptions."""

    account_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    language = serializers.ChoiceField(choices=Language.choices)
    blocked = serializers.BooleanField()
    addresses = AddressSerializer(many=True, source="addresses.all")

    def get_fields(self):
        # Cards, orders and subscriptions belong to the apps above customers: each section
        # brings its own field, filled from what customer_page_get loaded for it.
        fields = super().get_fields()
        for section in customer_page_sections():
            if section.api_field is not None:
                fields[section.name] = section.api_field(source=f"page_sections.{section.name}")
        return fields
