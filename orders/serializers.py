"""API representations of items and sales orders, and the order-entry requests."""

from rest_framework import serializers

from core.limits import QUANTITY_MAX, QUANTITY_MESSAGE, QUANTITY_MIN
from core.rest_fields import (
    BusinessDateField,
    QueryBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from customers.serializers import AddressSerializer, CustomerRefSerializer
from orders.models import SalesOrderKind, SalesOrderStatus
from orders.programs import program_sales
from orders.tax.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS
from payments.serializers import CardSerializer, PaymentSerializer, money_field

MAX_ID = 2**63 - 1


def rate_field(**kwargs) -> serializers.DecimalField:
    """A tax rate in percent, as a decimal string: "10.2500" is 10.25 %."""
    return serializers.DecimalField(
        max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES, **kwargs
    )


# --- Items -------------------------------------------------------------------------------


class ItemListQuerySerializer(serializers.Serializer):
    # Read from a plain dict (query_params.dict()): from a QueryDict, DRF would take a
    # missing boolean for false, as an unticked HTML checkbox.
    continuity = QueryBooleanField(
        required=False, help_text="true: continuity items only; false: the others."
    )


class ItemSummarySerializer(serializers.Serializer):
    item_number = serializers.CharField()
    name = serializers.CharField()
    unit_price = money_field(help_text="A continuity item is priced by its program.")
    active = serializers.BooleanField()
    is_continuity = serializers.BooleanField()
    continuity_program = serializers.CharField(
        source="continuity_program.code", allow_null=True, help_text="Its program's code."
    )


class ItemQuerySerializer(serializers.Serializer):
    start_date = BusinessDateField(
        required=False,
        help_text="Plan a continuity item's shipments from this date (default: today, the "
        "order date).",
    )


class ItemSerializer(serializers.Serializer):
    """An item, with its program and planned shipments (`continuity_program`, `quote`:
    fields of the app that sells programs, orders.programs)."""

    item_number = serializers.CharField()
    name = serializers.CharField()
    unit_price = money_field()
    active = serializers.BooleanField()
    is_continuity = serializers.BooleanField()

    def get_fields(self):
        return {**super().get_fields(), **program_sales().item_fields()}


# --- Sales orders: requests --------------------------------------------------------------


class SalesOrderCreateSerializer(serializers.Serializer):
    customer = StrictCharField(
        max_length=20,
        help_text="The customer's account number. One that does not exist: 400, in "
        "error.fields.customer.",
    )


class SalesOrderLineAddSerializer(serializers.Serializer):
    item_number = StrictCharField(max_length=20)
    quantity = StrictIntegerField(
        min_value=QUANTITY_MIN,
        max_value=QUANTITY_MAX,
        default=1,
        # Out of bounds: the page's message (core.limits). Not a JSON integer at all
        # ("2", 2.0, true): DRF's, which says what is wrong with it.
        error_messages={
            "min_value": QUANTITY_MESSAGE,
            "max_value": QUANTITY_MESSAGE,
        },
    )
    start_date = BusinessDateField(
        required=False,
        allow_null=True,
        help_text="A continuity item whose program prompts for a start date: when it "
        "starts (default: the order date).",
    )


class SalesOrderPaymentSetSerializer(serializers.Serializer):
    payment_method = StrictCharField(max_length=20, help_text="e.g. Visa.")
    card = StrictIntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="The id of one of the customer's cards (a card method of payment).",
    )


class SalesOrderDeliveryModeSetSerializer(serializers.Serializer):
    delivery_mode = StrictCharField(
        max_length=20,
        allow_blank=True,
        allow_null=True,
        help_text="An active delivery mode's code, in upper or lower case, e.g. STD. Empty "
        "or null: the default mode. One that does not exist or is not active: 400, in "
        "error.fields.delivery_mode.",
    )


# --- Sales orders: responses -------------------------------------------------------------


class SalesOrderLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    item_number = serializers.CharField(source="item.item_number")
    item_name = serializers.CharField(source="item.name")
    quantity = serializers.IntegerField()
    unit_price = money_field()
    amount = money_field()
    continuity_start_date = serializers.DateField(allow_null=True)
    tax_rate = rate_field(
        allow_null=True,
        help_text="In percent. null on a continuity line whose shipments paid at submit "
        "mix rates (its tax is theirs, added up).",
    )
    tax = money_field(source="tax_amount")
    total = money_field(
        source="gross_amount",
        help_text="The line with its tax: the amount plus the tax where prices exclude tax, "
        "the amount itself where they include it.",
    )


class SalesOrderDeliverySerializer(serializers.Serializer):
    """The order's delivery line, as priced."""

    mode = serializers.CharField(
        allow_null=True, help_text="The code of the mode the order names; null: the default."
    )
    mode_name = serializers.CharField(
        help_text="The name (in the request's language) of the mode the delivery was "
        "charged by, or of each, comma-separated, when program events name their own; empty "
        "when no mode applies."
    )
    amount = money_field()
    tax_rate = rate_field(help_text="In percent.")
    tax = money_field()


class ChildOrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=SalesOrderStatus.choices)
    requested_ship_date = serializers.DateField(allow_null=True)
    total = money_field()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()


class SalesOrderSerializer(serializers.Serializer):
    """A sales order; a continuity order also carries its programs' planned shipments and
    subscriptions (fields of the app that sells programs, orders.programs)."""

    number = serializers.CharField()
    customer = CustomerRefSerializer()
    kind = serializers.ChoiceField(choices=SalesOrderKind.choices)
    status = serializers.ChoiceField(choices=SalesOrderStatus.choices)
    parent = serializers.CharField(
        source="parent.number", allow_null=True, help_text="A child order's parent order."
    )
    ship_to = AddressSerializer(allow_null=True)
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField(
        help_text="true (e.g. EUR, VAT): amounts include their tax, and total = subtotal + "
        "delivery; false (e.g. USD, sales tax): total = subtotal + delivery + tax."
    )
    subtotal = money_field(help_text="The lines' amounts, as priced.")
    delivery = SalesOrderDeliverySerializer(source="delivery_line")
    tax = money_field(source="tax_amount", help_text="Every line's tax, delivery's included.")
    total = money_field()
    tax_jurisdiction = serializers.CharField(
        help_text='Where the tax was collected, e.g. "Seattle, WA"; empty: no tax.'
    )
    amount_due = money_field(help_text="Charged at submit.")
    completed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="Set by complete; cleared by any change to the lines or the delivery mode.",
    )
    payment_method = serializers.CharField(source="payment_method.code", allow_null=True)
    payment_card = CardSerializer(allow_null=True)
    order_date = serializers.DateField(allow_null=True)
    requested_ship_date = serializers.DateField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    lines = SalesOrderLineSerializer(many=True, source="lines.all")
    payments = PaymentSerializer(many=True, source="payments.all")
    child_orders = ChildOrderSerializer(
        many=True, source="child_orders.all", help_text="A continuity parent's child orders."
    )

    def get_fields(self):
        return {**super().get_fields(), **program_sales().order_fields()}
