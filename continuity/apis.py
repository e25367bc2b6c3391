"""Continuity programs (read-only), subscriptions (read, actions), and the payment
exceptions supervisors work (the list, releasing a hold): each view validates its input
with a serializer and calls one selector or service; core.rest maps errors."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from continuity.models import ReasonCode, Subscription
from continuity.presenters import effect_text
from continuity.selectors import (
    payment_exceptions_list,
    program_get,
    program_list,
    subscription_get,
    subscription_list,
)
from continuity.serializers import (
    MoneyAuditSerializer,
    ProgramSerializer,
    ProgramSummarySerializer,
    SubscriptionActionResultSerializer,
    SubscriptionActionSerializer,
    SubscriptionListQuerySerializer,
    SubscriptionSerializer,
    SubscriptionSummarySerializer,
)
from continuity.subscription_actions import UnknownAction, action_get, actions_all
from continuity.subscription_actions.holds import RELEASE_HOLD
from core.actors import Actor
from core.limits import REASON_MAX_LENGTH, REASON_REQUIRED_MESSAGE
from core.rest import (
    CanTakeOrders,
    CanWorkPaymentExceptions,
    PageQuerySerializer,
    error_responses,
    page_of,
    paginated_response,
)
from core.rest_fields import StrictCharField
from payments.serializers import money_field


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


def _previewed_action_names() -> list[str]:
    return [action.name for action in actions_all() if action.previewed]


class SubscriptionActionApi(APIView):
    """One view for every action declared with a preview (continuity.subscription_actions):
    each is the same operation (preview or do it, with a reason code) on its own service,
    with the arguments and permission its declaration gives."""

    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="subscription_action",
        summary="Skip, reschedule, pause, resume, change the card or ship-to, cancel, reactivate",
        description="With preview=true, only describes what would be charged, refunded or "
        "shipped, and when; otherwise does it, with the reason code (the list kept in the "
        "admin), and answers what it did. Refusals: 400 per field, 409 for a state that "
        "forbids the action (a shipment with its child order, a cancelled subscription).",
        tags=["subscriptions"],
        parameters=[
            OpenApiParameter("subscription_id", int, OpenApiParameter.PATH),
            OpenApiParameter("action", str, OpenApiParameter.PATH, enum=_previewed_action_names()),
        ],
        request=SubscriptionActionSerializer,
        responses={
            200: SubscriptionActionResultSerializer,
            **error_responses(
                400,
                404,
                409,
                refused_when="the reason code is not in the list, or a field the action "
                "needs is missing or names something else (error.fields names which)",
            ),
        },
    )
    def post(self, request, subscription_id, action):
        try:
            declared = action_get(action)
        except UnknownAction:
            raise Http404 from None
        if not declared.previewed:
            raise Http404
        declared.require_allowed(request.user)
        body = SubscriptionActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        subscription = subscription_get(subscription_id=subscription_id)
        arguments = declared.arguments_from(data)
        preview = declared.preview_of(subscription_id=subscription.pk, arguments=arguments)
        if not data["preview"]:
            declared.do(
                subscription_id=subscription.pk,
                actor=Actor.of_user(request.user),
                reason=data["reason_code"],
                arguments=arguments,
            )
            subscription.refresh_from_db()
        elif not ReasonCode.objects.filter(code=data["reason_code"], active=True).exists():
            raise DjangoValidationError({"reason_code": _("Choose a reason from the list.")})
        return Response(
            SubscriptionActionResultSerializer(
                {
                    "action": action,
                    "previewed_only": data["preview"],
                    "effects": [
                        {
                            "what": effect.what,
                            "shipment": effect.occurrence.sequence if effect.occurrence else None,
                            "ship_date": effect.occurrence.ship_date if effect.occurrence else None,
                            "day": effect.day,
                            "amount": effect.amount,
                            "before": effect.before,
                            "text": effect_text(effect, subscription.currency),
                        }
                        for effect in preview.effects
                    ],
                    "subscription_status": subscription.status,
                }
            ).data
        )


# --- Payment exceptions (supervisors) ---------------------------------------------------


class ExceptionShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subscription = serializers.IntegerField(source="subscription_id")
    sales_order = serializers.CharField(source="subscription.parent_order.number")
    customer = serializers.CharField(source="subscription.customer.account_number")
    sequence = serializers.IntegerField()
    ship_date = serializers.DateField()
    amount = money_field()
    currency = serializers.CharField()
    status = serializers.CharField()
    subscription_status = serializers.CharField(source="subscription.status")
    decline_reason = serializers.CharField()
    payment_attempts = serializers.IntegerField()
    next_payment_attempt_on = serializers.DateField(allow_null=True)


class ExceptionHoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sales_order = serializers.CharField(source="parent_order.number")
    customer = serializers.CharField(source="customer.account_number")
    hold_reason = serializers.CharField()


class ExceptionOrderSaleSerializer(serializers.Serializer):
    payment = serializers.IntegerField(source="pk")
    idempotency_key = serializers.CharField()
    sales_order = serializers.CharField(source="sales_order.number")
    amount = money_field()
    currency = serializers.CharField()
    status = serializers.CharField()


class RefundOwedSerializer(serializers.Serializer):
    shipment = serializers.IntegerField(source="occurrence_id")
    subscription = serializers.IntegerField(source="occurrence.subscription_id")
    sales_order = serializers.CharField(source="occurrence.subscription.parent_order.number")
    shipment_status = serializers.CharField(source="occurrence.status")
    sale = serializers.IntegerField(source="payment_id")
    sale_key = serializers.CharField(source="payment.idempotency_key")
    owed = money_field()
    refund_in_flight = serializers.BooleanField()


class PaymentExceptionsSerializer(serializers.Serializer):
    shipments = ExceptionShipmentSerializer(many=True, source="occurrences")
    holds = ExceptionHoldSerializer(many=True)
    orders_unanswered = ExceptionOrderSaleSerializer(many=True)
    refunds_owed = RefundOwedSerializer(many=True)
    money_audit = MoneyAuditSerializer(allow_null=True)


class PaymentExceptionsApi(APIView):
    permission_classes = [IsAuthenticated, CanWorkPaymentExceptions]

    @extend_schema(
        operation_id="payment_exceptions",
        summary="Payment exceptions",
        description="What the payment exceptions page lists (first 200 of each): shipments "
        "whose charge was declined or whose outcome is unknown, subscriptions on hold, "
        "orders whose sale awaits its answer, refunds owed, and the last money audit with "
        "its findings (an empty list when our books and the gateway's ledger agree).",
        tags=["payments"],
        responses={200: PaymentExceptionsSerializer, **error_responses()},
    )
    def get(self, request):
        return Response(PaymentExceptionsSerializer(payment_exceptions_list()).data)


class SubscriptionReleaseHoldSerializer(serializers.Serializer):
    reason = StrictCharField(
        max_length=REASON_MAX_LENGTH,
        help_text="Why the hold is released.",
        error_messages={
            "required": REASON_REQUIRED_MESSAGE,
            "blank": REASON_REQUIRED_MESSAGE,
            "null": REASON_REQUIRED_MESSAGE,
        },
    )


class SubscriptionReleaseHoldApi(APIView):
    # The role's own refusal message; the declaration's permission (supervisors) agrees.
    permission_classes = [IsAuthenticated, CanWorkPaymentExceptions]

    @extend_schema(
        operation_id="subscription_release_hold",
        summary="Release a payment hold (supervisors)",
        description="The subscription goes back to active and its declined shipments are "
        "due for a charge again today. 409 if it is not on hold.",
        tags=["payments"],
        parameters=[OpenApiParameter("subscription_id", int, OpenApiParameter.PATH)],
        request=SubscriptionReleaseHoldSerializer,
        responses={200: ExceptionHoldSerializer, **error_responses(400, 404, 409)},
    )
    def post(self, request, subscription_id):
        body = SubscriptionReleaseHoldSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        RELEASE_HOLD.require_allowed(request.user)
        subscription = RELEASE_HOLD.do(
            subscription_id=subscription_id,
            actor=Actor.of_user(request.user),
            reason=body.validated_data["reason"],
            arguments={},
        )
        subscription = Subscription.objects.select_related("parent_order", "customer").get(
            pk=subscription.pk
        )
        return Response(ExceptionHoldSerializer(subscription).data)
