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
    shipped_quantity = serializers.IntegerField(
        help_text="How many of the line's units the warehouse has confirmed as shipped."
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


# --- Fulfilment: warehouse shipments and invoices ----------------------------------------


class WarehouseShipmentLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField(source="order_line.line_number")
    item_number = serializers.CharField(source="order_line.item.item_number")
    quantity = serializers.IntegerField()


class WarehouseShipmentSerializer(serializers.Serializer):
    """One parcel the warehouse confirmed as shipped."""

    warehouse_shipment_id = serializers.CharField(source="warehouse_reference")
    carrier = serializers.CharField(source="carrier.code")
    carrier_name = serializers.CharField(source="carrier.name")
    tracking_number = serializers.CharField()
    tracking_url = serializers.SerializerMethodField(
        help_text="The carrier's tracking page for this parcel; empty when the carrier has none."
    )
    shipped_date = serializers.DateField()
    invoice = serializers.SerializerMethodField(help_text="The number of the invoice it made.")
    lines = WarehouseShipmentLineSerializer(many=True, source="lines.all")

    def get_tracking_url(self, shipment) -> str:
        return shipment.carrier.tracking_link(shipment.tracking_number)

    def get_invoice(self, shipment) -> str | None:
        invoice = getattr(shipment, "invoice", None)
        return invoice.number if invoice is not None else None


class InvoiceSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    invoice_date = serializers.DateField()
    currency = serializers.CharField()
    total = money_field()
    payment_applied = money_field(help_text="The part of the order's payment that pays it.")
    balance = money_field(help_text="What is left to pay: total - payment_applied.")


class InvoiceLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    order_line = serializers.IntegerField(
        source="order_line.line_number", help_text="The sales order line it bills."
    )
    item_number = serializers.CharField(source="item.item_number")
    item_name = serializers.CharField(source="item.name")
    quantity = serializers.IntegerField()
    unit_price = money_field()
    amount = money_field()
    tax_rate = rate_field(allow_null=True, help_text="In percent.")
    tax = money_field(source="tax_amount")
    total = money_field(
        source="gross_amount",
        help_text="The line with its tax (its amount itself where prices include tax).",
    )


class InvoiceDeliverySerializer(serializers.Serializer):
    amount = money_field(
        source="delivery_amount",
        help_text="The order's delivery charge, on its first invoice; 0 on the others.",
    )
    tax_rate = rate_field(source="delivery_tax_rate", help_text="In percent.")
    tax = money_field(source="delivery_tax_amount")


class InvoicePaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    method = serializers.CharField(source="method.code")
    card = serializers.CharField(
        source="card.last4", allow_null=True, help_text="The card's last four digits."
    )


class InvoiceSerializer(serializers.Serializer):
    """An invoice: what one warehouse shipment billed, and the payment applied to it."""

    number = serializers.CharField()
    invoice_date = serializers.DateField()
    order = serializers.CharField(source="order.number")
    customer = CustomerRefSerializer()
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField(
        help_text="true (e.g. EUR, VAT): amounts include their tax, total = subtotal + "
        "delivery; false: total = subtotal + delivery + tax."
    )
    subtotal = money_field()
    delivery = InvoiceDeliverySerializer(source="*")
    tax = money_field(source="tax_amount", help_text="Every line's tax, delivery's included.")
    total = money_field()
    tax_jurisdiction = serializers.CharField()
    payment = InvoicePaymentSerializer(allow_null=True)
    payment_applied = money_field()
    balance = money_field(help_text="total - payment_applied.")
    shipment = WarehouseShipmentSerializer()
    lines = InvoiceLineSerializer(many=True, source="lines.all")
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
    released_at = serializers.DateTimeField(
        allow_null=True, help_text="When the order was released to the warehouse."
    )
    created_at = serializers.DateTimeField()
    lines = SalesOrderLineSerializer(many=True, source="lines.all")
    payments = PaymentSerializer(many=True, source="payments.all")
    child_orders = ChildOrderSerializer(
        many=True, source="child_orders.all", help_text="A continuity parent's child orders."
    )
    warehouse_shipments = WarehouseShipmentSerializer(
        many=True,
        source="warehouse_shipments.all",
        help_text="The parcels the warehouse confirmed as shipped, oldest first.",
    )
    invoices = InvoiceSummarySerializer(
        many=True, source="invoices.all", help_text="One per warehouse shipment, oldest first."
    )

    def get_fields(self):
        return {**super().get_fields(), **program_sales().order_fields()}
