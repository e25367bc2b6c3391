"""API representations of customers: search results, the customer page, addresses."""

from rest_framework import serializers

from continuity.models import HoldReason, SubscriptionStatus
from customers.models import AddressKind, Language
from orders.models import SalesOrderKind, SalesOrderStatus
from payments.serializers import CardSerializer, money_field


class CustomerSearchQuerySerializer(serializers.Serializer):
    search = serializers.CharField(
        max_length=200,
        allow_blank=True,
        help_text="Words of a name, an account number, a phone number or an email (2 "
        "characters or more).",
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


class CustomerOrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    kind = serializers.ChoiceField(choices=SalesOrderKind.choices)
    status = serializers.ChoiceField(choices=SalesOrderStatus.choices)
    parent = serializers.CharField(source="parent.number", allow_null=True)
    total = money_field()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)


class CustomerSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    hold_reason = serializers.ChoiceField(choices=HoldReason.choices, allow_blank=True)
    item_number = serializers.CharField(source="item.item_number")
    program = serializers.CharField(source="program.code")
    parent_order = serializers.CharField(source="parent_order.number")
    start_date = serializers.DateField()
    first_shipment_date = serializers.DateField()
    open_ended = serializers.BooleanField()
    card = CardSerializer()


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
    cards = CardSerializer(many=True, source="cards.all")
    recent_orders = CustomerOrderSerializer(many=True)
    subscriptions = CustomerSubscriptionSerializer(many=True, source="subscriptions.all")
