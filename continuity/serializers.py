"""API representations of continuity programs, quotes (planned shipments) and
subscriptions with their shipments."""

from django.db.models import prefetch_related_objects
from django.db.models.manager import BaseManager
from rest_framework import serializers

from continuity.models import HoldReason, OccurrenceStatus, SubscriptionStatus
from continuity.money_audit import finding_label
from continuity.scheduling import EventAction, IntervalUnit
from core.rest_fields import (
    BusinessDateField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from customers.serializers import AddressSerializer, CustomerRefSerializer
from orders.serializers import ChildOrderSerializer
from orders.tax.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS
from payments.serializers import CardSerializer, PaymentSerializer, money_field


class ProgramSummarySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    active = serializers.BooleanField()
    bill_up_front = serializers.BooleanField(
        help_text="The whole program is charged at submit instead of each shipment."
    )
    days_to_first_shipment = serializers.IntegerField(
        help_text="Days from the start date to the first shipment."
    )
    prompt_for_start_date = serializers.BooleanField(
        help_text="The agent chooses the start date; otherwise it is the order date."
    )
    consolidate = serializers.BooleanField(
        help_text="Every due shipment of a subscription goes into one child order."
    )


class ProgramEventLineSerializer(serializers.Serializer):
    item_number = serializers.CharField(source="item.item_number")
    item_name = serializers.CharField(source="item.name")
    quantity = serializers.IntegerField()
    unit_price = money_field()


class ProgramEventSerializer(serializers.Serializer):
    event_number = serializers.IntegerField()
    interval_count = serializers.IntegerField()
    interval_unit = serializers.ChoiceField(choices=IntervalUnit.choices)
    repeat_count = serializers.IntegerField(
        allow_null=True, help_text="Shipments of this event; null: until cancelled."
    )
    action = serializers.ChoiceField(choices=EventAction.choices)
    lines = ProgramEventLineSerializer(many=True, source="lines.all")


class ProgramSerializer(ProgramSummarySerializer):
    events = ProgramEventSerializer(many=True, source="events.all")
    items = serializers.SerializerMethodField(
        help_text="Numbers of the continuity items that sell this program."
    )

    def get_items(self, program) -> list[str]:
        return sorted(item.item_number for item in program.items.all())


class PlannedLineSerializer(serializers.Serializer):
    item_number = serializers.CharField()
    item_name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = money_field()
    amount = money_field()


class PlannedShipmentSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    event_number = serializers.IntegerField()
    ship_date = serializers.DateField()
    amount = money_field()
    lines = PlannedLineSerializer(many=True)


class ProgramQuoteSerializer(serializers.Serializer):
    """What selling the program means: the planned shipments, their amounts, what is
    charged at submit."""

    start_date = serializers.DateField()
    first_shipment_date = serializers.DateField()
    quantity = serializers.IntegerField()
    open_ended = serializers.BooleanField(help_text="Ships until cancelled.")
    planned_through = serializers.DateField(
        allow_null=True, help_text="Open-ended programs: shipments are listed up to here."
    )
    due_now = money_field(help_text="Charged at submit.")
    first_shipment_amount = money_field()
    program_total = money_field(allow_null=True, help_text="null for an open-ended program.")
    shipments = PlannedShipmentSerializer(many=True, source="occurrences")


class ContinuityPreviewSerializer(serializers.Serializer):
    """A continuity line of an open order: its program and planned shipments as they
    would be if the order were submitted today."""

    line_number = serializers.IntegerField(source="line.line_number")
    program = ProgramSummarySerializer(source="line.item.continuity_program")
    quote = ProgramQuoteSerializer()


def rate_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES, **kwargs
    )


class OccurrenceLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    item_number = serializers.CharField(source="item.item_number")
    item_name = serializers.CharField(source="item.name")
    quantity = serializers.IntegerField()
    unit_price = money_field()
    amount = money_field(help_text="Quantity x unit price, as priced.")
    tax_rate = rate_field(allow_null=True, help_text="A percentage: 10.2500 is 10.25 %.")
    tax = money_field(source="tax_amount")
    total = money_field(
        source="gross_amount",
        help_text="The line with its tax (the amount itself where prices include tax).",
    )


class OccurrenceDeliverySerializer(serializers.Serializer):
    """A shipment's delivery charge, a line of its own."""

    mode = serializers.CharField(
        source="delivery_mode.code", allow_null=True, help_text="Its delivery mode's code."
    )
    amount = money_field(source="delivery_amount", help_text="As priced.")
    tax_rate = rate_field(source="delivery_tax_rate", help_text="A percentage.")
    tax = money_field(source="delivery_tax_amount")


class OccurrenceListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        # Each shipment's delivery mode in one query per list, whoever loaded the shipments
        # (a selector that joined them already is not asked again).
        occurrences = list(data.all() if isinstance(data, BaseManager) else data)
        prefetch_related_objects(occurrences, "delivery_mode")
        return super().to_representation(occurrences)


