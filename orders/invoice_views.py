"""The printable invoice page: what one warehouse shipment billed, as the customer would
be sent it, for the agent on the phone and for the printer. Thin over
orders.fulfilment.selectors; amounts and dates in the page's language (core.formatting)."""

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET

from core.formatting import amount_text, money_text
from core.roles import can_take_orders, role_required
from orders.fulfilment.selectors import customer_billing_address, invoice_get
from orders.models import Invoice
from orders.selectors import sales_order_delivery
from orders.views import ReceiptRow, rate_text


def invoice_receipt(invoice: Invoice) -> dict:
    """The invoice's lines, delivery line and totals in the shape of the order's receipt
    (orders/partials/receipt.html), then the payment applied and the balance. Every
    amount is the invoice's own, as stored when it was made; nothing is priced again."""
    currency = invoice.currency
    include = invoice.prices_include_tax
    lines = [
        {
            "line": line,
            "unit_price": amount_text(line.unit_price),
            "amount": amount_text(line.amount),
            "tax_rate": rate_text(line.tax_rate) if line.tax_rate is not None else "",
            "tax": amount_text(line.tax_amount),
        }
        for line in invoice.lines.all()
    ]
    # The order's delivery charge is billed by its first invoice only; a later invoice
    # has no delivery line (its Delivery total reads 0).
    delivery = sales_order_delivery(invoice.order)
    delivery_shown = bool(invoice.delivery_amount) or (
        delivery.shown
        and not Invoice.objects.filter(order_id=invoice.order_id, pk__lt=invoice.pk).exists()
    )
    if include:
        rows = [
            ReceiptRow("subtotal", _("Subtotal"), money_text(invoice.subtotal, currency)),
            ReceiptRow("delivery", _("Delivery"), money_text(invoice.delivery_amount, currency)),
            ReceiptRow("total", _("Total incl. VAT"), money_text(invoice.total, currency)),
            ReceiptRow("tax", _("of which VAT"), money_text(invoice.tax_amount, currency)),
        ]
    else:
        rows = [
            ReceiptRow(
                "subtotal",
                pgettext("before tax", "Subtotal"),
                money_text(invoice.subtotal, currency),
            ),
            ReceiptRow("delivery", _("Delivery"), money_text(invoice.delivery_amount, currency)),
            ReceiptRow("tax", _("Tax"), money_text(invoice.tax_amount, currency)),
            ReceiptRow("total", _("Total"), money_text(invoice.total, currency)),
        ]
    rows += [
        ReceiptRow(
            "payment_applied", _("Payment applied"), money_text(invoice.payment_applied, currency)
        ),
        ReceiptRow("balance", _("Balance due"), money_text(invoice.balance, currency)),
    ]
    return {
        "lines": lines,
        "delivery": {
            "shown": delivery_shown,
            "names": delivery.names,
            "amount": amount_text(invoice.delivery_amount),
            "tax_rate": rate_text(invoice.delivery_tax_rate) if delivery_shown else "",
            "tax": amount_text(invoice.delivery_tax_amount),
        },
        "rows": rows,
        "prices_include_tax": include,
        "tax_jurisdiction": invoice.tax_jurisdiction,
    }


@require_GET
@role_required(can_take_orders)
def invoice_detail(request, number):
    try:
        invoice = invoice_get(number=number)
    except Invoice.DoesNotExist:
        raise Http404 from None
    shipment = invoice.shipment
    return render(
        request,
        "orders/invoice.html",
        {
            "invoice": invoice,
            "order": invoice.order,
            "customer": invoice.customer,
            "bill_to": customer_billing_address(invoice.customer) or invoice.order.ship_to,
            "ship_to": invoice.order.ship_to,
            "shipment": shipment,
            "tracking_url": shipment.carrier.tracking_link(shipment.tracking_number),
            "receipt": invoice_receipt(invoice),
        },
    )
