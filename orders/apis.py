"""Item and sales-order endpoints: the seed procedure's order entry (create, add lines,
complete, pay, submit). Each view validates its input with a serializer, calls one
service (or selector), and answers with the order as it now is; core.rest maps errors."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.rest import (
    CanTakeOrders,
    PageQuerySerializer,
    error_responses,
    page_of,
    paginated_response,
)
from customers.models import Customer
from customers.selectors import customer_get
from orders.models import SalesOrderStatus
from orders.selectors import (
    item_get,
    item_list,
    item_quote,
    sales_order_continuity_previews,
    sales_order_delivery,
    sales_order_get,
    sales_order_id_get,
)
from orders.serializers import (
    ItemListQuerySerializer,
    ItemQuerySerializer,
    ItemSerializer,
    ItemSummarySerializer,
    SalesOrderCreateSerializer,
    SalesOrderDeliveryModeSetSerializer,
    SalesOrderLineAddSerializer,
    SalesOrderPaymentSetSerializer,
    SalesOrderSerializer,
)
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_delivery_mode_set,
    sales_order_line_add,
    sales_order_payment_set,
    sales_order_submit,
)

ITEM_NUMBER = OpenApiParameter(
    "item_number", str, OpenApiParameter.PATH, description="e.g. 88000 (a continuity item)."
)
ORDER_NUMBER = OpenApiParameter(
    "number", str, OpenApiParameter.PATH, description="The sales order number, e.g. SO-000123."
)


def _order_response(number: str, *, status_code: int = status.HTTP_200_OK) -> Response:
    order = sales_order_get(number=number)
    previews = (
        sales_order_continuity_previews(order) if order.status == SalesOrderStatus.OPEN else []
    )
    order.continuity_previews = [{"line": line, "quote": quote} for line, quote in previews]
    delivery = sales_order_delivery(order)
    order.delivery_line = {
        "mode": delivery.chosen.code if delivery.chosen else None,
        "mode_name": delivery.names,
        "amount": delivery.amount,
        "tax_rate": delivery.tax_rate,
        "tax": delivery.tax,
    }
    return Response(SalesOrderSerializer(order).data, status=status_code)


# --- Items -------------------------------------------------------------------------------


class ItemListApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="item_list",
        summary="List items",
        tags=["items"],
        parameters=[ItemListQuerySerializer, PageQuerySerializer],
        responses={200: page_of(ItemSummarySerializer), **error_responses(400)},
    )
    def get(self, request):
        query = ItemListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        items = item_list(continuity=query.validated_data.get("continuity"))
        return paginated_response(request, self, items, ItemSummarySerializer)


class ItemDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="item_get",
        summary="Get an item",
        description="A continuity item comes with its program and its planned shipments "
        "(dates, lines, amounts) if sold today with the program starting on `start_date`, "
        "and what would be charged at submit.",
        tags=["items"],
        parameters=[ITEM_NUMBER, ItemQuerySerializer],
        responses={200: ItemSerializer, **error_responses(400, 404)},
    )
    def get(self, request, item_number):
        query = ItemQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        item = item_get(item_number=item_number)
        item.quote = item_quote(item, start_date=query.validated_data.get("start_date"))
        return Response(ItemSerializer(item).data)


# --- Sales orders ------------------------------------------------------------------------


class SalesOrderCreateApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_create",
        summary="New sales order",
        description="An open order for the customer, shipped to their default address.",
        tags=["sales orders"],
        request=SalesOrderCreateSerializer,
        responses={
            201: SalesOrderSerializer,
            **error_responses(
                400, refused_when="no customer has the account number (error.fields.customer)"
            ),
        },
    )
    def post(self, request):
        data = SalesOrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account_number = data.validated_data["customer"]
        try:
            customer = customer_get(account_number=account_number)
        except Customer.DoesNotExist:
            raise ValidationError(
                {
                    "customer": _("Customer %(account)s does not exist.")
                    % {"account": account_number}
                }
            ) from None
        order = sales_order_create(customer=customer, actor=Actor.of_user(request.user))
        return _order_response(order.number, status_code=status.HTTP_201_CREATED)


class SalesOrderDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_get",
        summary="Get a sales order",
        description="Lines, totals, the payment line and payments; an open order's continuity "
        "lines with their planned shipments; a submitted parent's subscriptions with their "
        "shipments, and its child orders.",
        tags=["sales orders"],
        parameters=[ORDER_NUMBER],
        responses={200: SalesOrderSerializer, **error_responses(404)},
    )
    def get(self, request, number):
        return _order_response(number)


class SalesOrderLineAddApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_line_add",
        summary="Add a line",
        description="Add an item by its number. A continuity item is priced at what is due "
        "at submit for it. Any change to the lines (or to the delivery mode) sends the order "
        "back through complete.",
        tags=["sales orders"],
        parameters=[ORDER_NUMBER],
        request=SalesOrderLineAddSerializer,
        responses={
            201: SalesOrderSerializer,
            **error_responses(
                400,
                404,
                409,
                refused_when="the item does not exist or is not for sale, or its program "
                "refuses the start date (error.fields names which)",
            ),
        },
    )
    def post(self, request, number):
        order_id = sales_order_id_get(number=number)
        data = SalesOrderLineAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sales_order_line_add(
            order_id=order_id, actor=Actor.of_user(request.user), **data.validated_data
        )
        return _order_response(number, status_code=status.HTTP_201_CREATED)


class SalesOrderDeliveryModeSetApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_delivery_mode_set",
        summary="Set the delivery mode",
        description="How the order's goods, and its programs' shipments whose event names "
        "no mode of its own, are delivered: an active mode by its code, in any case; empty "
        "or null, the default mode. The order is priced again (delivery charge and tax) and, "
        "as after any change to the lines, goes back through complete.",
        tags=["sales orders"],
        parameters=[ORDER_NUMBER],
        request=SalesOrderDeliveryModeSetSerializer,
        responses={
            200: SalesOrderSerializer,
            **error_responses(
                400,
                404,
                409,
                refused_when="the delivery mode does not exist or is not active "
                "(error.fields.delivery_mode)",
            ),
        },
    )
    def post(self, request, number):
        order_id = sales_order_id_get(number=number)
        data = SalesOrderDeliveryModeSetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sales_order_delivery_mode_set(
            order_id=order_id,
            code=data.validated_data["delivery_mode"] or "",
            actor=Actor.of_user(request.user),
        )
        return _order_response(number)


class SalesOrderCompleteApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_complete",
        summary="Complete",
        description="Finish line entry: the totals and the amount due at submit are fixed "
        "for the payment step.",
        tags=["sales orders"],
        parameters=[ORDER_NUMBER],
        request=None,
        responses={
            200: SalesOrderSerializer,
            **error_responses(400, 404, 409, refused_when="the order has no lines"),
        },
    )
    def post(self, request, number):
        order_id = sales_order_id_get(number=number)
        sales_order_complete(order_id=order_id, actor=Actor.of_user(request.user))
        return _order_response(number)


class SalesOrderPaymentSetApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_payment_set",
        summary="Set the payment",
        description="The payment line: a method of payment (and, for a card method, one of "
        "the customer's cards) covering the amount due. Nothing is charged until submit.",
        tags=["sales orders"],
        parameters=[ORDER_NUMBER],
        request=SalesOrderPaymentSetSerializer,
        responses={
            200: SalesOrderSerializer,
            **error_responses(
                400,
                404,
                409,
                refused_when="the method of payment does not exist, or the card is not one "
                "of the customer's active cards",
            ),
        },
    )
    def post(self, request, number):
        order_id = sales_order_id_get(number=number)
        data = SalesOrderPaymentSetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sales_order_payment_set(
            order_id=order_id,
            method_code=data.validated_data["payment_method"],
            card_id=data.validated_data.get("card"),
            actor=Actor.of_user(request.user),
        )
        return _order_response(number)


class SalesOrderSubmitApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="sales_order_submit",
        summary="Submit",
        description="Charge the amount due and submit the order; a continuity item starts "
        "its subscription with the first shipment paid. Submitting a submitted order returns "
        "it and charges nothing. A declined card answers 402 and leaves the order open (pay "
        "with another card, submit again); a charge whose outcome the gateway did not "
        "confirm answers 409 `payment_unknown`: submit again to look it up, nothing is "
        "charged twice.",
        tags=["sales orders"],
        parameters=[ORDER_NUMBER],
        request=None,
        responses={
            200: SalesOrderSerializer,
            **error_responses(
                400,
                402,
                404,
                409,
                refused_when="the order is not ready to submit: not completed, its customer "
                "blocked, no payment line or a card that cannot pay",
            ),
        },
    )
    def post(self, request, number):
        order_id = sales_order_id_get(number=number)
        sales_order_submit(order_id=order_id, actor=Actor.of_user(request.user))
        return _order_response(number)
