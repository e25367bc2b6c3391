"""GET /api/v1/invoices/{number}/: one invoice, for order takers (an order's invoices are
listed on the order itself, orders.apis.SalesOrderDetailApi)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.rest import CanTakeOrders, error_responses
from orders.fulfilment.selectors import invoice_get
from orders.models import Invoice
from orders.serializers import InvoiceSerializer

INVOICE_NUMBER = OpenApiParameter(
    "number", str, OpenApiParameter.PATH, description="The invoice number, e.g. INV-000123."
)


class InvoiceDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanTakeOrders]

    @extend_schema(
        operation_id="invoice_get",
        summary="Get an invoice",
        description="What one warehouse shipment billed: its lines, the order's delivery "
        "charge on the order's first invoice, their tax, the payment applied and the balance; "
        "and the shipment (carrier, tracking number and link).",
        tags=["invoices"],
        parameters=[INVOICE_NUMBER],
        responses={200: InvoiceSerializer, **error_responses(404)},
    )
    def get(self, request, number):
        try:
            invoice = invoice_get(number=number)
        except Invoice.DoesNotExist:
            raise NotFound(
                _("Invoice %(number)s does not exist.") % {"number": number[:20]}
            ) from None
        return Response(InvoiceSerializer(invoice).data)
