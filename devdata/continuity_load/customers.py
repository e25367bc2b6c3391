"""The customers of a generated load: each with a default shipping address and a card
tokenized at the gateway (so that its charges approve)."""

from core.bulk import copy_rows
from customers.models import Address, AddressKind, Customer
from devdata.continuity_load.batch import LEDGER, LoadBatch, LoadShape
from payments.gateways.simulator.models import SimulatedCard
from payments.gateways.simulator.test_cards import Behaviour
from payments.models import Card, CardBrand

CITIES = (
    ("Seattle", "WA", "981"),
    ("Portland", "OR", "972"),
    ("Denver", "CO", "802"),
    ("Austin", "TX", "787"),
    ("Boston", "MA", "021"),
    ("Chicago", "IL", "606"),
)


def customer_rows_copy(shape: LoadShape, batch: LoadBatch) -> int:
    """Customers, their addresses and cards (ours and the gateway's); returns the rows."""
    counters, people, tokens = batch.counters, batch.people, batch.tokens
    customer_ids, address_ids, card_ids = batch.customer_ids, batch.address_ids, batch.card_ids
    rows = 0
    rows += copy_rows(
        Customer,
        (
            "id",
            "account_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "language",
            "currency",
            "blocked",
            "search_document",
            "created_at",
        ),
        (
            (
                customer_id,
                account,
                first,
                last,
                email,
                phone,
                "en",
                shape.currency,
                False,
                Customer.build_search_document(
                    account_number=account,
                    first_name=first,
                    last_name=last,
                    email=email,
                    phone=phone,
                ),
                shape.written_at,
            )
            for customer_id, (account, first, last, email, phone) in zip(
                customer_ids, people, strict=True
            )
        ),
    )
    rows += copy_rows(
        Address,
        (
            "id",
            "customer_id",
            "kind",
            "name",
            "street",
            "city",
            "state",
            "postal_code",
            "country",
            "is_default",
        ),
        (
            (
                address_id,
                customer_id,
                AddressKind.SHIPPING.value,
                f"{first} {last}",
                f"{100 + counter % 9_000} Pine Street",
                *CITIES[counter % len(CITIES)][:2],
                f"{CITIES[counter % len(CITIES)][2]}{counter % 100:02d}",
                "US",
                True,
            )
            for address_id, customer_id, counter, (_account, first, last, _email, _phone) in zip(
                address_ids, customer_ids, counters, people, strict=True
            )
        ),
    )
    # The card is tokenized at the gateway (its ledger, through its own connection) and
    # kept in ours as token, brand, last four digits and expiry.
    rows += copy_rows(
        SimulatedCard,
        ("token", "behaviour", "brand", "last4", "expiry_month", "expiry_year", "created_at"),
        (
            (
                token,
                Behaviour.APPROVE.value,
                CardBrand.VISA.value,
                "4242",
                12,
                shape.expiry_year,
                shape.written_at,
            )
            for token in tokens
        ),
        using=LEDGER,
    )
    rows += copy_rows(
        Card,
        (
            "id",
            "customer_id",
            "token",
            "brand",
            "last4",
            "expiry_month",
            "expiry_year",
            "name_on_card",
            "active",
            "created_at",
        ),
        (
            (
                card_id,
                customer_id,
                token,
                CardBrand.VISA.value,
                "4242",
                12,
                shape.expiry_year,
                f"{first} {last}",
                True,
                shape.written_at,
            )
            for card_id, customer_id, token, (_account, first, last, _email, _phone) in zip(
                card_ids, customer_ids, tokens, people, strict=True
            )
        ),
    )
    return rows
