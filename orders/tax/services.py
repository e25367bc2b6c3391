"""Writes of the tax tables. The one rule PostgreSQL cannot hold without btree_gist: the
date ranges of one group's rates in one jurisdiction never overlap, so that a day has one
rate. Every writer checks it under the jurisdiction's row lock (the admin's forms too, in
the admin's own transaction), so two administrators saving at once are checked in turn."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from core.config_version import config_version_lock
from core.formatting import day_text
from orders.tax.models import TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate


@dataclass(frozen=True)
class RateRange:
    """One rate's group and dates, as saved or as about to be saved. `rate_id` is the row
    it replaces (None for a new one)."""

    group_id: int
    effective_from: datetime.date
    effective_to: datetime.date | None
    rate_id: int | None = None

    def overlaps(self, other: RateRange) -> bool:
        return (
            self.group_id == other.group_id
            and (other.effective_to is None or self.effective_from <= other.effective_to)
            and (self.effective_to is None or other.effective_from <= self.effective_to)
        )


def _range_text(rate_range: RateRange) -> str:
    if rate_range.effective_to is None:
        return gettext("from %(start)s") % {"start": day_text(rate_range.effective_from)}
    return gettext("from %(start)s to %(end)s") % {
        "start": day_text(rate_range.effective_from),
        "end": day_text(rate_range.effective_to),
    }


def tax_rates_check(
    *,
    jurisdiction_id: int | None,
    ranges: Sequence[RateRange],
    removed_ids: frozenset[int] = frozenset(),
) -> None:
    """Refuses (ValidationError) `ranges` if, with the jurisdiction's other saved rates,
    two of one group overlap, or one is of an exempt group. Runs inside the caller's
    transaction and locks the jurisdiction's row until it ends; `jurisdiction_id` None is
    a jurisdiction not saved yet (no one else can add to it)."""
    # The configuration version's row first (core.config_version), as the trigger of
    # every configuration statement takes it: another administrator's edit of a group or
    # an item, which holds it, has committed before this locks a group's row, and one
    # that starts later waits here (each holding one lock and waiting for the other's,
    # the two would deadlock).
    config_version_lock()
    # Locked: a group made exempt meanwhile (TaxGroup.clean) waits, or is seen exempt.
    # NO KEY UPDATE, as an UPDATE of the row takes: an item saved with the group meanwhile
    # (its foreign key check's KEY SHARE) does not wait for it.
    groups = TaxGroup.objects.select_for_update(no_key=True).in_bulk({r.group_id for r in ranges})
    exempt = sorted(g.code for g in groups.values() if g.kind == TaxGroupKind.EXEMPT)
    if exempt:
        raise ValidationError(
            gettext("An exempt tax group is never taxed: %(groups)s takes no rate.")
            % {"groups": ", ".join(exempt)},
            code="exempt_group_rate",
        )
    saved: list[RateRange] = []
    if jurisdiction_id is not None:
        TaxJurisdiction.objects.select_for_update(no_key=True).filter(pk=jurisdiction_id).first()
        replaced = {r.rate_id for r in ranges if r.rate_id is not None} | set(removed_ids)
        saved = [
            RateRange(rate.group_id, rate.effective_from, rate.effective_to, rate.pk)
            for rate in TaxRate.objects.filter(jurisdiction_id=jurisdiction_id).exclude(
                pk__in=replaced
            )
        ]
    checked = [*saved]
    for rate_range in ranges:
        clash = next((other for other in checked if rate_range.overlaps(other)), None)
        if clash is not None:
            raise ValidationError(
                gettext(
                    "Two rates of the tax group %(group)s overlap: %(first)s and %(second)s. "
                    "End the earlier one the day before the later one starts."
                )
                % {
                    "group": groups[rate_range.group_id].code,
                    "first": _range_text(min(clash, rate_range, key=_start)),
                    "second": _range_text(max(clash, rate_range, key=_start)),
                },
                code="overlapping_rates",
            )
        checked.append(rate_range)


def _start(rate_range: RateRange) -> datetime.date:
    return rate_range.effective_from


def tax_rate_create(
    *,
    jurisdiction: TaxJurisdiction,
    group: TaxGroup,
    rate: Decimal,
    effective_from: datetime.date,
    effective_to: datetime.date | None = None,
) -> TaxRate:
    """A new rate of `group` in `jurisdiction`; refused (ValidationError) when it is out of
    bounds or overlaps another rate of the group there."""
    with transaction.atomic():
        tax_rate = TaxRate(
            jurisdiction=jurisdiction,
            group=group,
            rate=rate,
            effective_from=effective_from,
            effective_to=effective_to,
        )
        tax_rate.full_clean()
        tax_rates_check(
            jurisdiction_id=jurisdiction.pk,
            ranges=[RateRange(group.pk, effective_from, effective_to)],
        )
        tax_rate.save()
    return tax_rate
