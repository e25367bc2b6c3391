"""Payment endpoints: adding a card to a customer. The view validates its input with a
serializer, calls one service, and lets core.rest map errors."""

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.rest import CanTakeOrders, error_responses
from customers.apis import ACCOUNT_NUMBER
from customers.selectors import customer_get
from payments.serializers import CardAddSerializer, CardSerializer
from payments.services import card_add


class CustomerCardAddApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    # Under the customer in the URL and the docs (/customers/<account>/cards/): agents look
    # for it there, though the card and its gateway call are payments'.
    @extend_schema(
        operation_id="customer_card_add",
        summary="Add a credit card",
        description="The gateway tokenizes the card; only its token, brand, last four digits "
        "and expiry are kept. A card number is checked (Luhn, length, brand, expiry) before "
        "the gateway is called.",
        tags=["customers"],
        parameters=[ACCOUNT_NUMBER],
        request=CardAddSerializer,
        responses={
            201: CardSerializer,
            **error_responses(
                400,
                404,
                503,
                refused_when="the card number fails its check digit, length or brand, or "
                "the card has expired",
            ),
        },
    )
    # The body's card number and code sit in `data` (the serializer) and in the request:
    # an error report of this frame shows neither.
    @method_decorator(sensitive_variables("data", "request"))
    def post(self, request, account_number):
        customer = customer_get(account_number=account_number)
        data = CardAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        card = card_add(customer=customer, actor=Actor.of_user(request.user), **data.validated_data)
        return Response(CardSerializer(card).data, status=status.HTTP_201_CREATED)
