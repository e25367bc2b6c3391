"""The demo data: a few customers (several Karens, so that search has to choose), the
items and continuity programs they buy, the reasons and methods of payment, the delivery
modes and the tax tables of the two places the demo retailer collects tax (Seattle and
Bellevue, WA, and France), the carriers the warehouse ships with, and one user per role,
each with the demo password (the warehouse's user signs in to the API only).

Every write is keyed on a natural key (account number, item number, code, username), so
running it again changes nothing: rows are created when missing and left alone when
present. Demo passwords are set only when a user is created. Two fields are filled on rows
that predate them (_load_price_lists): an item's tax group when it has none, and a demo
customer's currency while they have no order.
"""

from __future__ import annotations

import datetime
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
from orders.delivery import DeliveryChargeKind, DeliveryMode
from orders.models import Carrier, Item
from orders.tax.models import PriceTaxBasis, TaxGroup, TaxGroupKind, TaxJurisdiction
from orders.tax.services import tax_rate_create
from payments.models import CardBrand, PaymentMethod, PaymentMethodKind

DEMO_PASSWORD = "continuity-demo"

ROLE_AGENT = roles.AGENT
ROLE_SUPERVISOR = roles.SUPERVISOR
ROLE_ADMINISTRATOR = roles.ADMINISTRATOR
ROLE_WAREHOUSE = roles.WAREHOUSE

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

# The customer's price list (Customer.currency) where it is not the default USD: Karen
# Laurent, in Lyon, is billed in euros, prices with TVA included (PRICE_TAX_BASES).
CUSTOMER_CURRENCIES = {"004023": "EUR"}

