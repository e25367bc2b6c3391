"""API representations of the warehouse's work: the pick list, a shipment confirmation
(request and answer), a release."""

from rest_framework import serializers

from core.limits import QUANTITY_MAX
from core.rest_fields import BusinessDateField, StrictCharField, StrictIntegerField
from customers.serializers import AddressSerializer, CustomerRefSerializer
from orders.fulfilment.services import REFERENCE_MAX, TRACKING_MAX
from orders.models import SalesOrderKind, SalesOrderStatus
from payments.serializers import money_field

# A parcel of more lines than this is not a parcel: refused before any row is read.
SHIPMENT_LINES_MAX = 500

STATUS_HELP = (
    "One status, or several separated by commas: "
    + ", ".join(SalesOrderStatus.values)
    + ". Default: released,partially_shipped (the pick list). The Warehouse role may "
    "ask for the statuses from released on only."
)


# --- The pick list -----------------------------------------------------------------------


class SalesOrderPickListQuerySerializer(serializers.Serializer):
    status = StrictCharField(required=False, max_length=200, help_text=STATUS_HELP)


class PickLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    item_number = serializers.CharField(source="item.item_number")
    item_name = serializers.CharField(source="item.name")
    quantity = serializers.IntegerField()
    shipped_quantity = serializers.IntegerField(help_text="Confirmed as shipped so far.")
    quantity_left = serializers.SerializerMethodField(help_text="Left to ship.")

    def get_quantity_left(self, line) -> int:
        return line.quantity - line.shipped_quantity


class PickOrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=SalesOrderStatus.choices)
    kind = serializers.ChoiceField(choices=SalesOrderKind.choices)
    customer = CustomerRefSerializer()
    ship_to = AddressSerializer(allow_null=True)
    delivery_mode = serializers.CharField(
        source="delivery_mode.code",
        allow_null=True,
        help_text="The delivery mode's code; null: the default mode.",
    )
    requested_ship_date = serializers.DateField(allow_null=True)
    released_at = serializers.DateTimeField(
        allow_null=True, help_text="When the order was handed to the warehouse."
    )
    lines = PickLineSerializer(many=True, source="lines.all")


# --- A shipment confirmation -------------------------------------------------------------


class SalesOrderShipmentLineSerializer(serializers.Serializer):
    line_number = StrictIntegerField(min_value=1, max_value=2**31 - 1)
    quantity = StrictIntegerField(min_value=1, max_value=QUANTITY_MAX)
    item_number = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="Optional: the line's item number, checked when given.",
    )


class SalesOrderShipmentCreateSerializer(serializers.Serializer):
    warehouse_shipment_id = StrictCharField(
        max_length=REFERENCE_MAX,
        help_text="The warehouse's own id for this parcel: the idempotency key. Sent again "
        "with the same content, the first record is answered (200); with other content, 409.",
    )
    carrier = StrictCharField(
        max_length=20, help_text="An active carrier's code, in any case, e.g. UPS."
    )
    tracking_number = StrictCharField(max_length=TRACKING_MAX)
    shipped_date = BusinessDateField(help_text="YYYY-MM-DD; not in the future.")
    # A ListField, not many=True: an empty list is then an error of "lines" itself, and a
    # line's error is "lines.<index>.<field>".
    lines = serializers.ListField(
        child=SalesOrderShipmentLineSerializer(),
        allow_empty=False,
        max_length=SHIPMENT_LINES_MAX,
        help_text="The order lines in the parcel, each once.",
    )


class ShipmentCarrierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ShipmentLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField(source="order_line.line_number")
    item_number = serializers.CharField(source="order_line.item.item_number")
    quantity = serializers.IntegerField()


class ShipmentInvoiceSerializer(serializers.Serializer):
    number = serializers.CharField()
    total = money_field()
    currency = serializers.CharField()
    payment_applied = money_field(help_text="Paid by the order's payment.")


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    warehouse_shipment_id = serializers.CharField(source="warehouse_reference")
    order = serializers.CharField(source="order.number", help_text="The sales order number.")
    order_status = serializers.ChoiceField(
        source="order.status",
        choices=SalesOrderStatus.choices,
        help_text="The order's status now: partially_shipped, or invoiced or completed "
        "once every line is shipped.",
    )
    carrier = ShipmentCarrierSerializer()
    tracking_number = serializers.CharField()
    tracking_url = serializers.SerializerMethodField(
        help_text="The carrier's tracking page for this parcel; empty if it has none."
    )
    shipped_date = serializers.DateField()
    source = serializers.CharField(help_text="api or csv (an uploaded file).")
    recorded_at = serializers.DateTimeField(source="created_at")
    lines = ShipmentLineSerializer(many=True, source="lines.all")
    invoice = ShipmentInvoiceSerializer()

    def get_tracking_url(self, shipment) -> str:
        return shipment.carrier.tracking_link(shipment.tracking_number)


# --- A release ---------------------------------------------------------------------------


class SalesOrderReleasedSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=SalesOrderStatus.choices)
    released_at = serializers.DateTimeField()
