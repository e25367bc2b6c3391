"""What the application needs from a tax calculation, and the built-in one.

Everything crosses this boundary as plain values: a place (TaxAddress), the lines to tax
(TaxableLine: an amount in the document's currency and a tax group code) and, back, each
line split into net, tax and gross with the rate and the jurisdiction that gave it
(LineTax), for the caller to store on its line. The provider is named by the TAX_PROVIDER
setting and reached only through get_tax_provider(); docs/tax.md tells how to add one.
"""

from __future__ import annotations

import abc
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from core.errors import ServiceError
from core.formatting import day_text
from core.money import ZERO
from orders.tax import selectors
from orders.tax.models import TaxGroupKind
from orders.tax.rounding import tax_in_gross, tax_on_net

TABLE = "orders.tax.provider.TableTaxProvider"
NO_RATE = Decimal("0.0000")


class TaxUnavailable(ServiceError):
    """The tax of a line cannot be computed: the tables lack what it needs (a rate, a
    default group) or an external provider failed. Nothing may be charged without it."""

    code = "tax_unavailable"


@dataclass(frozen=True)
class TaxAddress:
    """Where the goods go, as tax sees it."""

    country: str
    region: str = ""
    postal_code: str = ""

    @classmethod
    def of(cls, address) -> TaxAddress:
        """From a customers.Address (its state is the region)."""
        return cls(country=address.country, region=address.state, postal_code=address.postal_code)


@dataclass(frozen=True)
class TaxableLine:
    """One line to tax. `amount` is the line's amount as priced: the net when prices
    exclude tax, the gross when they include it. `tax_group` is a TaxGroup code; None
    means the default group: of kind Delivery for a delivery line, Standard otherwise."""

    key: str
    amount: Decimal
    tax_group: str | None = None
    delivery: bool = False


@dataclass(frozen=True)
class LineTax:
    """A line's tax, to be stored on it as it is: a later change of rates changes nothing
    already computed. `rate` is a percentage; `jurisdiction_id` is None (and the tax zero)
    where no jurisdiction collects tax."""

    key: str
    net: Decimal
    tax: Decimal
    gross: Decimal
    rate: Decimal
    tax_group: str
    jurisdiction_id: int | None
    jurisdiction: str


def tax_total(line_taxes: Sequence[LineTax]) -> Decimal:
    """The document's tax: the sum of its lines' (docs/tax.md, the rounding rule)."""
    return sum((line.tax for line in line_taxes), ZERO)


class TaxProvider(abc.ABC):
    @abc.abstractmethod
    def line_taxes(
        self,
        *,
        address: TaxAddress,
        lines: Sequence[TaxableLine],
        on_date: datetime.date,
        currency: str,
        prices_include_tax: bool,
    ) -> list[LineTax]:
        """One LineTax per line, in the order of `lines`, each with the line's key, rounded
        by orders.tax.rounding; net + tax == gross on every line. Raises TaxUnavailable
        when a line cannot be taxed."""


class TableTaxProvider(TaxProvider):
    """The built-in provider: the tax groups, jurisdictions and rates kept in the admin."""

    def line_taxes(self, *, address, lines, on_date, currency, prices_include_tax):
        jurisdiction = selectors.tax_jurisdiction_for_place(
            country=address.country, region=address.region, postal_code=address.postal_code
        )
        if jurisdiction is None:
            return [untaxed(line) for line in lines]
        groups = self._groups(lines)
        taxed_group_ids = {g.pk for g in groups.values() if g.kind != TaxGroupKind.EXEMPT}
        rates = selectors.tax_rates_on(
            jurisdiction_id=jurisdiction.pk, group_ids=taxed_group_ids, day=on_date
        )
        taxes = []
        for line in lines:
            group = groups[group_key(line)]
            if group.kind == TaxGroupKind.EXEMPT:
                rate = NO_RATE
            elif group.pk in rates:
                rate = rates[group.pk].rate
            else:
                raise TaxUnavailable(
                    gettext("No rate of the tax group %(group)s in %(place)s on %(date)s.")
                    % {"group": group.code, "place": jurisdiction.name, "date": day_text(on_date)}
                )
            split = (tax_in_gross if prices_include_tax else tax_on_net)(
                line.amount, rate, currency
            )
            taxes.append(
                LineTax(
                    key=line.key,
                    net=split.net,
                    tax=split.tax,
                    gross=split.gross,
                    rate=rate,
                    tax_group=group.code,
                    jurisdiction_id=jurisdiction.pk,
                    jurisdiction=jurisdiction.name,
                )
            )
        return taxes

    @staticmethod
    def _groups(lines: Sequence[TaxableLine]) -> dict:
        """The group of each line, by its code or by the default kind it falls back to."""
        named = {line.tax_group for line in lines if line.tax_group is not None}
        found = selectors.tax_groups_by_code(named)
        unknown = named - set(found)
        if unknown:
            raise TaxUnavailable(
                gettext("No tax group %(code)s.") % {"code": ", ".join(sorted(unknown))}
            )
        groups = {("code", code): group for code, group in found.items()}
        for line in lines:
            key = group_key(line)
            if key in groups:
                continue
            group = selectors.tax_group_default(key[1])
            if group is None:
                raise TaxUnavailable(
                    gettext("No tax group of the kind %(kind)s is the default.")
                    % {"kind": TaxGroupKind(key[1]).label}
                )
            groups[key] = group
        return groups


def group_key(line: TaxableLine) -> tuple[str, str]:
    """("code", the line's group code), or ("kind", the kind of the default group it
    falls back to): a group may be coded like a kind."""
    if line.tax_group is not None:
        return ("code", line.tax_group)
    return ("kind", TaxGroupKind.DELIVERY if line.delivery else TaxGroupKind.STANDARD)


def untaxed(line: TaxableLine) -> LineTax:
    """A line shipped where no jurisdiction collects tax: its amount, whichever way it was
    priced, is all net."""
    return LineTax(
        key=line.key,
        net=line.amount,
        tax=ZERO,
        gross=line.amount,
        rate=NO_RATE,
        tax_group=line.tax_group or "",
        jurisdiction_id=None,
        jurisdiction="",
    )


@cache
def get_tax_provider() -> TaxProvider:
    path = TABLE if settings.TAX_PROVIDER == "table" else settings.TAX_PROVIDER
    return import_string(path)()
