"""What a billed document costs: its goods lines taxed, its delivery charge as a line of
its own, taxed too, and the totals (docs/tax.md, docs/delivery.md).

A billed document is what one card charge pays for: the lines of a sales order that ship
with it, or one shipment of a continuity program. Every amount the application charges,
shows or refunds is made of these prices, computed here once and stored on the rows they
price (order lines, shipment lines, the order, the shipment), so that a later change of
rates or of a delivery mode never changes what was already charged.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.money import ZERO
from orders.delivery import DeliveryMode, delivery_charge, delivery_mode_default
from orders.models import Item
from orders.tax.provider import (
    NO_RATE,
    LineTax,
    TaxableLine,
    TaxAddress,
    get_tax_provider,
    tax_total,
    untaxed,
)
from orders.tax.selectors import prices_include_tax as currency_prices_include_tax
from orders.tax.selectors import read_once

DELIVERY_KEY = "delivery"


@dataclass(frozen=True)
class GoodsLine:
    """One line of goods to price. `amount` is quantity x unit price, as priced (before
    tax where prices exclude it, with tax where they include it). `tax_group` is the item's
    tax group code; None: the default Standard group."""

    key: str
    amount: Decimal
    units: int
    tax_group: str | None = None


@dataclass(frozen=True)
class DocumentPrice:
    """A document priced: each goods line's tax, the delivery line and the totals.

    subtotal: the goods as priced; delivery: the delivery charge as priced; tax: every
    line's tax, delivery's included; total: what the card is charged, the sum of the
    lines' gross amounts. Where prices exclude tax, total = subtotal + delivery + tax;
    where they include it, total = subtotal + delivery (the tax is inside).
    """

    currency: str
    prices_include_tax: bool
    jurisdiction: str
    lines: tuple[LineTax, ...]
    delivery_mode_id: int | None
    delivery: Decimal
    delivery_tax: LineTax | None

    @property
    def subtotal(self) -> Decimal:
        return sum((self._as_priced(line) for line in self.lines), ZERO)

    @property
    def goods_tax(self) -> Decimal:
        return tax_total(self.lines)

    @property
    def delivery_tax_amount(self) -> Decimal:
        return self.delivery_tax.tax if self.delivery_tax else ZERO

    @property
    def delivery_tax_rate(self) -> Decimal:
        return self.delivery_tax.rate if self.delivery_tax else NO_RATE

    @property
    def tax(self) -> Decimal:
        return self.goods_tax + self.delivery_tax_amount

    @property
    def total(self) -> Decimal:
        gross = sum((line.gross for line in self.lines), ZERO)
        return gross + (self.delivery_tax.gross if self.delivery_tax else ZERO)

    def line(self, key: str) -> LineTax:
        return next(line for line in self.lines if line.key == key)

    def _as_priced(self, line: LineTax) -> Decimal:
        return line.gross if self.prices_include_tax else line.net


def delivery_mode_or_default(mode: DeliveryMode | None) -> DeliveryMode | None:
    if mode is not None:
        return mode
    return read_once(("default delivery mode",), delivery_mode_default)


def document_price(
    *,
    goods: Sequence[GoodsLine],
    ship_to,
    delivery_mode: DeliveryMode | None,
    currency: str,
    on_date: datetime.date,
    delivery: bool = True,
    kept_delivery: tuple[int | None, Decimal] | None = None,
    prices_include_tax: bool | None = None,
) -> DocumentPrice:
    """Price one billed document on `on_date` (the rates in force that day).

    ship_to: a customers.Address, or None (nothing is taxed: no place, no jurisdiction).
    delivery_mode: the document's mode; None: the default mode (no default: no charge).
    delivery: False for goods that do not ship with this document (none do: a parent
    order that only sells programs ships nothing itself).
    kept_delivery: (mode id, charge) already agreed with the customer (a shipment priced
    again before its charge): kept as it is and only taxed again.
    prices_include_tax: the basis the goods were sold on; None: the currency's now.
    Raises orders.tax.provider.TaxUnavailable when a line cannot be taxed.
    """
    include = (
        currency_prices_include_tax(currency) if prices_include_tax is None else prices_include_tax
    )
    mode_id, delivery_amount = None, ZERO
    if kept_delivery is not None:
        mode_id, delivery_amount = kept_delivery
    elif delivery and goods:
        mode = delivery_mode_or_default(delivery_mode)
        if mode is not None:
            mode_id = mode.pk
            delivery_amount = delivery_charge(
                mode,
                goods_amount=sum((line.amount for line in goods), ZERO),
                units=sum(line.units for line in goods),
                currency=currency,
            )
    taxable = [
        TaxableLine(key=line.key, amount=line.amount, tax_group=line.tax_group) for line in goods
    ]
    # A mode whose charge is 0.00 (free above its threshold) still shows as a line.
    if mode_id is not None:
        taxable.append(TaxableLine(key=DELIVERY_KEY, amount=delivery_amount, delivery=True))
    if ship_to is None or not taxable:
        taxes = [untaxed(line) for line in taxable]
    else:
        taxes = get_tax_provider().line_taxes(
            address=TaxAddress.of(ship_to),
            lines=taxable,
            on_date=on_date,
            currency=currency,
            prices_include_tax=include,
        )
    goods_taxes = tuple(tax for tax in taxes if tax.key != DELIVERY_KEY)
    delivery_tax = next((tax for tax in taxes if tax.key == DELIVERY_KEY), None)
    jurisdiction = next((tax.jurisdiction for tax in taxes if tax.jurisdiction), "")
    return DocumentPrice(
        currency=currency,
        prices_include_tax=include,
        jurisdiction=jurisdiction,
        lines=goods_taxes,
        delivery_mode_id=mode_id,
        delivery=delivery_amount,
        delivery_tax=delivery_tax,
    )


def item_tax_groups(item_ids: Iterable[int]) -> dict[int, str | None]:
    """Each item's tax group code (None: the default Standard group), in one query (none
    again for the same items in a tax_tables_read_once() block)."""
    ids = frozenset(item_ids)
    return read_once(
        ("item tax groups", ids),
        lambda: dict(Item.objects.filter(pk__in=ids).values_list("pk", "tax_group__code")),
    )
