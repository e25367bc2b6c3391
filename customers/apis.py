"""Customer endpoints: search and the customer page (adding a card is payments'). Each
view validates its input with a serializer, calls one selector, and lets core.rest map
errors."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.rest import CanTakeOrders, error_responses
from customers.selectors import customer_page_get, customer_search
from customers.serializers import (
    CustomerSearchQuerySerializer,
    CustomerSearchResultSerializer,
    CustomerSerializer,
)

ACCOUNT_NUMBER = OpenApiParameter(
    "account_number", str, OpenApiParameter.PATH, description="e.g. 004021 (Karen Berg)."
)


class CustomerSearchApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="customer_search",
        summary="Search customers",
        description="Customers whose name, account number, email or phone holds every word "
        "of `search`, in name order, at most `limit` of them.",
        tags=["customers"],
        parameters=[CustomerSearchQuerySerializer],
        responses={200: CustomerSearchResultSerializer, **error_responses(400)},
    )
    def get(self, request):
        query = CustomerSearchQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        customers = customer_search(query=query.validated_data["search"])
        return Response(
            CustomerSearchResultSerializer(
                {"limit": settings.CUSTOMER_SEARCH_LIMIT, "results": customers}
            ).data
        )


class CustomerDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="customer_get",
        summary="Get a customer",
        description="The customer page: addresses, active cards, the latest orders and "
        "every subscription.",
        tags=["customers"],
        parameters=[ACCOUNT_NUMBER],
        responses={200: CustomerSerializer, **error_responses(404)},
    )
    def get(self, request, account_number):
        customer = customer_page_get(account_number=account_number)
        return Response(CustomerSerializer(customer).data)
