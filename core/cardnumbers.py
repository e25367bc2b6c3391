"""Card-number arithmetic (digits, the Luhn check digit, brands) shared by our card
validation, the gateway simulator and the log masking (core.logs)."""

import re


def normalize(number: str) -> str:
    """Digits only; spaces and dashes as people type them are dropped."""
    return re.sub(r"[\s-]", "", number or "")


def is_digits(text: str) -> bool:
    """0-9 only: str.isdigit() also takes the digits of other scripts (Arabic-Indic,
    fullwidth), which no card carries."""
    return text.isascii() and text.isdigit()


def luhn_valid(number: str) -> bool:
    if not is_digits(number):
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def detect_brand(number: str) -> str | None:
    """The brand from the leading digits (IIN ranges), or None if we do not take it."""
    if re.match(r"^4\d{12}(\d{3}){0,2}$", number):
        return "visa"
    if re.match(r"^(5[1-5]\d{14}|2(2[2-9]\d|[3-6]\d\d|7[01]\d|720)\d{12})$", number):
        return "mastercard"
    if re.match(r"^3[47]\d{13}$", number):
        return "amex"
    if re.match(r"^(6011\d{12}|65\d{14}|64[4-9]\d{13})$", number):
        return "discover"
    return None
