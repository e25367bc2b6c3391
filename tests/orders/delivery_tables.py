"""Tax tables and delivery modes the page and API tests of order totals set up for
themselves: Seattle, WA 98101 at 10.25 % (prices without tax, USD) with Standard 5.95,
free at or above 50.00, and Express 14.95; France at 20 % (prices with tax, EUR) with
Colissimo 4.90. Whatever the demo data holds, these are the only rates and defaults."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from customers.models import AddressKind
from orders.delivery import DeliveryChargeKind, DeliveryMode
from orders.models import Item, PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate
from tests.factories import AddressFactory, CustomerFactory, ItemFactory

SINCE = datetime.date(2000, 1, 1)


@dataclass(frozen=True)
class Tables:
    standard: DeliveryMode
    express: DeliveryMode
    colissimo: DeliveryMode
    retired: DeliveryMode
    item: Item
    french_item: Item


def delivery_and_tax_tables() -> Tables:
    TaxRate.objects.all().delete()
    TaxJurisdiction.objects.all().delete()
    TaxGroup.objects.update(is_default=False)
    DeliveryMode.objects.update(is_default=False)
    standard_group = TaxGroup.objects.create(
        code="T-STD", name_en="Standard", name_fr="Taux normal", is_default=True
    )
    delivery_group = TaxGroup.objects.create(
        code="T-DLV", name_en="Delivery", name_fr="Livraison", kind="delivery", is_default=True
    )
    seattle = TaxJurisdiction.objects.create(
        name="Seattle, WA", country="US", region="WA", postal_prefix="981"
    )
    france = TaxJurisdiction.objects.create(name="France", country="FR")
    TaxRate.objects.bulk_create(
        [
            TaxRate(jurisdiction=place, group=group, rate=rate, effective_from=SINCE)
            for place, rate in ((seattle, "10.25"), (france, "20"))
            for group in (standard_group, delivery_group)
        ]
    )
    PriceTaxBasis.objects.update_or_create(currency="EUR", defaults={"prices_include_tax": True})
    modes = {
        code: DeliveryMode.objects.create(
            code=code,
            name_en=name_en,
            name_fr=name_fr,
            charge_kind=DeliveryChargeKind.PER_ORDER,
            amount=Decimal(amount),
            free_above=Decimal(free_above) if free_above else None,
            is_default=code == "WSTD",
            active=code != "OLD",
        )
        for code, name_en, name_fr, amount, free_above in (
            ("WSTD", "Standard", "Standard FR", "5.95", "50.00"),
            ("WEXP", "Express", "Express FR", "14.95", None),
            ("COLIS", "Colissimo", "Colissimo FR", "4.90", None),
            ("OLD", "Old post", "Ancienne poste", "1.00", None),
        )
    }
    return Tables(
        standard=modes["WSTD"],
        express=modes["WEXP"],
        colissimo=modes["COLIS"],
        retired=modes["OLD"],
        item=ItemFactory(item_number="T1399", name="Tea tin", unit_price=Decimal("13.99")),
        french_item=ItemFactory(item_number="T1799", name="Thé", unit_price=Decimal("17.99")),
    )


def seattle_customer():
    customer = CustomerFactory(first_name="Sam", last_name="Seattle", currency="USD")
    AddressFactory(
        customer=customer,
        kind=AddressKind.SHIPPING,
        street="1301 2nd Ave",
        city="Seattle",
        state="WA",
        postal_code="98101",
        country="US",
    )
    return customer


def paris_customer():
    customer = CustomerFactory(
        first_name="Claire", last_name="Paris", currency="EUR", language="fr"
    )
    AddressFactory(
        customer=customer,
        kind=AddressKind.SHIPPING,
        street="12 rue Oberkampf",
        city="Paris",
        state="",
        postal_code="75011",
        country="FR",
    )
    return customer
