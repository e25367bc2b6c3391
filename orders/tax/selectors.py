"""Reads of the tax tables, for the table provider and the admin."""

from __future__ import annotations

import datetime
import re

from django.db.models import Q
from django.db.models.functions import Length, Upper

from core.read_once import ReadOnce
from orders.tax.models import PriceTaxBasis, TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate

# Within tax_tables_read_once(): answers kept by their arguments, so that a batch chunk
# that prices hundreds of shipments asks the tables once per place, group set and day.
_tax_answers = ReadOnce("tax_answers", shared=True)


def tax_tables_read_once():
    """Read each answer of the tax tables (and of the default delivery mode) once in the
    block: for a batch chunk, which prices many shipments in one transaction. A rate an
    administrator changes during the block applies from the next one, as it would had
    the chunk started a moment earlier; the block is one chunk, not a whole run. A block
    inside another (a chunk's charge pricing its shipments) keeps its answers."""
    return _tax_answers.block()


def read_once(key: tuple, read):
    """`read()`, or its answer kept in this tax_tables_read_once() block."""
    return _tax_answers.get(key, read)


def postal_code_normalized(postal_code: str) -> str:
    """A postal code as prefixes compare with it: capitals and digits only (98101-1234 ->
    981011234, "sw1a 1aa" -> SW1A1AA)."""
    return re.sub(r"[^0-9A-Z]", "", postal_code.upper())


def tax_jurisdiction_for_place(
    *, country: str, region: str, postal_code: str
) -> TaxJurisdiction | None:
    if not _tax_answers.active():
        return _jurisdiction_for_place(country=country, region=region, postal_code=postal_code)
    # In a batch block every customer's postal code differs: the country's jurisdictions
    # are read once, and each place is matched among them by the same rule.
    jurisdictions = read_once(
        ("jurisdictions of", country.strip().upper()),
        lambda: list(TaxJurisdiction.objects.filter(country=country.strip().upper())),
    )
    return jurisdiction_matching(jurisdictions, region=region, postal_code=postal_code)


def jurisdiction_matching(
    jurisdictions, *, region: str, postal_code: str
) -> TaxJurisdiction | None:
    """_jurisdiction_for_place's rule over jurisdictions of the place's country already
    read: the longest postal prefix that starts the postal code, then a region's (without
    case), then the country's own."""
    postal = postal_code_normalized(postal_code)
    region = region.strip().upper()
    matching = [
        jurisdiction
        for jurisdiction in jurisdictions
        if (jurisdiction.region == "" or (region and jurisdiction.region.upper() == region))
        and postal.startswith(jurisdiction.postal_prefix.upper())
    ]
    if not matching:
        return None
    return max(matching, key=lambda j: (len(j.postal_prefix), len(j.region)))


def _jurisdiction_for_place(
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


def _tax_groups_all() -> list[TaxGroup]:
    """Every tax group, in a block: an administrator's short list, asked by kind and by
    code several times a pricing (three queries a block, one read this way)."""
    return read_once(("every group",), lambda: list(TaxGroup.objects.order_by("pk")))


def tax_group_default(kind: TaxGroupKind) -> TaxGroup | None:
    if not _tax_answers.active():
        return TaxGroup.objects.filter(kind=kind, is_default=True).first()
    return next(
        (group for group in _tax_groups_all() if group.kind == kind and group.is_default), None
    )


def tax_groups_by_code(codes: set[str]) -> dict[str, TaxGroup]:
    if not _tax_answers.active():
        return {group.code: group for group in TaxGroup.objects.filter(code__in=codes)}
    return {group.code: group for group in _tax_groups_all() if group.code in codes}


def tax_rates_on(
    *, jurisdiction_id: int, group_ids: set[int], day: datetime.date
) -> dict[int, TaxRate]:
    """The rate of each group in the jurisdiction on `day`, by group id; a group without
    one that day is missing. Ranges never overlap (orders.tax.services), so there is one."""
    if not _tax_answers.active():
        return _rates_on(jurisdiction_id=jurisdiction_id, group_ids=group_ids, day=day)
    # In a block the days differ (a subscription's shipments, a chunk's ship dates): the
    # groups' rates of the jurisdiction are read once, whatever their days, and each
    # day's are picked among them by the query's own rule.
    rates = read_once(
        ("rates of", jurisdiction_id, frozenset(group_ids)),
        lambda: list(
            TaxRate.objects.filter(jurisdiction_id=jurisdiction_id, group_id__in=group_ids)
        ),
    )
    return {
        rate.group_id: rate
        for rate in rates
        if rate.effective_from <= day and (rate.effective_to is None or rate.effective_to >= day)
    }


def _rates_on(*, jurisdiction_id: int, group_ids: set[int], day: datetime.date) -> dict:
    rates = TaxRate.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=day),
        jurisdiction_id=jurisdiction_id,
        group_id__in=group_ids,
        effective_from__lte=day,
    )
    return {rate.group_id: rate for rate in rates}


def prices_include_tax(currency: str) -> bool:
    """Whether the prices of `currency` include tax; a currency never set up: they exclude it."""
    return read_once(
        ("prices include tax", currency.upper()),
        lambda: PriceTaxBasis.objects.filter(
            currency=currency.upper(), prices_include_tax=True
        ).exists(),
    )
