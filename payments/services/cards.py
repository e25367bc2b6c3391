"""Adding a card: validated here, tokenized by the gateway, kept as a token only."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from core import cardnumbers
from core.actors import Actor
from core.dates import business_date
from core.services import audit_record
from payments.gateways import get_gateway
from payments.gateways.base import CardDetails, CardRejected, GatewayError
from payments.models import Card
from payments.services.errors import GatewayUnavailable


def _card_input_errors(
    *,
    number: str,
    expiry_month,
    expiry_year,
    security_code: str,
    name_on_card: str,
    today: datetime.date,
) -> tuple[dict[str, str], int | None, int | None]:
    errors: dict[str, str] = {}
    if not (cardnumbers.is_digits(number) and 13 <= len(number) <= 19):
        errors["card_number"] = _("Enter the card number: 13 to 19 digits.")
    elif not cardnumbers.luhn_valid(number):
        errors["card_number"] = _("This card number is not valid. Check the digits.")
    elif cardnumbers.detect_brand(number) is None:
        errors["card_number"] = _("This card brand is not accepted.")
    month = year = None
    try:
        month = int(expiry_month)
        if not 1 <= month <= 12:
            raise ValueError
    except (TypeError, ValueError):
        errors["expiry_month"] = _("Enter the expiration month, 1 to 12.")
        month = None
    try:
        year = int(expiry_year)
        if 0 <= year < 100:  # "28" on the card means 2028
            year += 2000
        if not 2000 <= year <= 2199:
            raise ValueError
    except (TypeError, ValueError):
        errors["expiry_year"] = _("Enter the expiration year, for example %(year)d.") % {
            "year": today.year + 3
        }
        year = None
    if month and year and (year, month) < (today.year, today.month):
        errors["expiry_year"] = _("This card has expired.")
    expected_code_length = 4 if cardnumbers.detect_brand(number) == "amex" else 3
    if not (cardnumbers.is_digits(security_code) and len(security_code) == expected_code_length):
        errors["security_code"] = _("Enter the %(count)d-digit security code.") % {
            "count": expected_code_length
        }
    if not name_on_card.strip():
        errors["name_on_card"] = _("Enter the name as it is printed on the card.")
    return errors, month, year


@sensitive_variables("card_number", "security_code", "number")
def card_add(
    *,
    customer,
    card_number: str,
    expiry_month,
    expiry_year,
    security_code: str,
    name_on_card: str,
    actor: Actor,
) -> Card:
    """Validate the card, have the gateway tokenize it, and keep only the token, brand,
    last four digits and expiry. Error messages never repeat the number or the code."""
    number = cardnumbers.normalize(card_number)
    security_code = (security_code or "").strip()
    errors, month, year = _card_input_errors(
        number=number,
        expiry_month=expiry_month,
        expiry_year=expiry_year,
        security_code=security_code,
        name_on_card=name_on_card or "",
        today=business_date(),
    )
    if errors:
        raise ValidationError(errors)
    try:
        tokenized = get_gateway().tokenize(
            CardDetails(
                number=number,
                expiry_month=month,
                expiry_year=year,
                security_code=security_code,
                name_on_card=name_on_card.strip(),
            )
        )
    except CardRejected as error:
        raise ValidationError({"card_number": str(error)}) from None
    except GatewayError:
        # `from None`: the gateway's exception must not carry the card into a traceback.
        raise GatewayUnavailable(
            _("The payment service did not answer. Try again in a moment.")
        ) from None
    with transaction.atomic():
        card = Card.objects.create(
            customer=customer,
            token=tokenized.token,
            brand=tokenized.brand,
            last4=tokenized.last4,
            expiry_month=tokenized.expiry_month,
            expiry_year=tokenized.expiry_year,
            name_on_card=name_on_card.strip(),
        )
        audit_record(
            actor=actor,
            action="card_added",
            obj=card,
            customer_id=customer.pk,
            details={"card": str(card)},
        )
    return card
