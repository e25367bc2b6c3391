"""factory_boy factories for tests that need their own data beside (or instead of) the
demo data."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from continuity.models import ContinuityProgram, ProgramEvent, ProgramEventLine
from continuity.scheduling import EventAction, IntervalUnit
from core.dates import business_date
from customers.models import Address, AddressKind, Customer
from orders.delivery import DeliveryChargeKind, DeliveryMode
from orders.models import Item, PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate
from payments.models import Card, CardBrand, PaymentMethod, PaymentMethodKind


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("secret-password")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    account_number = factory.Sequence(lambda n: f"{900000 + n:06d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda c: f"{c.first_name}.{c.last_name}@example.com".lower())
    phone = factory.Sequence(lambda n: f"+1 555 {n:07d}")


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    kind = AddressKind.SHIPPING
    street = "1 Test Street"
    city = "Testville"
    postal_code = "12345"
    is_default = True


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    item_number = factory.Sequence(lambda n: f"T{n:05d}")
    name = factory.Sequence(lambda n: f"Test item {n}")
    unit_price = Decimal("10.00")


class DeliveryModeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryMode

    code = factory.Sequence(lambda n: f"DM{n}")
    name_en = factory.Sequence(lambda n: f"Delivery {n}")
    name_fr = factory.Sequence(lambda n: f"Livraison {n}")
    charge_kind = DeliveryChargeKind.PER_ORDER
    amount = Decimal("5.95")


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContinuityProgram

    code = factory.Sequence(lambda n: f"PROG{n}")
    name = factory.Sequence(lambda n: f"Test program {n}")


class ProgramEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProgramEvent

    program = factory.SubFactory(ProgramFactory)
    event_number = factory.Sequence(lambda n: n + 1)
    interval_count = 1
    interval_unit = IntervalUnit.MONTHS
    repeat_count = 3
    action = EventAction.NORMAL


class ProgramEventLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProgramEventLine

    event = factory.SubFactory(ProgramEventFactory)
    item = factory.SubFactory(ItemFactory)
    quantity = 1
    unit_price = Decimal("15.00")


def continuity_item(
    *, repeat_count=3, price=Decimal("15.00"), interval=1, unit=IntervalUnit.MONTHS, **program
) -> Item:
    """A continuity item selling a one-event program of `repeat_count` shipments."""
    program = ProgramFactory(**program)
    event = ProgramEventFactory(
        program=program,
        event_number=1,
        interval_count=interval,
        interval_unit=unit,
        repeat_count=repeat_count,
    )
    ProgramEventLineFactory(event=event, unit_price=price)
    return ItemFactory(continuity_program=program, unit_price=Decimal("0.00"))


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod
        django_get_or_create = ("code",)

    code = "Visa"
    name = "Visa"
    kind = PaymentMethodKind.CARD
    card_brand = CardBrand.VISA


class CardFactory(factory.django.DjangoModelFactory):
    """A card row as if tokenized; for tests that never reach the gateway."""

    class Meta:
        model = Card

    customer = factory.SubFactory(CustomerFactory)
    token = factory.Sequence(lambda n: f"tok_test_{n}")
    brand = CardBrand.VISA
    last4 = "1111"
    expiry_month = 12
    expiry_year = factory.LazyFunction(lambda: business_date().year + 3)
    name_on_card = "Test Person"


# --- Orders, subscriptions, occurrences, payments ------------------------------------------
# Rows as the services would leave them, built directly (no services, no gateway). Models
# are named by label and statuses by value so that this block adds no imports above.


class SalesOrderFactory(factory.django.DjangoModelFactory):
    """An open standard order; `SalesOrderFactory(submitted=True)` for a submitted one."""

    class Meta:
        model = "orders.SalesOrder"

    class Params:
        submitted = factory.Trait(
            status="submitted",
            submitted_at=factory.LazyFunction(lambda: datetime.datetime.now(datetime.UTC)),
        )

    # A prefix the SO- sequence never produces, so these never collide with real numbers.
    number = factory.Sequence(lambda n: f"TST-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    kind = "standard"
    status = "open"
    currency = "USD"


class SalesOrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "orders.SalesOrderLine"

    order = factory.SubFactory(SalesOrderFactory)
    line_number = factory.Sequence(lambda n: n + 1)
    item = factory.SubFactory(ItemFactory)
    quantity = 1
    unit_price = factory.SelfAttribute("item.unit_price")
    amount = factory.LazyAttribute(lambda line: line.quantity * line.unit_price)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """An active subscription sold on line 1 of a submitted continuity parent order."""

    class Meta:
        model = "continuity.Subscription"

    customer = factory.SubFactory(CustomerFactory)
    item = factory.LazyFunction(continuity_item)
    program = factory.SelfAttribute("item.continuity_program")
    start_date = factory.LazyFunction(datetime.date.today)
    first_shipment_date = factory.SelfAttribute("start_date")
    parent_order = factory.SubFactory(
        SalesOrderFactory,
        customer=factory.SelfAttribute("..customer"),
        kind="continuity_parent",
        submitted=True,
    )
    parent_line = factory.SubFactory(
        SalesOrderLineFactory,
        order=factory.SelfAttribute("..parent_order"),
        line_number=1,
        item=factory.SelfAttribute("..item"),
        continuity_start_date=factory.SelfAttribute("..start_date"),
    )
    payment_method = factory.SubFactory(PaymentMethodFactory)
    card = factory.SubFactory(CardFactory, customer=factory.SelfAttribute("..customer"))
    currency = "USD"


class OccurrenceFactory(factory.django.DjangoModelFactory):
    """A scheduled shipment of a subscription, without lines (see OccurrenceLineFactory)."""

    class Meta:
        model = "continuity.Occurrence"

    subscription = factory.SubFactory(SubscriptionFactory)
    sequence = factory.Sequence(lambda n: n + 1)
    event_number = 1
    ship_date = factory.SelfAttribute("subscription.first_shipment_date")
    amount = Decimal("15.00")
    currency = "USD"
    status = "scheduled"


class OccurrenceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "continuity.OccurrenceLine"

    occurrence = factory.SubFactory(OccurrenceFactory)
    line_number = factory.Sequence(lambda n: n + 1)
    item = factory.SubFactory(ItemFactory)
    quantity = 1
    unit_price = Decimal("15.00")
    amount = factory.LazyAttribute(lambda line: line.quantity * line.unit_price)


class PaymentFactory(factory.django.DjangoModelFactory):
    """An approved sale. With `occurrence=...` it is that shipment's charge, taken on the
    subscription's parent order; without, the sale of a submitted order."""

    class Meta:
        model = "payments.Payment"

    occurrence = None
    sales_order = factory.Maybe(
        "occurrence",
        yes_declaration=factory.SelfAttribute("occurrence.subscription.parent_order"),
        no_declaration=factory.SubFactory(SalesOrderFactory, submitted=True),
    )
    customer = factory.SelfAttribute("sales_order.customer")
    method = factory.SubFactory(PaymentMethodFactory)
    card = factory.SubFactory(CardFactory, customer=factory.SelfAttribute("..customer"))
    operation = "sale"
    status = "approved"
    amount = Decimal("15.00")
    currency = "USD"
    idempotency_key = factory.Sequence(lambda n: f"test-payment-{n}")
    gateway_reference = factory.Sequence(lambda n: f"test-ref-{n}")


