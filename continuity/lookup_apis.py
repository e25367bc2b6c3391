"""GET /api/v1/lookups/sales-orders/ and /lookups/reason-codes/ (core.lookups)."""

from rest_framework import serializers

from continuity.lookups import reason_code_lookup, sales_order_lookup
from continuity.subscription_actions import actions_all
from core.lookups import LookupApi, LookupQuerySerializer, lookup_schema
from core.rest import CanSupervise, CanTakeOrders
from core.rest_fields import StrictCharField


class SalesOrderLookupQuerySerializer(LookupQuerySerializer):
    item = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="An item number: only the orders with a subscription of that item "
        "(empty: every item).",
    )


class SalesOrderLookupApi(LookupApi):
    # The batch forms that name an order are supervisors'.
    permission_classes = [*LookupApi.permission_classes, CanSupervise]
    query_serializer = SalesOrderLookupQuerySerializer
    lookup = staticmethod(sales_order_lookup)

    @lookup_schema(
        operation_id="sales_order_lookup",
        summary="Look up continuity parent orders",
        description="Continuity parent orders (not open), newest first, whose number starts "
        "with `q` (digits are compared to the number's digits: 123 finds SO-000123) or whose "
        "customer's name, account number, email or phone holds every word of `q`; with "
        "`item`, only the orders with a subscription of that item.",
        query=SalesOrderLookupQuerySerializer,
        refused_when="`item` is not the number of an item",
    )
    def get(self, request):
        return super().get(request)


class ReasonCodeLookupQuerySerializer(LookupQuerySerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The actions are registered when the continuity app is ready.
        self.fields["action"] = serializers.ChoiceField(
            choices=[action.name for action in actions_all()],
            help_text="The subscription action whose reasons are listed, e.g. skip.",
        )


class ReasonCodeLookupApi(LookupApi):
    permission_classes = [*LookupApi.permission_classes, CanTakeOrders]
    query_serializer = ReasonCodeLookupQuerySerializer
    lookup = staticmethod(reason_code_lookup)

    @lookup_schema(
        operation_id="reason_code_lookup",
        summary="Look up reason codes",
        description="The active reason codes that fit `action`, whose code starts with `q` "
        "or whose label (in the request's language) contains it, in code order.",
        query=ReasonCodeLookupQuerySerializer,
    )
    def get(self, request):
        return super().get(request)
