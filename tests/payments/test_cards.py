import pytest
from django.core.exceptions import ValidationError

from core.dates import business_date
from core.models import AuditEntry
from customers.models import Customer
from payments.gateways.simulator.models import SimulatedCard
from payments.models import Card
from payments.services import card_add

pytestmark = pytest.mark.django_db

NEXT_YEAR = business_date().year + 1


@pytest.fixture
def karen(demo):
    return Customer.objects.get(account_number="004021")


def add(karen, actor, **overrides):
    values = {
        "card_number": "4111 1111 1111 1111",
        "expiry_month": 12,
        "expiry_year": NEXT_YEAR,
        "security_code": "123",
        "name_on_card": "Karen Berg",
    }
    values.update(overrides)
    return card_add(customer=karen, actor=actor, **values)


def test_a_valid_card_is_tokenized_and_only_safe_fields_are_kept(karen, actor):
    card = add(karen, actor)

    card.refresh_from_db()
    assert (card.brand, card.last4, card.expiry_month, card.expiry_year) == (
        "visa",
        "1111",
        12,
        NEXT_YEAR,
    )
    assert card.token.startswith("tok_sim_")
    assert card.name_on_card == "Karen Berg"
    stored = " ".join(
        str(value) for value in Card.objects.filter(pk=card.pk).values().get().values()
    )
    assert "4111111111111111" not in stored
    entry = AuditEntry.objects.get(action="card_added", object_id=str(card.pk))
    assert entry.details == {"card": "Visa •••• 1111"}
    assert SimulatedCard.objects.using("gateway").get(token=card.token).last4 == "1111"


def test_a_two_digit_year_means_this_century(karen, actor):
    card = add(karen, actor, expiry_year=str(NEXT_YEAR)[-2:])
    assert card.expiry_year == NEXT_YEAR


def test_mastercard_and_amex_brands_are_recognised(karen, actor):
    mastercard = add(karen, actor, card_number="5555 5555 5555 4444")
    amex = add(karen, actor, card_number="3782 822463 10005", security_code="1234")
    assert (mastercard.brand, amex.brand) == ("mastercard", "amex")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"card_number": "4111 1111 1111 1112"},
            "card_number",
            "This card number is not valid. Check the digits.",
        ),
        ({"card_number": "4111 1111 1"}, "card_number", "Enter the card number: 13 to 19 digits."),
        (
            {"card_number": "4111-abcd-1111-1111"},
            "card_number",
            "Enter the card number: 13 to 19 digits.",
        ),
        ({"card_number": "9999 9999 9999 9995"}, "card_number", "This card brand is not accepted."),
        ({"expiry_month": 13}, "expiry_month", "Enter the expiration month, 1 to 12."),
        ({"expiry_month": "x"}, "expiry_month", "Enter the expiration month, 1 to 12."),
        ({"expiry_year": 2019}, "expiry_year", "This card has expired."),
        ({"expiry_year": "soon"}, "expiry_year", None),
        ({"security_code": "12"}, "security_code", "Enter the 3-digit security code."),
        (
            {"card_number": "378282246310005", "security_code": "123"},
            "security_code",
            "Enter the 4-digit security code.",
        ),
        ({"name_on_card": "  "}, "name_on_card", "Enter the name as it is printed on the card."),
    ],
)
def test_bad_card_input_is_refused_before_the_gateway_and_nothing_is_kept(
    karen, actor, overrides, field, message
):
    cards_before = Card.objects.count()
    gateway_cards_before = SimulatedCard.objects.using("gateway").count()

    with pytest.raises(ValidationError) as excinfo:
        add(karen, actor, **overrides)

    errors = excinfo.value.message_dict
    assert field in errors
    if message:
        assert errors[field] == [message]
    number = overrides.get("card_number", "4111 1111 1111 1111").replace(" ", "")
    assert number not in str(errors)
    assert Card.objects.count() == cards_before
    assert SimulatedCard.objects.using("gateway").count() == gateway_cards_before


def test_a_card_that_expires_this_month_is_still_accepted(karen, actor):
    today = business_date()
    card = add(karen, actor, expiry_month=today.month, expiry_year=today.year)
    assert card.pk is not None
