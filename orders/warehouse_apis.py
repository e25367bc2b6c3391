"""The warehouse's endpoints: its pick list, its shipment confirmations (idempotent by its
own shipment id), and a supervisor's release of an order to it (docs/warehouse.md).

The Warehouse role reaches these and nothing else: every other endpoint asks for
CanTakeOrders or CanSupervise, which it does not have."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.rest import (
    CanSupervise,
    IsWarehouse,
    PageQuerySerializer,
    error_responses,
    page_of,
    paginated_response,
)
from core.roles import can_supervise
from orders.apis import ORDER_NUMBER, SalesOrderCreateApi
from orders.fulfilment.services import (
    ShipmentConfirmation,
    sales_order_release,
    warehouse_shipment_record,
)
from orders.models import WITH_WAREHOUSE, SalesOrderStatus, ShipmentSource
from orders.selectors import sales_order_id_get, sales_order_pick_list, warehouse_shipment_get
from orders.warehouse_serializers import (
    PickOrderSerializer,
    SalesOrderPickListQuerySerializer,
    SalesOrderReleasedSerializer,
    SalesOrderShipmentCreateSerializer,
    ShipmentSerializer,
)

# What the Warehouse role may list: the orders it has been given, from release on. An
# open or submitted order is not the warehouse's business yet.
WAREHOUSE_VISIBLE = frozenset(
    {
        SalesOrderStatus.RELEASED,
        SalesOrderStatus.PARTIALLY_SHIPPED,
        SalesOrderStatus.SHIPPED,
        SalesOrderStatus.INVOICED,
        SalesOrderStatus.COMPLETED,
    }
)


def _statuses(text: str | None, *, user) -> list[str]:
    if not text:
        return sorted(WITH_WAREHOUSE)
    statuses = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [value for value in statuses if value not in SalesOrderStatus.values]
    if not statuses or unknown:
        raise ValidationError(
            {
                "status": _("Unknown status %(status)s. The statuses are: %(statuses)s.")
                % {
                    "status": ", ".join(unknown) or text,
                    "statuses": ", ".join(SalesOrderStatus.values),
                }
            }
        )
    if not can_supervise(user):
        hidden = [value for value in statuses if value not in WAREHOUSE_VISIBLE]
        if hidden:
            raise ValidationError(
                {
                    "status": _("The warehouse lists orders from their release on, not %(status)s.")
                    % {"status": ", ".join(hidden)}
                }
            )
    return statuses


class SalesOrderListApi(APIView):
    permission_classes = [IsAuthenticated, IsWarehouse]

    @extend_schema(
        operation_id="sales_order_list",
        summary="List sales orders (the pick list)",
        description="Orders in the given statuses, oldest release first, each with its "
        "customer, ship-to address, delivery mode and lines with what is left to ship. "
        "Without `status`: the pick list, released and partially shipped orders. For the "
        "Warehouse role, supervisors and administrators.",
        tags=["warehouse"],
        parameters=[SalesOrderPickListQuerySerializer, PageQuerySerializer],
        responses={
            200: page_of(PickOrderSerializer),
            **error_responses(
                400,
                refused_when="a status is unknown, or not the warehouse's (error.fields.status)",
            ),
        },
    )
    def get(self, request):
        query = SalesOrderPickListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        statuses = _statuses(query.validated_data.get("status"), user=request.user)
        orders = sales_order_pick_list(statuses=statuses)
        return paginated_response(request, self, orders, PickOrderSerializer)


class SalesOrdersApi(SalesOrderListApi, SalesOrderCreateApi):
    """/sales-orders/: GET lists (the warehouse's pick list), POST creates (order entry).
    One URL takes one view in Django; each operation keeps its own roles."""

    def get_permissions(self):
        view = SalesOrderListApi if self.request.method in ("GET", "HEAD") else SalesOrderCreateApi
        return [permission() for permission in view.permission_classes]


class SalesOrderShipmentCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsWarehouse]

    @extend_schema(
        operation_id="sales_order_shipment_create",
        summary="Confirm a shipment",
        description="The warehouse shipped one parcel of the order: some quantities of its "
        "lines. Records the shipment and its invoice, moves the order to partially_shipped, "
        "or to invoiced (completed when its payment covers it) once every line is shipped, "
        "and emails the customer. Idempotent by `warehouse_shipment_id`: sent again with "
        "the same content, the first record is answered with 200 and nothing is written; "
        "with other content, 409. 409 also for an order not released to the warehouse, "
        "cancelled or already shipped.",
        tags=["warehouse"],
        parameters=[ORDER_NUMBER],
        request=SalesOrderShipmentCreateSerializer,
        responses={
            201: ShipmentSerializer,
            200: ShipmentSerializer,
            **error_responses(
                400,
                404,
                409,
                refused_when="the carrier is unknown or inactive (error.fields.carrier), the "
                "shipped date is in the future or over a year ago (error.fields.shipped_date), "
                "or a line does not exist on the order, is another item, or has fewer units "
                "left to ship (error.fields.lines)",
            ),
        },
    )
    def post(self, request, number):
        data = SalesOrderShipmentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        confirmation = ShipmentConfirmation(
            order_number=number,
            warehouse_reference=fields["warehouse_shipment_id"],
            carrier_code=fields["carrier"],
            tracking_number=fields["tracking_number"],
            shipped_date=fields["shipped_date"],
            lines=tuple(
                (line["line_number"], line["quantity"], line.get("item_number", ""))
                for line in fields["lines"]
            ),
        )
        recorded = warehouse_shipment_record(
            confirmation, source=ShipmentSource.API, actor=Actor.of_user(request.user)
        )
        shipment = warehouse_shipment_get(shipment_id=recorded.shipment.pk)
        return Response(
            ShipmentSerializer(shipment).data,
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


class SalesOrderReleaseApi(APIView):
    permission_classes = [IsAuthenticated, CanSupervise]

    @extend_schema(
        operation_id="sales_order_release",
        summary="Release to the warehouse",
        description="Hand a submitted child order to the warehouse: it appears on the pick "
        "list and can no longer be cancelled. The child-order job releases the orders it "
        "creates itself; this is for one held back. 409 when the order is not a submitted "
        "child order.",
        tags=["warehouse"],
        parameters=[ORDER_NUMBER],
        request=None,
        responses={200: SalesOrderReleasedSerializer, **error_responses(404, 409)},
    )
    def post(self, request, number):
        order_id = sales_order_id_get(number=number)
        order = sales_order_release(order_id=order_id, actor=Actor.of_user(request.user))
        return Response(SalesOrderReleasedSerializer(order).data)
