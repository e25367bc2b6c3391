"""GET /api/v1/lookups/payment-methods/ and /lookups/cards/ (core.lookups)."""

from core.lookups import LookupApi, LookupQuerySerializer, lookup_schema
from core.rest import CanTakeOrders
from core.rest_fields import StrictCharField
from payments.lookups import card_lookup, payment_method_lookup


class PaymentMethodLookupApi(LookupApi):
    permission_classes = [*LookupApi.permission_classes, CanTakeOrders]
    lookup = staticmethod(payment_method_lookup)

    @lookup_schema(
        operation_id="payment_method_lookup",
        summary="Look up methods of payment",
        description="Active methods of payment whose code starts with `q` or whose name "
        "contains it, in code order, described by their kind.",
        query=LookupQuerySerializer,
    )
    def get(self, request):
        return super().get(request)


class CardLookupQuerySerializer(LookupQuerySerializer):
    customer = StrictCharField(
        max_length=20, help_text="The account number of the customer whose cards are listed."
    )


class CardLookupApi(LookupApi):
    permission_classes = [*LookupApi.permission_classes, CanTakeOrders]
    query_serializer = CardLookupQuerySerializer
    lookup = staticmethod(card_lookup)

    @lookup_schema(
        operation_id="card_lookup",
        summary="Look up a customer's cards",
        description="The active cards of the customer, newest first, whose brand contains "
        "`q` or whose last four digits start with it. An expired card is listed, disabled.",
        query=CardLookupQuerySerializer,
        errors=(400, 404),
    )
    def get(self, request):
        return super().get(request)
