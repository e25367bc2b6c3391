"""Type-ahead lookups of payments (core.lookups): the order summary's method of payment and
a customer's card (the subscription actions' card choice)."""

from django.db.models import Q
from django.utils.translation import gettext as _

from core.dates import business_date
from core.lookups import LookupOption
from customers.selectors import customer_get
from payments.models import Card, CardBrand, PaymentMethod


def payment_method_lookup(*, q: str, limit: int) -> list[LookupOption]:
    """Active methods of payment by code prefix or name, in code order (a short list)."""
    methods = PaymentMethod.objects.filter(active=True)
    text = q.strip()
    if text:
        methods = methods.filter(Q(code__istartswith=text) | Q(name__icontains=text))
    return [
        LookupOption(
            value=method.code,
            label=f"{method.code} · {method.name}",
            description=str(method.get_kind_display()),
        )
        for method in methods.order_by("code")[:limit]
    ]


def card_lookup(*, customer: str, q: str, limit: int) -> list[LookupOption]:
    """The active cards of the customer with account number `customer` (404 when there is
    none), newest first, by brand or the start of the last four digits. An expired card is
    shown, so the agent sees why it is missing, but it cannot be chosen."""
    owner = customer_get(account_number=customer)
    cards = Card.objects.filter(customer=owner, active=True)
    text = q.strip().lower()
    if text:
        brands = [brand for brand, label in CardBrand.choices if text in label.lower()]
        cards = cards.filter(Q(last4__startswith=text) | Q(brand__in=brands))
    today = business_date()
    options = []
    for card in cards.order_by("-created_at", "-id")[:limit]:
        expired = card.is_expired_on(today)
        options.append(
            LookupOption(
                value=str(card.pk),
                label=str(card),
                description=_("Expires %(month)02d/%(year)d")
                % {"month": card.expiry_month, "year": card.expiry_year},
                disabled=expired,
                disabled_reason=_("Expired") if expired else "",
            )
        )
    return options