@dataclass(frozen=True)
class TaxTables:
    standard: TaxGroup
    reduced: TaxGroup
    exempt: TaxGroup
    delivery: TaxGroup
    washington: TaxJurisdiction
    seattle: TaxJurisdiction
    france: TaxJurisdiction


def tax_tables_seattle_and_france() -> TaxTables:
    """The tax tables of docs/tax.md's worked examples: Washington State at 6.5 %, Seattle
    at 10.25 % (state and local), France at 20 % (19.6 % until 2013) and 5.5 %; delivery
    taxed like the goods."""
    standard = TaxGroup.objects.create(
        code="STD", name_en="Standard", name_fr="Taux normal", kind="standard", is_default=True
    )
    reduced = TaxGroup.objects.create(
        code="RED", name_en="Reduced", name_fr="Taux réduit", kind="reduced"
    )
    exempt = TaxGroup.objects.create(
        code="EXEMPT", name_en="Exempt", name_fr="Exonéré", kind="exempt"
    )
    delivery = TaxGroup.objects.create(
        code="DELIVERY", name_en="Delivery", name_fr="Livraison", kind="delivery", is_default=True
    )
    washington = TaxJurisdiction.objects.create(name="Washington", country="US", region="WA")
    seattle = TaxJurisdiction.objects.create(
        name="Seattle, WA", country="US", region="WA", postal_prefix="981"
    )
    france = TaxJurisdiction.objects.create(name="France", country="FR")
    since = datetime.date(2000, 1, 1)
    TaxRate.objects.bulk_create(
        [
            TaxRate(jurisdiction=washington, group=standard, rate="6.5", effective_from=since),
            TaxRate(jurisdiction=washington, group=delivery, rate="6.5", effective_from=since),
            TaxRate(jurisdiction=seattle, group=standard, rate="10.25", effective_from=since),
            TaxRate(jurisdiction=seattle, group=delivery, rate="10.25", effective_from=since),
            TaxRate(
                jurisdiction=france,
                group=standard,
                rate="19.6",
                effective_from=since,
                effective_to=datetime.date(2013, 12, 31),
            ),
            TaxRate(
                jurisdiction=france,
                group=standard,
                rate="20",
                effective_from=datetime.date(2014, 1, 1),
            ),
            TaxRate(jurisdiction=france, group=reduced, rate="5.5", effective_from=since),
            TaxRate(
                jurisdiction=france,
                group=delivery,
                rate="19.6",
                effective_from=since,
                effective_to=datetime.date(2013, 12, 31),
            ),
            TaxRate(
                jurisdiction=france,
                group=delivery,
                rate="20",
                effective_from=datetime.date(2014, 1, 1),
            ),
        ]
    )
    PriceTaxBasis.objects.create(currency="EUR", prices_include_tax=True)
    return TaxTables(standard, reduced, exempt, delivery, washington, seattle, france)
