"""API representations of cards and payments (read) and of a card to add (write)."""

from rest_framework import serializers

from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS
from core.rest_fields import StrictCharField, StrictIntegerField
from payments.models import CardBrand, DeclineClass, PaymentOperation, PaymentStatus


def money_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


class CardSerializer(serializers.Serializer):
    """A tokenized card: never its number or security code."""

    id = serializers.IntegerField()
    brand = serializers.ChoiceField(choices=CardBrand.choices)
    last4 = serializers.CharField()
    expiry_month = serializers.IntegerField()
    expiry_year = serializers.IntegerField()
    name_on_card = serializers.CharField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class CardAddSerializer(serializers.Serializer):
    """The card as the customer reads it out. Only the gateway sees the number and the
    security code; the service checks them (Luhn, length, brand, expiry) first."""

    card_number = StrictCharField(max_length=40, help_text="Spaces and dashes allowed.")
    expiry_month = StrictIntegerField(min_value=1, max_value=12)
    expiry_year = StrictIntegerField(
        min_value=0, max_value=2199, help_text="Four digits, or two (28 means 2028)."
    )
    security_code = StrictCharField(max_length=4)
    name_on_card = StrictCharField(max_length=100)


class PaymentSerializer(serializers.Serializer):
    """One call to the gateway: a sale, a refund or a void, and what it answered."""

    id = serializers.IntegerField()
    operation = serializers.ChoiceField(choices=PaymentOperation.choices)
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    amount = money_field()
    currency = serializers.CharField()
    method = serializers.CharField(source="method.code")
    card = CardSerializer(allow_null=True)
    sales_order = serializers.CharField(source="sales_order.number")
    occurrence = serializers.IntegerField(source="occurrence_id", allow_null=True)
    original = serializers.IntegerField(
        source="original_id", allow_null=True, help_text="A refund's or void's sale."
    )
    attempt_number = serializers.IntegerField()
    decline_code = serializers.CharField()
    decline_class = serializers.ChoiceField(choices=DeclineClass.choices, allow_blank=True)
    decline_reason = serializers.SerializerMethodField()
    gateway_reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)

    def get_decline_reason(self, payment) -> str:
        return payment.decline_reason if payment.status == PaymentStatus.DECLINED else ""
