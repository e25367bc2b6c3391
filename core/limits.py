"""The bounds of what a person may type, in one place: the pages' forms, the API's
serializers, the admin (through the model fields' validators) and the services (the last
gate, whoever calls them) all read them from here, with the same message.

- Quantities: a call-center order line, not a warehouse transfer. The bound also keeps a
  line's amount (quantity x unit price) inside the money columns and the quantity inside
  PostgreSQL's integer.
- Money: the largest amount the money columns hold (core.money's precision).
- Dates: the years the app plans in. Shipment dates are computed from them (months and
  weeks added), so a date far outside would leave Python's date range; the card expiry
  constraints accept the same years. A service adds its own rule inside the window (a
  start date not before today, a run date at most BATCH_MAX_DAYS_AHEAD ahead).
- Text: a reason written out (the audit trail's column) and a search term.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.formatting import day_text
from core.money import CENT, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS

QUANTITY_MIN = 1
QUANTITY_MAX = 9999


def _quantity_message() -> str:
    return _("Enter a quantity from %(min)d to %(max)d.") % {
        "min": QUANTITY_MIN,
        "max": QUANTITY_MAX,
    }


# Lazy: translated when shown, in the language of the request.
QUANTITY_MESSAGE = lazy(_quantity_message, str)()

MONEY_MAX = Decimal(10 ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES)) - CENT

EARLIEST_DATE = datetime.date(2000, 1, 1)
LATEST_DATE = datetime.date(2199, 12, 31)


def _date_message() -> str:
    return _("Enter a date between %(earliest)s and %(latest)s.") % {
        "earliest": day_text(EARLIEST_DATE),
        "latest": day_text(LATEST_DATE),
    }


DATE_MESSAGE = lazy(_date_message, str)()

# Schedules set in the admin (programs, the continuity parameters): small enough that
# every date planned from them stays within the planning years, and that a batch run's
# work stays countable.
SCHEDULE_DAYS_MAX = 366  # days to the first shipment, lead days, the retry interval
HORIZON_DAYS_MAX = 3660  # how far ahead open-ended programs are planned
INTERVAL_MAX = 366  # between two shipments, in the event's unit (days, weeks, months)
REPEAT_MAX = 120  # shipments of one event
EVENT_NUMBER_MAX = 999
CHARGE_ATTEMPTS_MAX = 100
CHILD_ORDERS_PER_RUN_MAX = 1_000_000

# The audit trail's reason column (core.models.AuditEntry.reason).
REASON_MAX_LENGTH = 255
# An action that needs a reason, without one: the same words on page, API and service.
REASON_REQUIRED_MESSAGE = gettext_lazy("Enter the reason for this action.")
# A customer search: words of a name, an account number, a phone number or an email.
SEARCH_TERM_MAX_LENGTH = 100


def is_quantity(value) -> bool:
    # bool is an int: True is not a quantity of 1.
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (QUANTITY_MIN <= value <= QUANTITY_MAX)
    )


def validate_quantity(value) -> None:
    """Model field validator (the admin's forms and any full_clean run it)."""
    if not is_quantity(value):
        raise ValidationError(QUANTITY_MESSAGE, code="quantity")


def quantity_check(value, *, field: str = "quantity") -> int:
    """A service's check of a quantity it was given: the whole number itself, or a
    ValidationError on `field`."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not is_quantity(value):
        raise ValidationError({field: QUANTITY_MESSAGE}, code="quantity")
    return value


def amount_check(amount: Decimal, *, field: str) -> Decimal:
    """An amount computed from what was typed (a quantity times a price) that the money
    columns cannot hold is refused on the field that made it so."""
    if abs(amount) > MONEY_MAX:
        raise ValidationError(
            {
                field: _(
                    "The amount would be over %(max)s, the largest amount the books can record."
                )
                % {"max": number_format(MONEY_MAX, MONEY_DECIMAL_PLACES, force_grouping=True)}
            },
            code="amount",
        )
    return amount


def length_check(value: str, *, field: str, max_length: int) -> str:
    """A service's check of a text's length, with the forms' own message."""
    try:
        MaxLengthValidator(max_length)(value)
    except ValidationError as error:
        raise ValidationError({field: error.messages}, code="max_length") from None
    return value


def is_business_date(value) -> bool:
    return isinstance(value, datetime.date) and EARLIEST_DATE <= value <= LATEST_DATE


def validate_business_date(value) -> None:
    """Model and form field validator: a date within the years the app plans in."""
    if value is not None and not is_business_date(value):
        raise ValidationError(DATE_MESSAGE, code="date_range")


def business_date_check(value, *, field: str) -> datetime.date:
    """A service's check of a date it was given, as a ValidationError on `field`."""
    if not is_business_date(value):
        raise ValidationError({field: DATE_MESSAGE}, code="date_range")
    return value
