"""Reads of an order's invoices, as the invoice page and the API show them (an order's
shipments and invoices come with it: orders.selectors.sales_order_get)."""

from __future__ import annotations

from django.db.models import Prefetch

from customers.models import Address, AddressKind, Customer
from orders.models import Invoice, InvoiceLine


def invoice_get(*, number: str) -> Invoice:
    """An invoice with everything its page shows, in a fixed number of queries. Raises
    Invoice.DoesNotExist."""
    if "\x00" in number:  # PostgreSQL refuses NUL in a query: no such invoice
        raise Invoice.DoesNotExist
    return (
        Invoice.objects.select_related(
            "order",
            "order__ship_to",
            "order__delivery_mode",
            "customer",
            "shipment__carrier",
            "payment__card",
            "payment__method",
        )
        .prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.select_related("item")),
            "shipment__lines__order_line",
        )
        .get(number=number.strip().upper()[:20])
    )


def customer_billing_address(customer: Customer) -> Address | None:
    """Where a customer's invoices are addressed: the default billing address, or the
    first billing address; None when the customer has none (the invoice then bills the
    ship-to address)."""
    return (
        Address.objects.filter(customer=customer, kind=AddressKind.BILLING)
        .order_by("-is_default", "id")
        .first()
    )
