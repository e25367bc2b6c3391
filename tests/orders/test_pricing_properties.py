"""Properties of a billed document's price (orders.pricing.document_price, docs/tax.md and
docs/delivery.md): its lines, the delivery line among them, add up to its tax and its
total exactly, each line's tax is its exact tax rounded to the cent, and a net priced with
tax at its tax-exclusive gross splits back into the same net and tax.

The tables are this module's own: one group per rate (0, 5.5, 10.25 and 20 %), an exempt
group, and four countries whose delivery is taxed at each of the four rates, so that every
mix of rates, goods and delivery modes is drawn."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from customers.models import Address
from orders.delivery import DeliveryChargeKind
from orders.models import PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate
from orders.pricing import DELIVERY_KEY, GoodsLine, document_price
from tests.factories import DeliveryModeFactory

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
DAY = datetime.date(2026, 12, 7)
RATES = [Decimal("0"), Decimal("5.5"), Decimal("10.25"), Decimal("20")]
# Group code -> its rate in every country of the tables; EXEMPT is never taxed, None is
# the default Standard group (STD, 20 %).
GROUP_RATES = {
    "R0": Decimal("0"),
    "R55": Decimal("5.5"),
    "R1025": Decimal("10.25"),
    "R20": Decimal("20"),
    "EXEMPT": Decimal("0"),
    None: Decimal("20"),
}
# Country -> the rate its delivery is taxed at.
DELIVERY_RATES = dict(zip(["AT", "BE", "DE", "FR"], RATES, strict=True))

# Each example only reads the tables the fixture wrote (in the test's transaction).
DB_PROPERTY = hypothesis_settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

amounts = st.decimals(min_value=0, max_value=Decimal("9999.99"), places=2)
goods_lines = st.lists(
    st.tuples(amounts, st.integers(min_value=1, max_value=5), st.sampled_from(list(GROUP_RATES))),
    min_size=0,
    max_size=8,
)
# (kind, amount, free at or above): a threshold of its own, or a fraction of the goods as
# priced, so that goods between their net and their gross are drawn as often as others.
mode_rules = st.tuples(
    st.sampled_from(list(DeliveryChargeKind.values)),
    st.decimals(min_value=0, max_value=Decimal("49.99"), places=2),
    st.one_of(
        st.none(),
        st.decimals(min_value=0, max_value=Decimal("20000"), places=2),
        st.sampled_from(["0.80", "0.85", "0.9", "0.95", "1", "1.05"]).map(lambda r: ("of", r)),
    ),
)


@pytest.fixture
def tables(db):
    since = datetime.date(2000, 1, 1)
    groups = {
        "STD": TaxGroup.objects.create(
            code="STD", name_en="Standard", name_fr="Normal", kind="standard", is_default=True
        ),
        "DELIVERY": TaxGroup.objects.create(
            code="DELIVERY",
            name_en="Delivery",
            name_fr="Livraison",
            kind="delivery",
            is_default=True,
        ),
        "EXEMPT": TaxGroup.objects.create(
            code="EXEMPT", name_en="Exempt", name_fr="Exonéré", kind="exempt"
        ),
    }
    for code in ("R0", "R55", "R1025", "R20"):
        groups[code] = TaxGroup.objects.create(
            code=code, name_en=code, name_fr=code, kind="reduced"
        )
    rates = []
    for country, delivery_rate in DELIVERY_RATES.items():
        place = TaxJurisdiction.objects.create(name=f"Country {country}", country=country)
        rates.append(TaxRate(jurisdiction=place, group=groups["DELIVERY"], rate=delivery_rate))
        for code, rate in GROUP_RATES.items():
            if code != "EXEMPT":
                rates.append(TaxRate(jurisdiction=place, group=groups[code or "STD"], rate=rate))
    for rate in rates:
        rate.effective_from = since
    TaxRate.objects.bulk_create(rates)
    PriceTaxBasis.objects.create(currency="EUR", prices_include_tax=True)
    return groups


@pytest.fixture
def modes(db):
    """Every kind of rule, with and without a free threshold: made once, looked up by rule
    (a mode per drawn rule would be a write per example)."""
    made = {}

    def mode_of(kind, amount, free_above, goods):
        if isinstance(free_above, tuple):
            free_above = sum((line[0] for line in goods), Decimal(0)) * Decimal(free_above[1])
            free_above = free_above.quantize(CENT)
        key = (kind, amount, free_above)
        if key not in made:
            made[key] = DeliveryModeFactory(charge_kind=kind, amount=amount, free_above=free_above)
        return made[key]

    return mode_of


def address(country: str) -> Address:
    # An unsaved address: pricing reads its country, state and postal code only.
    return Address(country=country, state="", postal_code="1000")


def expected_delivery(kind, amount, free_above, goods: Decimal, units: int) -> Decimal:
    """docs/delivery.md, written out again: free when the goods as priced (before tax where
    prices exclude it, with it where they include it) reach the threshold; otherwise once
    (per order, per shipment of a one-shipment document) or once per unit."""
    if free_above is not None and goods >= free_above:
        return Decimal("0.00")
    return amount * units if kind == DeliveryChargeKind.PER_UNIT else amount


def exact_tax(line, include: bool) -> Decimal:
    """A line's tax before rounding: net x rate (exclusive), gross x rate / (100 + rate)
    (inclusive: the tax inside the gross)."""
    if include:
        return line.gross * line.rate / (100 + line.rate)
    return line.net * line.rate / 100


@DB_PROPERTY
@given(
    lines=goods_lines,
    country=st.sampled_from(list(DELIVERY_RATES)),
    rule=mode_rules,
    currency=st.sampled_from(["USD", "EUR"]),
)
def test_the_lines_add_up_to_the_documents_tax_and_total(
    tables, modes, lines, country, rule, currency
):
    include = currency == "EUR"
    mode = modes(*rule, lines)
    goods = [
        GoodsLine(key=str(n), amount=amount, units=units, tax_group=group)
        for n, (amount, units, group) in enumerate(lines, start=1)
    ]

    price = document_price(
        goods=goods, ship_to=address(country), delivery_mode=mode, currency=currency, on_date=DAY
    )

    assert price.prices_include_tax is include
    # One taxed line per goods line, in their order, at its group's rate.
    assert [(t.key, t.rate) for t in price.lines] == [
        (line.key, GROUP_RATES[line.tax_group]) for line in goods
    ]
    every_line = list(price.lines)
    if goods:
        delivery = price.delivery_tax
        assert (delivery.key, delivery.rate) == (DELIVERY_KEY, DELIVERY_RATES[country])
        assert price.delivery == expected_delivery(
            mode.charge_kind,
            mode.amount,
            mode.free_above,
            sum((line.amount for line in goods), Decimal(0)),
            sum(u for _, u, _ in lines),
        )
        # The delivery charge is priced as the goods are: its gross when prices include tax.
        assert (delivery.gross if include else delivery.net) == price.delivery
        every_line.append(delivery)
    else:
        # Nothing ships: no delivery line, nothing to pay.
        assert (price.delivery_tax, price.delivery, price.total) == (None, 0, 0)

    for line in every_line:
        assert line.net + line.tax == line.gross
        assert line.tax == line.tax.quantize(CENT) and line.net == line.net.quantize(CENT)
        assert abs(line.tax - exact_tax(line, include)) <= HALF_CENT
        # The amount as priced is kept whole: the net (exclusive) or the gross (inclusive).
    assert [t.gross if include else t.net for t in price.lines] == [line.amount for line in goods]
    assert price.subtotal == sum((line.amount for line in goods), Decimal(0))
    assert price.tax == sum((line.tax for line in every_line), Decimal(0))
    assert price.total == sum((line.gross for line in every_line), Decimal(0))
    if include:
        assert price.total == price.subtotal + price.delivery
    else:
        assert price.total == price.subtotal + price.delivery + price.tax


@DB_PROPERTY
@given(
    lines=goods_lines.filter(bool),
    country=st.sampled_from(list(DELIVERY_RATES)),
    rule=mode_rules,
)
def test_a_net_priced_with_tax_at_its_gross_gives_back_its_net_and_tax(
    tables, modes, lines, country, rule
):
    mode = modes(*rule, lines)
    exclusive = document_price(
        goods=[
            GoodsLine(key=str(n), amount=amount, units=units, tax_group=group)
            for n, (amount, units, group) in enumerate(lines, start=1)
        ],
        ship_to=address(country),
        delivery_mode=mode,
        currency="USD",
        on_date=DAY,
    )
    # The same goods and delivery at the grosses the exclusive price gave, priced in a
    # currency whose prices include tax. The delivery charge is kept at its gross (the
    # mode's amount is a net in USD; a tax-inclusive price list would set it with tax).
    inclusive = document_price(
        goods=[
            GoodsLine(key=t.key, amount=t.gross, units=units, tax_group=group)
            for t, (_, units, group) in zip(exclusive.lines, lines, strict=True)
        ],
        ship_to=address(country),
        delivery_mode=None,
        currency="EUR",
        on_date=DAY,
        kept_delivery=(mode.pk, exclusive.delivery_tax.gross),
    )

    def parts(price):
        return [(t.key, t.net, t.tax, t.gross, t.rate) for t in [*price.lines, price.delivery_tax]]

    assert parts(inclusive) == parts(exclusive)
    assert (inclusive.tax, inclusive.total) == (exclusive.tax, exclusive.total)
    assert inclusive.delivery_tax_amount == exclusive.delivery_tax_amount
    # What each shows as its subtotal and delivery: as priced (with tax, without).
    assert inclusive.subtotal == exclusive.subtotal + exclusive.goods_tax
    assert inclusive.delivery == exclusive.delivery + exclusive.delivery_tax_amount
