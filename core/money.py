from decimal import ROUND_HALF_UP, Decimal

from django.db import models

# Project-wide precision: amounts are stored with two decimals in the order currency.
MONEY_MAX_DIGITS = 12
MONEY_DECIMAL_PLACES = 2
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# ISO 4217 minor-unit exponents that differ from the usual two decimals.
CURRENCY_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


def minor_unit(currency: str) -> Decimal:
    """The smallest amount a computed money value is rounded to in `currency`: its ISO 4217
    minor unit (1 for JPY, 0.01 for USD and EUR), never finer than what a MoneyField
    stores (a three-decimal currency is held at two decimals, as every amount here is)."""
    exponent = min(CURRENCY_EXPONENTS.get(currency.upper(), 2), MONEY_DECIMAL_PLACES)
    return Decimal(1).scaleb(-exponent)


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up (0.005 -> 0.01) to the currency's minor unit, written with
    the two decimals of a MoneyField (1234 JPY is 1234.00)."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP).quantize(CENT)


class MoneyField(models.DecimalField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_digits") == MONEY_MAX_DIGITS:
            del kwargs["max_digits"]
        if kwargs.get("decimal_places") == MONEY_DECIMAL_PLACES:
            del kwargs["decimal_places"]
        return name, path, args, kwargs


def default_currency() -> str:
    from django.conf import settings

    return settings.CURRENCY


class CurrencyField(models.CharField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("default", default_currency)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 3:
            del kwargs["max_length"]
        if kwargs.get("default") is default_currency:
            del kwargs["default"]
        return name, path, args, kwargs