class OccurrenceSerializer(serializers.Serializer):
    """One planned shipment of a subscription, priced as a billed document of its own:
    its lines, its delivery charge and their tax. `total` (= `amount`) is its whole
    charge: subtotal + delivery + tax where prices exclude tax, subtotal + delivery where
    they include it (the tax is inside)."""

    class Meta:
        list_serializer_class = OccurrenceListSerializer

    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    event_number = serializers.IntegerField()
    ship_date = serializers.DateField()
    amount = money_field(help_text="Its whole charge, the same as total.")
    currency = serializers.CharField()
    subtotal = money_field(help_text="Its goods, as priced.")
    delivery = OccurrenceDeliverySerializer(source="*")
    tax = money_field(source="tax_amount", help_text="Every line's tax, delivery's included.")
    total = money_field(source="amount", help_text="What its charge takes.")
    prices_include_tax = serializers.BooleanField()
    tax_jurisdiction = serializers.CharField(
        help_text="Where the tax is collected, e.g. Seattle, WA. Empty: no tax."
    )
    status = serializers.ChoiceField(choices=OccurrenceStatus.choices)
    payment = serializers.IntegerField(
        source="payment_id", allow_null=True, help_text="The approved sale that paid it."
    )
    payment_attempts = serializers.IntegerField()
    next_payment_attempt_on = serializers.DateField(allow_null=True)
    decline_reason = serializers.CharField()
    child_order = serializers.CharField(source="child_order.number", allow_null=True)
    lines = OccurrenceLineSerializer(many=True, source="lines.all")


class SubscriptionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer = CustomerRefSerializer()
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    hold_reason = serializers.ChoiceField(choices=HoldReason.choices, allow_blank=True)
    item_number = serializers.CharField(source="item.item_number")
    program = serializers.CharField(source="program.code")
    parent_order = serializers.CharField(source="parent_order.number")
    quantity = serializers.IntegerField()
    start_date = serializers.DateField()
    first_shipment_date = serializers.DateField()
    open_ended = serializers.BooleanField()
    card = CardSerializer()
    created_at = serializers.DateTimeField()


class SubscriptionListQuerySerializer(serializers.Serializer):
    customer = StrictCharField(
        max_length=20, required=False, allow_blank=True, help_text="An account number."
    )
    status = serializers.ChoiceField(
        choices=SubscriptionStatus.choices, required=False, allow_blank=True
    )


class SubscriptionScheduleSerializer(SubscriptionSummarySerializer):
    """A subscription with its shipments (on its parent order)."""

    planned_through = serializers.DateField(allow_null=True)
    occurrences = OccurrenceSerializer(many=True, source="occurrences.all")


class SubscriptionSerializer(SubscriptionScheduleSerializer):
    """A subscription with its shipments, every payment made for it and its child
    orders."""

    payment_method = serializers.CharField(source="payment_method.code")
    ship_to = AddressSerializer(allow_null=True)
    payments = PaymentSerializer(many=True, source="payment_rows")
    child_orders = ChildOrderSerializer(many=True, source="child_order_rows")


class SubscriptionActionSerializer(serializers.Serializer):
    """The fields an action takes (each action reads those it needs)."""

    reason_code = StrictCharField(max_length=20)
    preview = StrictBooleanField(
        default=False, help_text="True: only describe what would happen, change nothing."
    )
    occurrence = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="skip, reschedule: the shipment (id); skip defaults to the next one.",
    )
    new_date = BusinessDateField(required=False, help_text="reschedule: the new ship date.")
    until = BusinessDateField(
        required=False, allow_null=True, help_text="pause: the day it ends (empty: until resumed)."
    )
    card = StrictIntegerField(required=False, min_value=1, help_text="change_card: card id.")
    address = StrictIntegerField(
        required=False, min_value=1, help_text="change_ship_to: shipping address id."
    )


class ActionEffectSerializer(serializers.Serializer):
    what = serializers.CharField()
    shipment = serializers.IntegerField(allow_null=True)
    ship_date = serializers.DateField(allow_null=True)
    day = serializers.DateField(allow_null=True)
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="A shipment's whole charge (goods, delivery and tax): what is charged, "
        "refunded, or charged after the change.",
    )
    before = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="ship_to_repriced: the charge before the change.",
    )
    text = serializers.CharField()


class SubscriptionActionResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    previewed_only = serializers.BooleanField()
    effects = ActionEffectSerializer(many=True)
    subscription_status = serializers.CharField()


class FindingSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="What kind of discrepancy (see docs/money.md).")
    label = serializers.CharField(help_text="The kind, in the request's language.")
    subject = serializers.CharField(help_text="Which payment, shipment or order.")
    detail = serializers.CharField()
    occurrence = serializers.IntegerField(allow_null=True)
    payment = serializers.IntegerField(allow_null=True)


class MoneyAuditSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    ledger_since = serializers.DateTimeField(allow_null=True)
    finding_count = serializers.IntegerField()
    findings = serializers.SerializerMethodField()
    checked = serializers.DictField()

    def get_findings(self, audit) -> list[dict]:
        return [{**finding, "label": finding_label(finding["kind"])} for finding in audit.findings]
