"""The demo data: a few customers (several Karens, so that search has to choose), the
items and continuity programs they buy, the reasons and methods of payment, and one user
per role, each with the demo password.

Every write is keyed on a natural key (account number, item number, code, username), so
running it again changes nothing: rows are created when missing and left alone when
present. Demo passwords are set only when a user is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from continuity.models import (
    ContinuityParameters,
    ContinuityProgram,
    ProgramEvent,
    ProgramEventLine,
    ReasonCode,
)
from continuity.scheduling import EventAction, IntervalUnit
from core import roles
from customers.models import Address, AddressKind, Customer
from orders.models import Item
from payments.models import CardBrand, PaymentMethod, PaymentMethodKind

DEMO_PASSWORD = "continuity-demo"

ROLE_AGENT = roles.AGENT
ROLE_SUPERVISOR = roles.SUPERVISOR
ROLE_ADMINISTRATOR = roles.ADMINISTRATOR

CUSTOMERS = [
    # account, first, last, email, phone, language, street, city, state, postal code
    (
        "004021",
        "Karen",
        "Berg",
        "karen.berg@example.com",
        "+1 206 555 0142",
        "en",
        "1420 Pine Street",
        "Seattle",
        "WA",
        "98101",
    ),
    (
        "004022",
        "Karen",
        "Holm",
        "karen.holm@example.com",
        "+1 425 555 0188",
        "en",
        "88 Lake Avenue",
        "Bellevue",
        "WA",
        "98004",
    ),
    (
        "004023",
        "Karen",
        "Laurent",
        "karen.laurent@example.fr",
        "+33 1 55 55 01 23",
        "fr",
        "12 rue des Lilas",
        "Lyon",
        "",
        "69003",
    ),
    (
        "004024",
        "Karenna",
        "Ortiz",
        "k.ortiz@example.com",
        "+1 503 555 0117",
        "en",
        "301 Oak Road",
        "Portland",
        "OR",
        "97204",
    ),
    (
        "004025",
        "Marc",
        "Karensky",
        "marc.karensky@example.com",
        "+1 312 555 0160",
        "en",
        "5 Wacker Drive",
        "Chicago",
        "IL",
        "60601",
    ),
    (
        "004026",
        "Julie",
        "Tremblay",
        "julie.tremblay@example.ca",
        "+1 514 555 0133",
        "fr",
        "240 rue Sainte-Catherine",
        "Montréal",
        "QC",
        "H2X 1L4",
    ),
    (
        "004027",
        "David",
        "Chen",
        "david.chen@example.com",
        "+1 415 555 0199",
        "en",
        "77 Market Street",
        "San Francisco",
        "CA",
        "94105",
    ),
    (
        "004028",
        "Amira",
        "Haddad",
        "amira.haddad@example.com",
        "+1 617 555 0175",
        "en",
        "19 Beacon Street",
        "Boston",
        "MA",
        "02108",
    ),
]

ITEMS = [
    ("0013", "Daily vitamins, 30 tablets", Decimal("19.99")),
    ("0014", "Protein shake mix, 1 kg", Decimal("24.50")),
    ("0015", "Herbal tea sampler", Decimal("12.00")),
]


@dataclass
class ProgramDefinition:
    code: str
    name: str
    item_number: str
    item_name: str
    bill_up_front: bool = False
    days_to_first_shipment: int = 0
    prompt_for_start_date: bool = False
    consolidate: bool = False
    # (event number, interval, unit, repeat, action, [(item number, quantity, price)])
    events: list = field(default_factory=list)


PROGRAMS = [
    ProgramDefinition(
        code="WELLNESS6",
        name="Wellness club, 6 monthly boxes",
        item_number="88000",
        item_name="Wellness club (continuity)",
        events=[
            (
                1,
                1,
                IntervalUnit.MONTHS,
                6,
                EventAction.NORMAL,
                [("0013", 1, Decimal("17.99")), ("0015", 1, Decimal("9.99"))],
            ),
            (2, 0, IntervalUnit.DAYS, None, EventAction.END, []),
        ],
    ),
    ProgramDefinition(
        code="TEA3PREPAID",
        name="Tea club, 3 months paid up front",
        item_number="88001",
        item_name="Tea club, prepaid (continuity)",
        bill_up_front=True,
        days_to_first_shipment=7,
        events=[
            (1, 1, IntervalUnit.MONTHS, 3, EventAction.NORMAL, [("0015", 2, Decimal("10.50"))]),
        ],
    ),
    ProgramDefinition(
        code="PROTEINMONTHLY",
        name="Protein monthly, until cancelled",
        item_number="88002",
        item_name="Protein monthly (continuity)",
        prompt_for_start_date=True,
        consolidate=True,
        events=[
            (1, 1, IntervalUnit.MONTHS, None, EventAction.NORMAL, [("0014", 1, Decimal("22.00"))]),
        ],
    ),
]

# code, English, French, actions (empty: every action)
REASON_CODES = [
    ("CUSTOMER", "Customer's request", "Demande du client", []),
    ("TRAVEL", "Customer away", "Client absent", ["skip", "reschedule", "pause", "resume"]),
    (
        "STOCK",
        "Too much product on hand",
        "Trop de produit en stock",
        ["skip", "reschedule", "pause", "cancel"],
    ),
    ("MOVED", "Customer moved", "Déménagement", ["change_ship_to", "reschedule"]),
    ("NEWCARD", "New card given", "Nouvelle carte fournie", ["change_card", "reactivate"]),
    ("PRICE", "Price", "Prix", ["cancel", "pause"]),
    ("QUALITY", "Product quality", "Qualité du produit", ["cancel", "skip"]),
    ("WINBACK", "Customer came back", "Client revenu", ["reactivate", "resume"]),
]

PAYMENT_METHODS = [
    ("Visa", "Visa", PaymentMethodKind.CARD, CardBrand.VISA),
    ("Mastercard", "Mastercard", PaymentMethodKind.CARD, CardBrand.MASTERCARD),
    ("Amex", "American Express", PaymentMethodKind.CARD, CardBrand.AMEX),
    ("OnAccount", "On account", PaymentMethodKind.ON_ACCOUNT, ""),
]

USERS = [
    # username, first name, last name, group, staff (admin site), superuser
    ("agent", "Alex", "Agent", ROLE_AGENT, False, False),
    ("supervisor", "Sam", "Supervisor", ROLE_SUPERVISOR, False, False),
    ("admin", "Ada", "Administrator", ROLE_ADMINISTRATOR, True, True),
]


def _load_users(groups: dict[str, Group]) -> list[str]:
    user_model = get_user_model()
    created = []
    for username, first_name, last_name, role, staff, superuser in USERS:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model(
                username=username,
                first_name=first_name,
                last_name=last_name,
                email=f"{username}@continuity.example",
                is_staff=staff,
                is_superuser=superuser,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            created.append(username)
        if not user.groups.filter(pk=groups[role].pk).exists():
            user.groups.add(groups[role])
    return created


def _load_customers() -> None:
    for account, first, last, email, phone, language, street, city, state, postal in CUSTOMERS:
        customer, _created = Customer.objects.get_or_create(
            account_number=account,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "language": language,
            },
        )
        country = (
            "FR" if postal.isdigit() and language == "fr" else ("CA" if language == "fr" else "US")
        )
        for kind in (AddressKind.BILLING, AddressKind.SHIPPING):
            Address.objects.get_or_create(
                customer=customer,
                kind=kind,
                is_default=True,
                defaults={
                    "name": customer.full_name,
                    "street": street,
                    "city": city,
                    "state": state,
                    "postal_code": postal,
                    "country": country,
                },
            )


def _load_catalogue() -> None:
    for item_number, name, price in ITEMS:
        Item.objects.get_or_create(
            item_number=item_number, defaults={"name": name, "unit_price": price}
        )
    for definition in PROGRAMS:
        program, created = ContinuityProgram.objects.get_or_create(
            code=definition.code,
            defaults={
                "name": definition.name,
                "bill_up_front": definition.bill_up_front,
                "days_to_first_shipment": definition.days_to_first_shipment,
                "prompt_for_start_date": definition.prompt_for_start_date,
                "consolidate": definition.consolidate,
            },
        )
        if created:
            for number, interval, unit, repeat, action, lines in definition.events:
                event = ProgramEvent.objects.create(
                    program=program,
                    event_number=number,
                    interval_count=interval,
                    interval_unit=unit,
                    repeat_count=repeat,
                    action=action,
                )
                for item_number, quantity, price in lines:
                    ProgramEventLine.objects.create(
                        event=event,
                        item=Item.objects.get(item_number=item_number),
                        quantity=quantity,
                        unit_price=price,
                    )
        Item.objects.get_or_create(
            item_number=definition.item_number,
            defaults={
                "name": definition.item_name,
                "unit_price": Decimal("0.00"),
                "continuity_program": program,
            },
        )


def _load_reason_codes() -> None:
    for code, label_en, label_fr, actions in REASON_CODES:
        ReasonCode.objects.get_or_create(
            code=code, defaults={"label_en": label_en, "label_fr": label_fr, "actions": actions}
        )


def _load_payment_methods() -> None:
    for code, name, kind, brand in PAYMENT_METHODS:
        PaymentMethod.objects.get_or_create(
            code=code, defaults={"name": name, "kind": kind, "card_brand": brand}
        )


def _load_parameters() -> None:
    ContinuityParameters.objects.get_or_create(
        id=ContinuityParameters.SINGLETON_ID,
        defaults={
            "child_order_lead_days": 2,
            "payment_lead_days": 5,
            "max_child_orders_per_run": 100_000,
            "reauthorization_limit": 3,
            "retry_interval_days": 2,
            "materialisation_horizon_days": 90,
        },
    )


@transaction.atomic
def demo_data_load() -> list[str]:
    """Load the demo data; returns the usernames it created (empty on a second run)."""
    _load_parameters()
    _load_reason_codes()
    _load_payment_methods()
    _load_catalogue()
    _load_customers()
    groups = roles.roles_ensure()
    return _load_users(groups)
