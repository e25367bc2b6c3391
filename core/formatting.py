"""Dates and amounts as people read them, in the active language.

Every message, email and choice label formats through here, so that a French page never
shows 2026-12-06 or 12.50 where it would show 06/12/2026 or 12,50 elsewhere. Audit rows
and API fields keep ISO dates and plain decimals: they are data, not sentences.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils.formats import date_format, localize
from django.utils.translation import get_language

from core.money import CENT


def day_text(day: datetime.date | str | None) -> str:
    """A calendar date in the short form of the active language (12/06/2026, 06/12/2026).
    Accepts the ISO string an email's stored context holds; empty for no date."""
    if not day:
        return ""
    if isinstance(day, str):
        day = datetime.date.fromisoformat(day)
    return date_format(day, "SHORT_DATE_FORMAT")


def amount_text(amount: Decimal | str | int) -> str:
    """An amount with the decimal separator of the active language (12.50, 12,50), as the
    pages show it, always with the cents. Accepts the string an email's stored context or
    a run's summary holds."""
    return localize(Decimal(str(amount)).quantize(CENT))


def money_text(amount: Decimal | str | int, currency: str) -> str:
    """An amount followed by its currency code, as the pages show it: "12,50 USD"."""
    return f"{amount_text(amount)} {currency}"


def in_language(english: str, french: str) -> str:
    """The text of a record kept in both languages (a reason code's label, a delivery
    mode's or tax group's name) in the active language."""
    return french if (get_language() or "en").startswith("fr") else english
