"""The one rounding rule of tax (docs/tax.md, "The rounding rule").

Tax is computed per line, on the line's own amount, and rounded half up to the currency's
minor unit; a document's tax is the sum of its lines' taxes, so that the lines always add
up to it exactly. Rates are percentages (20 means 20 %).

- Prices without tax: tax = round(net x rate / 100); gross = net + tax.
- Prices with tax: net = round(gross / (1 + rate / 100)); tax = gross - net.

Rounding the net, rather than the tax, of a tax-inclusive line keeps the gross the customer
was quoted exact: net and tax always add up to the price on the shelf.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import round_half_up

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SplitAmount:
    net: Decimal
    tax: Decimal
    gross: Decimal


def tax_on_net(net: Decimal, rate: Decimal, currency: str) -> SplitAmount:
    """A tax-exclusive line: its amount is the net."""
    tax = round_half_up(net * rate / HUNDRED, currency)
    return SplitAmount(net=net, tax=tax, gross=net + tax)


def tax_in_gross(gross: Decimal, rate: Decimal, currency: str) -> SplitAmount:
    """A tax-inclusive line: its amount is the gross."""
    net = round_half_up(gross * HUNDRED / (HUNDRED + rate), currency)
    return SplitAmount(net=net, tax=gross - net, gross=gross)
