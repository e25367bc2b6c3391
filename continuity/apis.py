"""Continuity programs (read-only) and subscriptions (read): each view validates its query
with a serializer and calls one selector; core.api maps errors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from continuity.selectors import program_get, program_list, subscription_get, subscription_list
from continuity.serializers import (
    ProgramSerializer,
    ProgramSummarySerializer,
    SubscriptionListQuerySerializer,
    SubscriptionSerializer,
    SubscriptionSummarySerializer,
)
from core.api import (
    CanTakeOrders,
    PageQuerySerializer,
    error_responses,
    page_of,
    paginated_response,
)


class ProgramListApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="continuity_program_list",
        summary="List continuity programs",
        tags=["continuity programs"],
        parameters=[PageQuerySerializer],
        responses={200: page_of(ProgramSummarySerializer), **error_responses(400)},
    )
    def get(self, request):
        return paginated_response(request, self, program_list(), ProgramSummarySerializer)


class ProgramDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="continuity_program_get",
        summary="Get a continuity program",
        description="Its events (interval, repeat count, action) with their lines, and the "
        "items that sell it.",
        tags=["continuity programs"],
        parameters=[
            OpenApiParameter("code", str, OpenApiParameter.PATH, description="e.g. WELLNESS6.")
        ],
        responses={200: ProgramSerializer, **error_responses(404)},
    )
    def get(self, request, code):
        return Response(ProgramSerializer(program_get(code=code)).data)


class SubscriptionListApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="subscription_list",
        summary="List subscriptions",
        description="Newest first, optionally of one customer and in one status.",
        tags=["subscriptions"],
        parameters=[SubscriptionListQuerySerializer, PageQuerySerializer],
        responses={200: page_of(SubscriptionSummarySerializer), **error_responses(400)},
    )
    def get(self, request):
        query = SubscriptionListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        subscriptions = subscription_list(
            customer_account=query.validated_data.get("customer"),
            status=query.validated_data.get("status"),
        )
        return paginated_response(request, self, subscriptions, SubscriptionSummarySerializer)


class SubscriptionDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="subscription_get",
        summary="Get a subscription",
        description="With its shipments (lines, status, payment, child order), every payment "
        "made for it (the sale at submit, each shipment's charges, refunds) and its child "
        "orders.",
        tags=["subscriptions"],
        parameters=[OpenApiParameter("subscription_id", int, OpenApiParameter.PATH)],
        responses={200: SubscriptionSerializer, **error_responses(404)},
    )
    def get(self, request, subscription_id):
        subscription = subscription_get(subscription_id=subscription_id)
        return Response(SubscriptionSerializer(subscription).data)
