"""Tax tables and delivery modes for tests of shipments' delivery and tax: docs/tax.md's
Seattle (10.25 %, tax-exclusive, USD) and France (20 %, tax-inclusive, EUR), and a
default Standard delivery of 5.95, free at or above 50.00 of goods."""

from __future__ import annotations

from decimal import Decimal

from customers.models import Customer
from orders.delivery import DeliveryChargeKind, DeliveryMode
from tests.factories import TaxTables, tax_tables_seattle_and_france


def tax_and_delivery_set_up() -> tuple[TaxTables, DeliveryMode]:
    tables = tax_tables_seattle_and_france()
    standard = DeliveryMode.objects.create(
        code="STANDARD",
        name_en="Standard",
        name_fr="Normale",
        is_default=True,
        charge_kind=DeliveryChargeKind.PER_ORDER,
        amount=Decimal("5.95"),
        free_above=Decimal("50.00"),
    )
    return tables, standard


def french_customer_in_euros() -> Customer:
    """Karen Laurent of Lyon (demo data), whose price list becomes the euro's, whose
    prices include tax (PriceTaxBasis set by tax_tables_seattle_and_france)."""
    laurent = Customer.objects.get(account_number="004023")
    laurent.currency = "EUR"
    laurent.save(update_fields=["currency"])
    return laurent
