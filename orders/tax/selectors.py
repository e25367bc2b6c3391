"""Reads of the tax tables, for the table provider and the admin."""

from __future__ import annotations

import datetime
import re

from django.db.models import Q
from django.db.models.functions import Length, Upper

from orders.tax.models import PriceTaxBasis, TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate


def postal_code_normalized(postal_code: str) -> str:
    """A postal code as prefixes compare with it: capitals and digits only (98101-1234 ->
    981011234, "sw1a 1aa" -> SW1A1AA)."""
    return re.sub(r"[^0-9A-Z]", "", postal_code.upper())


def tax_jurisdiction_for_place(
    *, country: str, region: str, postal_code: str
) -> TaxJurisdiction | None:
    """The most specific jurisdiction of the place: the longest postal code prefix that
    matches, then one of the place's region, then the country alone. None: no tax is
    collected there. The unique place constraint leaves one at the top."""
    postal = postal_code_normalized(postal_code)
    prefixes = [postal[:length] for length in range(1, len(postal) + 1)]
    region = region.strip()
    candidates = (
        TaxJurisdiction.objects.filter(country=country.strip().upper())
        .filter(Q(region="") | Q(region__iexact=region) if region else Q(region=""))
        .annotate(prefix=Upper("postal_prefix"))
        .filter(Q(postal_prefix="") | Q(prefix__in=prefixes))
        .order_by(Length("postal_prefix").desc(), Length("region").desc())
    )
    return candidates.first()


def tax_group_default(kind: TaxGroupKind) -> TaxGroup | None:
    return TaxGroup.objects.filter(kind=kind, is_default=True).first()


def tax_groups_by_code(codes: set[str]) -> dict[str, TaxGroup]:
    return {group.code: group for group in TaxGroup.objects.filter(code__in=codes)}


def tax_rates_on(
    *, jurisdiction_id: int, group_ids: set[int], day: datetime.date
) -> dict[int, TaxRate]:
    """The rate of each group in the jurisdiction on `day`, by group id; a group without
    one that day is missing. Ranges never overlap (orders.tax.services), so there is one."""
    rates = TaxRate.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=day),
        jurisdiction_id=jurisdiction_id,
        group_id__in=group_ids,
        effective_from__lte=day,
    )
    return {rate.group_id: rate for rate in rates}


def prices_include_tax(currency: str) -> bool:
    """Whether the prices of `currency` include tax; a currency never set up: they exclude it."""
    return PriceTaxBasis.objects.filter(currency=currency.upper(), prices_include_tax=True).exists()
