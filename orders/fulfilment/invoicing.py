"""What one warehouse shipment's invoice bills. Each line bills its share of the order
line it ships: quantity x unit price, and the line's tax in proportion (of the units
billed so far, rounded once); the shipment that
ships a line's last units bills what is left of it, so that an order's invoices add up to
the order to the cent, whatever the rounding of the parts. The order's delivery charge is
on its first invoice, as the customer was told at the order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import ZERO, round_half_up
from orders.models import SalesOrder, SalesOrderLine


@dataclass(frozen=True)
class InvoiceLinePrice:
    order_line: SalesOrderLine
    quantity: int
    amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal


@dataclass(frozen=True)
class InvoicePrice:
    lines: tuple[InvoiceLinePrice, ...]
    subtotal: Decimal
    delivery_amount: Decimal
    delivery_tax_rate: Decimal
    delivery_tax_amount: Decimal
    tax_amount: Decimal
    total: Decimal


def invoice_price(
    order: SalesOrder,
    shipped: list[tuple[SalesOrderLine, int]],
    *,
    billed: dict[int, tuple[int, Decimal, Decimal, Decimal]],
    first_invoice: bool,
) -> InvoicePrice:
    """The invoice of `shipped` ((order line, quantity) pairs, read before this shipment
    adds to shipped_quantity). `billed` holds, per order line id, what earlier invoices
    billed of it: (quantity, amount, tax, gross)."""
    lines = []
    for line, quantity in shipped:
        done_quantity, done_amount, done_tax, done_gross = billed.get(
            line.pk, (0, ZERO, ZERO, ZERO)
        )
        if done_quantity + quantity == line.quantity:
            # The line's last units: what is left of it, to the cent.
            amount = line.amount - done_amount
            tax = line.tax_amount - done_tax
            gross = line.gross_amount - done_gross
        else:
            amount = line.unit_price * quantity
            # The tax billed so far, rounded once, less what was billed: each invoice's
            # share is never negative (rounding each share on its own could bill seven
            # units of a 0.05 tax 0.01 each, and leave -0.02 for the last).
            billed_so_far = round_half_up(
                line.tax_amount * (done_quantity + quantity) / line.quantity, order.currency
            )
            tax = billed_so_far - done_tax
            gross = amount if order.prices_include_tax else amount + tax
        lines.append(InvoiceLinePrice(line, quantity, amount, tax, gross))
    delivery = order.delivery_amount if first_invoice else ZERO
    delivery_tax = order.delivery_tax_amount if first_invoice else ZERO
    subtotal = sum((line.amount for line in lines), ZERO)
    tax = sum((line.tax_amount for line in lines), ZERO) + delivery_tax
    total = subtotal + delivery + (ZERO if order.prices_include_tax else tax)
    return InvoicePrice(
        lines=tuple(lines),
        subtotal=subtotal,
        delivery_amount=delivery,
        delivery_tax_rate=order.delivery_tax_rate if first_invoice else ZERO,
        delivery_tax_amount=delivery_tax,
        tax_amount=tax,
        total=total,
    )
