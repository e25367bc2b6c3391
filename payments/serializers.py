"""API representations of cards and payments (read) and of a card to add (write)."""

from django.db.models import prefetch_related_objects
from django.db.models.manager import BaseManager
from drf_spectacular.utils import extend_schema_field
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


class PaymentPartsSerializer(serializers.Serializer):
    """What a sale paid for: a shipment's charge (a batch sale) or the order's amount due
    (the sale taken at submit), in its parts."""

    subtotal = money_field(help_text="The goods, as priced.")
    delivery = money_field(source="delivery_amount", help_text="The delivery charge, as priced.")
    tax = money_field(source="tax_amount", help_text="Every line's tax, delivery's included.")
    prices_include_tax = serializers.BooleanField(
        help_text="True: the tax is inside subtotal and delivery (amount = subtotal + "
        "delivery); false: amount = subtotal + delivery + tax."
    )
    tax_jurisdiction = serializers.CharField(help_text="Empty: no tax.")


class PaymentListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        # What each sale paid for, one query per kind for the whole list (a selector that
        # joined them already is not asked again).
        payments = list(data.all() if isinstance(data, BaseManager) else data)
        prefetch_related_objects(payments, "occurrence", "sales_order")
        return super().to_representation(payments)


class PaymentSerializer(serializers.Serializer):
    """One call to the gateway: a sale, a refund or a void, and what it answered."""

    class Meta:
        list_serializer_class = PaymentListSerializer

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

    paid_parts = serializers.SerializerMethodField(
        help_text="A sale: what its amount paid for, in parts (a shipment's charge for a "
        "shipment's sale, the order's for the sale taken at submit). null for a refund or a "
        "void (their amount is what they give back)."
    )

    @extend_schema_field(PaymentPartsSerializer(allow_null=True))
    def get_paid_parts(self, payment) -> dict | None:
        if payment.operation != PaymentOperation.SALE:
            return None
        document = payment.occurrence if payment.occurrence_id else payment.sales_order
        return PaymentPartsSerializer(document).data

    def get_decline_reason(self, payment) -> str:
        return payment.decline_reason if payment.status == PaymentStatus.DECLINED else ""