ITEMS = [
    # item number, name, unit price, tax group (None: the default Standard group)
    ("0013", "Daily vitamins, 30 tablets", Decimal("19.99"), None),
    ("0014", "Protein shake mix, 1 kg", Decimal("24.50"), None),
    # Tea is food: French TVA taxes it at the reduced 5.5 %, so that Karen Laurent's
    # shipment of the Wellness club mixes 20 % (the vitamins) and 5.5 % (the tea).
    ("0015", "Herbal tea sampler", Decimal("12.00"), "REDUCED"),
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

# --- Delivery and tax ------------------------------------------------------------------
# Codes are what agents type at order entry, as they type a method of payment. A mode's
# amount is in the order's currency: 5.95 is USD in Seattle and EUR (TVA included) in Lyon.
DELIVERY_MODES = [
    # code, English, French, charge kind, amount, free at or above (None: never), default
    (
        "STD",
        "Standard",
        "Livraison standard",
        DeliveryChargeKind.PER_ORDER,
        Decimal("5.95"),
        Decimal("50.00"),
        True,
    ),
    (
        "EXP",
        "Express",
        "Livraison express",
        DeliveryChargeKind.PER_ORDER,
        Decimal("14.95"),
        None,
        False,
    ),
]

# code, English, French, kind; each is the default group of its kind (an item without a
# group is Standard, a delivery line is Delivery).
TAX_GROUPS = [
    ("STANDARD", "Standard rate", "Taux normal", TaxGroupKind.STANDARD),
    ("REDUCED", "Reduced rate", "Taux réduit", TaxGroupKind.REDUCED),
    ("EXEMPT", "Exempt", "Exonéré", TaxGroupKind.EXEMPT),
    ("DELIVERY", "Delivery", "Livraison", TaxGroupKind.DELIVERY),
]

# The demo retailer collects tax where it is registered: Washington State and France. An
# address anywhere else (Oregon, Illinois, California, Massachusetts, Quebec) matches no
# jurisdiction and is not taxed (docs/tax.md).
#
# Washington's sales tax is destination-based: the rate is the one of the place the goods
# are delivered to, state and local together, as the Department of Revenue publishes it
# per location. So each place is entered with its combined rate, and there is no
# state-wide "Washington" row: its 6.5 % alone would under-collect the local part in every
# town, silently; an address elsewhere in Washington is left untaxed, visibly, until its
# own row is added. Karen Holm's Bellevue (98004) is not Seattle (981xx): it has its own
# combined rate, 10.1 % (6.5 % state + 3.6 % local).
#
# Washington has no reduced rate: goods of the REDUCED group (here the tea) are taxed at
# the full combined rate. (A Washington retailer selling groceries would give them a rate
# of 0, as the state exempts food; the demo's tea stays taxed so that Karen Berg's seed
# order is docs/tax.md's worked example, 17.99 + 9.99 at 10.25 %.) Washington taxes
# delivery charges on taxable goods, at the same rate as the goods.
#
# France: TVA 20 % (taux normal, since 1 January 2014; 19.6 % before) and 5.5 % (taux
# réduit: food, books); delivery follows the goods it carries, at 20 % here as most
# parcels carry standard-rate goods (a simplification: French rules split the charge
# when the goods mix rates).
#
# The demo's Washington rates start on a day before any demo order (not the day the real
# rates took effect); the French ones on the day TVA became 20 %.
WASHINGTON_RATES_FROM = datetime.date(2020, 1, 1)
FRANCE_RATES_FROM = datetime.date(2014, 1, 1)
TAX_JURISDICTIONS = [
    # name, country, region, postal prefix, {group code: rate %}, effective from
    (
        "Seattle, WA",
        "US",
        "WA",
        "981",
        {"STANDARD": "10.25", "REDUCED": "10.25", "DELIVERY": "10.25"},
        WASHINGTON_RATES_FROM,
    ),
    (
        "Bellevue, WA",
        "US",
        "WA",
        "98004",
        {"STANDARD": "10.1", "REDUCED": "10.1", "DELIVERY": "10.1"},
        WASHINGTON_RATES_FROM,
    ),
    (
        "France",
        "FR",
        "",
        "",
        {"STANDARD": "20", "REDUCED": "5.5", "DELIVERY": "20"},
        FRANCE_RATES_FROM,
    ),
]

# Prices in euros include TVA (a French shelf price is TTC); a currency without a row,
# USD here, excludes tax, as US prices are quoted before sales tax.
PRICE_TAX_BASES = [("EUR", True)]

USERS = [
    # username, first name, last name, group, staff (admin site), superuser
    ("agent", "Alex", "Agent", ROLE_AGENT, False, False),
    # Staff: the admin shows a supervisor only what the role's permissions allow (batch
    # runs, payments, webhook deliveries to send again, orders to release).
    ("supervisor", "Sam", "Supervisor", ROLE_SUPERVISOR, True, False),
    ("admin", "Ada", "Administrator", ROLE_ADMINISTRATOR, True, True),
    # The warehouse's system: a token from /api/v1/auth/token/, the pick list and shipment
    # confirmations; no page.
    ("warehouse", "Wes", "Warehouse", ROLE_WAREHOUSE, False, False),
]

CARRIERS = [
    # code, name, tracking page ({tracking_number} is replaced by the parcel's number)
    ("UPS", "UPS", "https://www.ups.com/track?tracknum={tracking_number}"),
    ("FEDEX", "FedEx", "https://www.fedex.com/fedextrack/?trknbr={tracking_number}"),
    ("USPS", "USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}"),
    (
        "COLISSIMO",
        "Colissimo",
        "https://www.laposte.fr/outils/suivre-vos-envois?code={tracking_number}",
    ),
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
    for item_number, name, price, _tax_group in ITEMS:
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


def _load_delivery_modes() -> None:
    for code, name_en, name_fr, kind, amount, free_above, default in DELIVERY_MODES:
        # The default only if no other mode is one yet: an administrator who made another
        # mode the default keeps it (one default at most, delivery_mode_one_default).
        is_default = default and not DeliveryMode.objects.filter(is_default=True).exists()
        DeliveryMode.objects.get_or_create(
            code=code,
            defaults={
                "name_en": name_en,
                "name_fr": name_fr,
                "charge_kind": kind,
                "amount": amount,
                "free_above": free_above,
                "is_default": is_default,
            },
        )


def _load_carriers() -> None:
    for code, name, tracking_url in CARRIERS:
        Carrier.objects.get_or_create(
            code__iexact=code, defaults={"code": code, "name": name, "tracking_url": tracking_url}
        )


def _load_tax_tables() -> None:
    for code, name_en, name_fr, kind in TAX_GROUPS:
        is_default = not TaxGroup.objects.filter(kind=kind, is_default=True).exists()
        TaxGroup.objects.get_or_create(
            code=code,
            defaults={
                "name_en": name_en,
                "name_fr": name_fr,
                "kind": kind,
                "is_default": is_default,
            },
        )
    groups = {group.code: group for group in TaxGroup.objects.all()}
    for name, country, region, prefix, rates, since in TAX_JURISDICTIONS:
        jurisdiction, created = TaxJurisdiction.objects.get_or_create(
            country=country,
            region__iexact=region,
            postal_prefix__iexact=prefix,
            defaults={"name": name, "region": region, "postal_prefix": prefix},
        )
        # Rates only with a jurisdiction the demo created: one an administrator entered
        # keeps the rates they gave it (a rate the demo added could overlap theirs).
        if created:
            for code, rate in rates.items():
                tax_rate_create(
                    jurisdiction=jurisdiction,
                    group=groups[code],
                    rate=Decimal(rate),
                    effective_from=since,
                )
    for currency, include in PRICE_TAX_BASES:
        PriceTaxBasis.objects.get_or_create(
            currency=currency, defaults={"prices_include_tax": include}
        )


def _load_price_lists() -> None:
    """The items' tax groups and the customers' currencies, on rows loaded with or without
    them: an item without a group gets the demo's (one an administrator chose is kept); a
    customer who has not ordered yet gets the demo's currency, even over one set in the
    admin (one who has ordered keeps theirs: their orders, shipments and charges are in
    it)."""
    groups = {group.code: group for group in TaxGroup.objects.all()}
    for item_number, _name, _price, tax_group in ITEMS:
        if tax_group is not None:
            Item.objects.filter(item_number=item_number, tax_group=None).update(
                tax_group=groups[tax_group]
            )
    for account, currency in CUSTOMER_CURRENCIES.items():
        Customer.objects.filter(account_number=account, sales_orders=None).exclude(
            currency=currency
        ).update(currency=currency)


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
def demo_data_load(*, pricing: bool = True) -> list[str]:
    """Load the demo data; returns the usernames it created (empty on a second run).

    pricing=False leaves out the delivery modes, the tax tables, the tea's tax group and
    Karen Laurent's euros: orders then cost their goods only, no delivery and no tax (for
    tests whose amounts are about something else). A later load with pricing adds them.
    It leaves out the carriers too: tests of shipments make the ones they need."""
    _load_parameters()
    _load_reason_codes()
    _load_payment_methods()
    _load_catalogue()
    _load_customers()
    if pricing:
        _load_delivery_modes()
        _load_tax_tables()
        _load_price_lists()
        _load_carriers()
    groups = roles.roles_ensure()
    return _load_users(groups)
