"""Sales tax and VAT (docs/tax.md): the one rounding rule, the table provider's choice of
jurisdiction and rate, the worked examples of the documentation, the rules of the tax
tables (database and admin), and the provider setting."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.money import round_half_up
from devdata.demo import DEMO_PASSWORD
from orders.models import PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate
from orders.tax import provider as tax_provider
from orders.tax.models import TaxGroupKind
from orders.tax.provider import (
    LineTax,
    TableTaxProvider,
    TaxableLine,
    TaxAddress,
    TaxProvider,
    TaxUnavailable,
    get_tax_provider,
    tax_total,
)
from orders.tax.rounding import tax_in_gross, tax_on_net
from orders.tax.selectors import prices_include_tax
from orders.tax.services import RateRange, tax_rate_create, tax_rates_check
from tests.factories import ItemFactory, tax_tables_seattle_and_france

CENT = Decimal("0.01")
SEATTLE = TaxAddress(country="US", region="WA", postal_code="98101")
SPOKANE = TaxAddress(country="US", region="WA", postal_code="99201")
PORTLAND = TaxAddress(country="US", region="OR", postal_code="97201")
PARIS = TaxAddress(country="FR", region="", postal_code="75011")
TODAY = datetime.date(2026, 12, 7)

PROPERTY = hypothesis_settings(max_examples=300, deadline=None)
# The table provider reads the tables one test fixture wrote: each example only reads.
DB_PROPERTY = hypothesis_settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

amounts = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2)
rates = st.decimals(min_value=0, max_value=100, places=4)
table_rates = st.sampled_from([Decimal("6.5"), Decimal("10.25"), Decimal("20"), Decimal("5.5")])


def line_taxes(address, lines, *, on_date=TODAY, currency="USD", include=False) -> list[LineTax]:
    return TableTaxProvider().line_taxes(
        address=address,
        lines=lines,
        on_date=on_date,
        currency=currency,
        prices_include_tax=include,
    )


def summary(taxes: list[LineTax]) -> list[tuple]:
    return [
        (t.key, str(t.net), str(t.tax), str(t.gross), str(t.rate), t.tax_group, t.jurisdiction)
        for t in taxes
    ]


@pytest.fixture
def tables(db):
    return tax_tables_seattle_and_france()


# --- The rounding rule --------------------------------------------------------------------


@PROPERTY
@given(net=amounts, rate=rates)
def test_a_tax_exclusive_line_is_taxed_on_its_net_rounded_half_up(net, rate):
    split = tax_on_net(net, rate, "USD")

    assert split.net == net
    assert split.tax == (net * rate / 100).quantize(CENT, rounding="ROUND_HALF_UP")
    assert split.net + split.tax == split.gross


@PROPERTY
@given(gross=amounts, rate=rates)
def test_a_tax_inclusive_line_keeps_its_price_and_splits_it_exactly(gross, rate):
    split = tax_in_gross(gross, rate, "EUR")

    assert split.gross == gross
    assert split.net == (gross * 100 / (100 + rate)).quantize(CENT, rounding="ROUND_HALF_UP")
    assert split.net + split.tax == gross
    assert split.tax >= 0


@PROPERTY
@given(net=amounts, rate=rates)
def test_the_same_net_gives_the_same_total_whether_prices_include_tax_or_not(net, rate):
    """The bound of docs/tax.md: a net priced tax-inclusive at its tax-exclusive total
    splits back into the same net and tax, to the cent."""
    exclusive = tax_on_net(net, rate, "USD")

    inclusive = tax_in_gross(exclusive.gross, rate, "USD")

    assert inclusive == exclusive


@PROPERTY
@given(grosses=st.lists(amounts, min_size=1, max_size=20), rate=rates)
def test_any_tax_inclusive_price_taxed_again_on_its_net_is_within_one_cent_a_line(grosses, rate):
    """Prices not made from a net (any shelf price): the net found in it, taxed the other
    way, gives the price back within one minor unit per line, never more."""
    for gross in grosses:
        net = tax_in_gross(gross, rate, "EUR").net
        assert abs(tax_on_net(net, rate, "EUR").gross - gross) <= CENT
    inclusive_total = sum(tax_in_gross(gross, rate, "EUR").gross for gross in grosses)
    exclusive_total = sum(
        tax_on_net(tax_in_gross(gross, rate, "EUR").net, rate, "EUR").gross for gross in grosses
    )
    assert abs(inclusive_total - exclusive_total) <= CENT * len(grosses)


@pytest.mark.parametrize(
    "net, rate, tax",
    [
        ("0.05", "10", "0.01"),
        ("0.25", "10", "0.03"),
        ("1.05", "10", "0.11"),
        ("0.04", "12.5", "0.01"),
    ],
)
def test_half_a_cent_of_tax_rounds_up(net, rate, tax):
    assert str(tax_on_net(Decimal(net), Decimal(rate), "USD").tax) == tax


@pytest.mark.parametrize(
    "gross, rate, net, tax",
    [
        ("0.01", "100", "0.01", "0.00"),
        ("0.05", "100", "0.03", "0.02"),
        ("2.10", "40", "1.50", "0.60"),
    ],
)
def test_half_a_cent_of_net_in_a_tax_inclusive_price_rounds_up(gross, rate, net, tax):
    split = tax_in_gross(Decimal(gross), Decimal(rate), "EUR")

    assert (str(split.net), str(split.tax)) == (net, tax)


def test_one_cent_a_line_is_reached():
    # 0.03 with tax at 100 %: net 0.015 rounds half up to 0.02, whose tax is 0.02.
    assert tax_in_gross(Decimal("0.03"), Decimal(100), "EUR").net == Decimal("0.02")
    assert tax_on_net(Decimal("0.02"), Decimal(100), "EUR").gross == Decimal("0.04")


def test_a_currency_without_decimals_is_rounded_to_its_unit():
    assert round_half_up(Decimal("12.5"), "JPY") == Decimal("13.00")
    assert round_half_up(Decimal("12.49"), "JPY") == Decimal("12.00")
    assert tax_on_net(Decimal("1000"), Decimal("10.25"), "JPY").tax == Decimal("103.00")


# --- The table provider: the document's tax is its lines' --------------------------------


@pytest.mark.django_db
@DB_PROPERTY
@given(
    priced=st.lists(
        st.tuples(amounts, st.sampled_from([None, "STD", "RED", "EXEMPT", "DELIVERY"])),
        min_size=1,
        max_size=12,
    ),
    address=st.sampled_from([SEATTLE, SPOKANE, PARIS, PORTLAND]),
    include=st.booleans(),
)
def test_line_taxes_add_up_to_the_documents_tax_exactly(tables, priced, address, include):
    # Only France has a reduced rate.
    lines = [
        TaxableLine(str(n), amount, "STD" if group == "RED" and address != PARIS else group)
        for n, (amount, group) in enumerate(priced)
    ]

    taxes = line_taxes(address, lines, include=include)

    assert [t.key for t in taxes] == [line.key for line in lines]
    assert tax_total(taxes) == sum(t.tax for t in taxes)
    assert sum(t.net for t in taxes) + tax_total(taxes) == sum(t.gross for t in taxes)
    assert sum(t.gross if include else t.net for t in taxes) == sum(a for a, _ in priced)
    for tax in taxes:
        assert tax.tax == tax.tax.quantize(CENT)
        assert tax.net + tax.tax == tax.gross


@pytest.mark.django_db
@DB_PROPERTY
@given(nets=st.lists(amounts, min_size=1, max_size=12), address=st.sampled_from([SEATTLE, PARIS]))
def test_the_same_nets_give_the_same_document_total_either_way(tables, nets, address):
    exclusive = line_taxes(address, [TaxableLine(str(n), a) for n, a in enumerate(nets)])
    inclusive = line_taxes(address, [TaxableLine(t.key, t.gross) for t in exclusive], include=True)

    assert summary(inclusive) == summary(exclusive)
    assert tax_total(inclusive) == tax_total(exclusive)


# --- Which rate: dates and jurisdictions --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "day, rate, net, tax",
    [
        (datetime.date(2013, 12, 31), "19.6000", "15.04", "2.95"),
        (datetime.date(2014, 1, 1), "20.0000", "14.99", "3.00"),
    ],
)
def test_the_rate_of_the_day_is_taken(tables, day, rate, net, tax):
    [line] = line_taxes(PARIS, [TaxableLine("1", Decimal("17.99"))], on_date=day, include=True)

    assert (str(line.rate), str(line.net), str(line.tax)) == (rate, net, tax)


@pytest.mark.django_db
@DB_PROPERTY
@given(
    change=st.dates(min_value=datetime.date(2015, 1, 1), max_value=datetime.date(2040, 1, 1)),
    days_before=st.integers(min_value=1, max_value=4000),
    new_rate=rates,
    amount=amounts,
)
def test_a_rate_change_leaves_earlier_days_as_they_were(
    tables, change, days_before, new_rate, amount
):
    earlier = change - datetime.timedelta(days=days_before)
    lines = [TaxableLine("1", amount), TaxableLine("2", amount, delivery=True)]
    before = line_taxes(SEATTLE, lines, on_date=earlier)

    with transaction.atomic():
        current = TaxRate.objects.get(
            jurisdiction=tables.seattle, group=tables.standard, effective_to__isnull=True
        )
        current.effective_to = change - datetime.timedelta(days=1)
        current.save()
        tax_rate_create(
            jurisdiction=tables.seattle,
            group=tables.standard,
            rate=new_rate,
            effective_from=change,
        )
        after = line_taxes(SEATTLE, lines, on_date=earlier)
        on_the_day = line_taxes(SEATTLE, lines, on_date=change)
        transaction.set_rollback(True)

    assert summary(after) == summary(before)
    assert on_the_day[0].rate == new_rate
    assert on_the_day[1].rate == Decimal("10.25")  # delivery's rate did not change


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address, jurisdiction, tax",
    [
        (TaxAddress("US", "WA", "98109"), "Seattle, WA", "10.25"),
        (TaxAddress("US", "wa ", "98109-1234"), "Seattle, WA", "10.25"),
        (TaxAddress("US", "WA", "98101"), "Downtown prefix", "11.00"),
        (TaxAddress("US", "WA", "98101-1234"), "Downtown prefix", "11.00"),
        (TaxAddress("US", "OR", "98101"), "Downtown prefix", "11.00"),
        (TaxAddress("US", "WA", "99201"), "Washington", "6.50"),
        (TaxAddress("us", "Wa", "99201"), "Washington", "6.50"),
        (TaxAddress("US", "OR", "97201"), "United States", "1.00"),
        (TaxAddress("US", "", "98109"), "United States", "1.00"),
        (TaxAddress("CA", "BC", "V5K 0A1"), "", "0.00"),
    ],
)
def test_the_most_specific_jurisdiction_taxes_the_address(tables, address, jurisdiction, tax):
    """Longest postal code prefix first (with or without a region), then the region, then
    the country alone; a region only matches an address in it."""
    country = TaxJurisdiction.objects.create(name="United States", country="US")
    downtown = TaxJurisdiction.objects.create(
        name="Downtown prefix", country="US", postal_prefix="98101"
    )
    for place, rate in [(country, "1"), (downtown, "11")]:
        TaxRate.objects.create(
            jurisdiction=place, group=tables.standard, rate=rate, effective_from=TODAY
        )

    [line] = line_taxes(address, [TaxableLine("1", Decimal("100.00"))])

    assert (line.jurisdiction, str(line.tax)) == (jurisdiction, tax)


@pytest.mark.django_db
def test_no_jurisdiction_no_tax_whichever_way_prices_are_set(tables):
    lines = [TaxableLine("1", Decimal("17.99")), TaxableLine("2", Decimal("5.95"), delivery=True)]

    for include in (False, True):
        taxes = line_taxes(PORTLAND, lines, include=include)
        assert summary(taxes) == [
            ("1", "17.99", "0.00", "17.99", "0.0000", "", ""),
            ("2", "5.95", "0.00", "5.95", "0.0000", "", ""),
        ]
        assert [t.jurisdiction_id for t in taxes] == [None, None]


@pytest.mark.django_db
def test_an_exempt_line_is_untaxed_where_others_are_taxed(tables):
    taxes = line_taxes(
        SEATTLE,
        [TaxableLine("1", Decimal("10.00")), TaxableLine("2", Decimal("10.00"), "EXEMPT")],
    )

    assert summary(taxes) == [
        ("1", "10.00", "1.03", "11.03", "10.2500", "STD", "Seattle, WA"),
        ("2", "10.00", "0.00", "10.00", "0.0000", "EXEMPT", "Seattle, WA"),
    ]


@pytest.mark.django_db
def test_an_item_without_a_group_is_in_the_default_standard_group(tables):
    item = ItemFactory(unit_price=Decimal("10.00"))
    assert item.tax_group is None
    item.tax_group = tables.reduced
    item.save()

    taxes = line_taxes(
        PARIS,
        [
            TaxableLine("1", Decimal("10.00")),
            TaxableLine("2", item.unit_price, item.tax_group.code),
        ],
        include=True,
    )

    assert [(t.tax_group, str(t.rate)) for t in taxes] == [("STD", "20.0000"), ("RED", "5.5000")]


@pytest.mark.django_db
def test_a_group_without_a_rate_that_day_is_refused_by_name(tables):
    with pytest.raises(TaxUnavailable) as refused:
        line_taxes(SEATTLE, [TaxableLine("1", Decimal("10.00"), "RED")])

    assert refused.value.message == "No rate of the tax group RED in Seattle, WA on 12/07/2026."


@pytest.mark.django_db
def test_an_unknown_group_and_a_missing_default_are_refused(tables):
    with pytest.raises(TaxUnavailable) as unknown:
        line_taxes(SEATTLE, [TaxableLine("1", Decimal("10.00"), "NOPE")])
    TaxGroup.objects.filter(pk=tables.delivery.pk).update(is_default=False)
    with pytest.raises(TaxUnavailable) as no_default:
        line_taxes(SEATTLE, [TaxableLine("1", Decimal("5.95"), delivery=True)])

    assert unknown.value.message == "No tax group NOPE."
    assert no_default.value.message == "No tax group of the kind Delivery is the default."


@pytest.mark.django_db
def test_a_group_coded_like_a_kind_is_not_mistaken_for_the_default(tables):
    TaxGroup.objects.create(code="standard", name_en="Odd", name_fr="Bizarre", kind="exempt")

    taxes = line_taxes(
        SEATTLE, [TaxableLine("1", Decimal("10.00"), "standard"), TaxableLine("2", Decimal(10))]
    )

    assert [(t.tax_group, str(t.tax)) for t in taxes] == [("standard", "0.00"), ("STD", "1.03")]


# --- The worked examples of docs/tax.md, to the cent --------------------------------------


@pytest.mark.django_db
def test_worked_example_seattle(tables):
    taxes = line_taxes(
        SEATTLE,
        [
            TaxableLine("2 x 13.99", Decimal("27.98")),
            TaxableLine("Delivery Standard", Decimal("5.95"), delivery=True),
        ],
    )

    assert summary(taxes) == [
        ("2 x 13.99", "27.98", "2.87", "30.85", "10.2500", "STD", "Seattle, WA"),
        ("Delivery Standard", "5.95", "0.61", "6.56", "10.2500", "DELIVERY", "Seattle, WA"),
    ]
    assert (sum(t.net for t in taxes), tax_total(taxes), sum(t.gross for t in taxes)) == (
        Decimal("33.93"),
        Decimal("3.48"),
        Decimal("37.41"),
    )


@pytest.mark.django_db
def test_worked_example_seattle_two_lines_rounded_each(tables):
    taxes = line_taxes(
        SEATTLE, [TaxableLine("0013", Decimal("17.99")), TaxableLine("0015", Decimal("9.99"))]
    )

    assert [str(t.tax) for t in taxes] == ["1.84", "1.02"]
    # Not 2.87, the tax of their sum: the document's tax is its lines'.
    assert tax_total(taxes) == Decimal("2.86")


@pytest.mark.django_db
def test_worked_example_france(tables):
    taxes = line_taxes(
        PARIS,
        [
            TaxableLine("Tea", Decimal("17.99")),
            TaxableLine("Book", Decimal("9.99"), "RED"),
            TaxableLine("Delivery", Decimal("4.90"), delivery=True),
        ],
        currency="EUR",
        include=prices_include_tax("EUR"),
    )

    assert summary(taxes) == [
        ("Tea", "14.99", "3.00", "17.99", "20.0000", "STD", "France"),
        ("Book", "9.47", "0.52", "9.99", "5.5000", "RED", "France"),
        ("Delivery", "4.08", "0.82", "4.90", "20.0000", "DELIVERY", "France"),
    ]
    assert (sum(t.net for t in taxes), tax_total(taxes), sum(t.gross for t in taxes)) == (
        Decimal("28.54"),
        Decimal("4.34"),
        Decimal("32.88"),
    )


@pytest.mark.django_db
def test_prices_exclude_tax_unless_their_currency_says_so(tables):
    assert (prices_include_tax("EUR"), prices_include_tax("eur"), prices_include_tax("USD")) == (
        True,
        True,
        False,
    )


# --- The tables' rules --------------------------------------------------------------------


@pytest.mark.django_db
def test_overlapping_rates_of_a_group_are_refused_and_nothing_is_written(tables):
    count = TaxRate.objects.count()

    with pytest.raises(ValidationError) as refused:
        tax_rate_create(
            jurisdiction=tables.france,
            group=tables.standard,
            rate=Decimal("21"),
            effective_from=datetime.date(2013, 6, 1),
            effective_to=datetime.date(2014, 6, 30),
        )

    assert refused.value.messages == [
        "Two rates of the tax group STD overlap: from 01/01/2000 to 12/31/2013 and from "
        "06/01/2013 to 06/30/2014. End the earlier one the day before the later one starts."
    ]
    assert TaxRate.objects.count() == count


@pytest.mark.django_db
def test_a_rate_may_start_the_day_after_another_ends_and_other_groups_do_not_clash(tables):
    TaxRate.objects.filter(jurisdiction=tables.france, group=tables.reduced).update(
        effective_to=datetime.date(2026, 12, 31)
    )

    created = tax_rate_create(
        jurisdiction=tables.france,
        group=tables.reduced,
        rate=Decimal("7"),
        effective_from=datetime.date(2027, 1, 1),
    )

    assert TaxRate.objects.filter(pk=created.pk, rate=Decimal("7.0000")).exists()


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_rates_saved_at_once_are_checked_in_turn():
    """The second writer waits for the first's jurisdiction lock, then sees its rate."""
    tables = tax_tables_seattle_and_france()
    first_checked, first_may_save = threading.Event(), threading.Event()
    outcomes = {}

    def first():
        try:
            with transaction.atomic():
                tax_rates_check(
                    jurisdiction_id=tables.washington.pk,
                    ranges=[RateRange(tables.reduced.pk, datetime.date(2030, 1, 1), None)],
                )
                first_checked.set()
                first_may_save.wait(10)
                TaxRate.objects.create(
                    jurisdiction=tables.washington,
                    group=tables.reduced,
                    rate=Decimal(5),
                    effective_from=datetime.date(2030, 1, 1),
                )
            outcomes["first"] = "saved"
        finally:
            connection.close()

    def second():
        try:
            tax_rate_create(
                jurisdiction=tables.washington,
                group=tables.reduced,
                rate=Decimal(6),
                effective_from=datetime.date(2031, 1, 1),
            )
            outcomes["second"] = "saved"
        except ValidationError as refused:
            outcomes["second"] = refused.messages
        finally:
            connection.close()

    writer = threading.Thread(target=first)
    writer.start()
    assert first_checked.wait(10)
    other = threading.Thread(target=second)
    other.start()
    other.join(1)
    waited = other.is_alive()
    first_may_save.set()
    writer.join(10)
    other.join(10)

    assert waited
    assert outcomes == {
        "first": "saved",
        "second": [
            "Two rates of the tax group RED overlap: from 01/01/2030 and from 01/01/2031. End "
            "the earlier one the day before the later one starts."
        ],
    }
    assert list(
        TaxRate.objects.filter(jurisdiction=tables.washington, group=tables.reduced).values_list(
            "rate", flat=True
        )
    ) == [Decimal("5.0000")]


@pytest.mark.django_db
def test_an_exempt_group_takes_no_rate(tables):
    with pytest.raises(ValidationError) as refused:
        tax_rate_create(
            jurisdiction=tables.france, group=tables.exempt, rate=Decimal(0), effective_from=TODAY
        )

    assert refused.value.messages == ["An exempt tax group is never taxed: EXEMPT takes no rate."]
    assert not TaxRate.objects.filter(group=tables.exempt).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"rate": Decimal("-1")}, "tax_rate_between_0_and_100"),
        ({"rate": Decimal("100.0001")}, "tax_rate_between_0_and_100"),
        ({"effective_to": datetime.date(2013, 12, 31)}, "tax_rate_ends_after_it_starts"),
        ({"effective_from": datetime.date(2000, 1, 1)}, "tax_rate_one_start_per_group"),
    ],
)
def test_database_refuses_a_bad_rate(tables, changes, constraint):
    rate = TaxRate.objects.get(
        jurisdiction=tables.france, group=tables.standard, effective_to__isnull=True
    )
    before = TaxRate.objects.filter(pk=rate.pk).values().get()

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        TaxRate.objects.filter(pk=rate.pk).update(**changes)

    assert TaxRate.objects.filter(pk=rate.pk).values().get() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, constraint",
    [
        ({"country": "us", "region": "NY"}, "tax_jurisdiction_country_iso"),
        ({"country": "US", "region": "wa", "postal_prefix": "981"}, "tax_jurisdiction_place"),
        ({"country": "DE", "name": ""}, "tax_jurisdiction_name_not_empty"),
    ],
)
def test_database_refuses_a_bad_jurisdiction(tables, fields, constraint):
    count = TaxJurisdiction.objects.count()

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        TaxJurisdiction.objects.create(**{"name": "Somewhere", **fields})

    assert TaxJurisdiction.objects.count() == count


@pytest.mark.django_db
def test_database_refuses_a_second_default_group_of_a_kind(tables):
    with (
        pytest.raises(IntegrityError, match="tax_group_one_default_per_kind"),
        transaction.atomic(),
    ):
        TaxGroup.objects.create(
            code="STD2", name_en="Other", name_fr="Autre", kind="standard", is_default=True
        )

    assert list(TaxGroup.objects.filter(is_default=True, kind="standard")) == [tables.standard]


@pytest.mark.django_db
def test_database_refuses_a_currency_that_is_not_an_iso_code():
    with pytest.raises(IntegrityError, match="price_tax_basis_currency_iso"), transaction.atomic():
        PriceTaxBasis.objects.create(currency="eu")

    assert not PriceTaxBasis.objects.exists()


# --- The provider setting -----------------------------------------------------------------


class FlatTaxProvider(TaxProvider):
    """An external provider's stand-in: 1.00 of tax on every line."""

    def line_taxes(self, *, address, lines, on_date, currency, prices_include_tax):
        return [
            LineTax(
                line.key, line.amount, Decimal("1.00"), line.amount + 1, Decimal(0), "", None, ""
            )
            for line in lines
        ]


@pytest.fixture
def fresh_provider():
    get_tax_provider.cache_clear()
    yield
    get_tax_provider.cache_clear()


def test_the_table_provider_is_the_default(fresh_provider):
    assert type(get_tax_provider()) is TableTaxProvider


def test_tax_provider_names_another_by_its_dotted_path(fresh_provider, settings):
    settings.TAX_PROVIDER = f"{__name__}.FlatTaxProvider"

    provider = get_tax_provider()

    assert type(provider) is FlatTaxProvider
    assert tax_provider.get_tax_provider() is provider


# --- Admin -----------------------------------------------------------------------------------


@pytest.fixture
def administrator_client(demo, client):
    assert client.login(request=HttpRequest(), username="admin", password=DEMO_PASSWORD)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", [TaxGroup, TaxJurisdiction, TaxRate, PriceTaxBasis])
def test_tax_admin_add_pages_render_in_both_languages(administrator_client, model, tables):
    url = reverse(f"admin:orders_{model._meta.model_name}_add")

    english = administrator_client.get(url)
    french = administrator_client.get(url, HTTP_ACCEPT_LANGUAGE="fr")

    assert (english.status_code, french.status_code) == (200, 200)
    with translation.override("en"):
        english_name = str(model._meta.verbose_name)
    with translation.override("fr"):
        french_name = str(model._meta.verbose_name)
    assert english_name in english.content.decode()
    assert french_name != english_name
    assert french_name in french.content.decode()


def rate_post(tables, rate, jurisdiction=None) -> dict:
    """A reduced rate from 2030: in Washington (which has none) unless told otherwise."""
    return {
        "jurisdiction": str((jurisdiction or tables.washington).pk),
        "group": str(tables.reduced.pk),
        "rate": rate,
        "effective_from": "2030-01-01",
        "effective_to": "",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "rate, error",
    [
        ("-1", "Ensure this value is greater than or equal to 0."),
        ("101", "Ensure this value is less than or equal to 100."),
        ("abc", "Enter a number."),
        ("5.12345", "Ensure that there are no more than 4 decimal places."),
    ],
)
def test_admin_refuses_a_bad_rate_with_a_field_error(administrator_client, tables, rate, error):
    count = TaxRate.objects.count()

    response = administrator_client.post(
        reverse("admin:orders_taxrate_add"), rate_post(tables, rate)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"rate": [error]}
    assert TaxRate.objects.count() == count


@pytest.mark.django_db
def test_admin_refuses_a_rate_overlapping_another(administrator_client, tables):
    count = TaxRate.objects.count()
    data = {**rate_post(tables, "7", tables.france), "effective_from": "2026-01-01"}

    response = administrator_client.post(reverse("admin:orders_taxrate_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Two rates of the tax group RED overlap: from 01/01/2000 and from 01/01/2026. End the "
        "earlier one the day before the later one starts."
    ]
    assert TaxRate.objects.count() == count


def jurisdiction_post(*rates, name="Monaco") -> dict:
    data = {
        "name": name,
        "country": "MC",
        "region": "",
        "postal_prefix": "",
        "rates-TOTAL_FORMS": str(len(rates)),
        "rates-INITIAL_FORMS": "0",
        "rates-MIN_NUM_FORMS": "0",
        "rates-MAX_NUM_FORMS": "1000",
    }
    for index, (group, rate, start, end) in enumerate(rates):
        data.update(
            {
                f"rates-{index}-group": str(group.pk),
                f"rates-{index}-rate": rate,
                f"rates-{index}-effective_from": start,
                f"rates-{index}-effective_to": end,
            }
        )
    return data


@pytest.mark.django_db
def test_admin_adds_a_jurisdiction_with_its_rates_inline(administrator_client, tables):
    data = jurisdiction_post(
        (tables.standard, "19.6", "2000-01-01", "2013-12-31"),
        (tables.standard, "20", "2014-01-01", ""),
    )

    response = administrator_client.post(reverse("admin:orders_taxjurisdiction_add"), data)

    assert response.status_code == 302
    monaco = TaxJurisdiction.objects.get(country="MC")
    assert list(monaco.rates.values_list("rate", "effective_from", "effective_to")) == [
        (Decimal("19.6000"), datetime.date(2000, 1, 1), datetime.date(2013, 12, 31)),
        (Decimal("20.0000"), datetime.date(2014, 1, 1), None),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "rates, error",
    [
        (
            [("standard", "19.6", "2000-01-01", ""), ("standard", "20", "2014-01-01", "")],
            "Two rates of the tax group STD overlap",
        ),
        (
            [("standard", "101", "2000-01-01", "")],
            "Ensure this value is less than or equal to 100.",
        ),
        ([("standard", "20", "2014-01-01", "2013-01-01")], "A rate cannot end before it starts."),
    ],
)
def test_admin_refuses_bad_inline_rates_and_writes_nothing(
    administrator_client, tables, rates, error
):
    data = jurisdiction_post(*[(getattr(tables, g), *rest) for g, *rest in rates])

    response = administrator_client.post(reverse("admin:orders_taxjurisdiction_add"), data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not TaxJurisdiction.objects.filter(country="MC").exists()


@pytest.mark.django_db
def test_admin_ends_a_rate_and_adds_its_successor_in_one_save(administrator_client, tables):
    reduced = TaxRate.objects.get(jurisdiction=tables.france, group=tables.reduced)
    url = reverse("admin:orders_taxjurisdiction_change", args=[tables.france.pk])
    page = administrator_client.get(url)
    formset = page.context["inline_admin_formsets"][0].formset
    data = {
        "name": "France",
        "country": "FR",
        "region": "",
        "postal_prefix": "",
        "rates-TOTAL_FORMS": str(len(formset.initial_forms) + 1),
        "rates-INITIAL_FORMS": str(len(formset.initial_forms)),
        "rates-MIN_NUM_FORMS": "0",
        "rates-MAX_NUM_FORMS": "1000",
    }
    for index, form in enumerate(formset.initial_forms):
        rate = form.instance
        data.update(
            {
                f"rates-{index}-id": str(rate.pk),
                f"rates-{index}-jurisdiction": str(tables.france.pk),
                f"rates-{index}-group": str(rate.group_id),
                f"rates-{index}-rate": str(rate.rate),
                f"rates-{index}-effective_from": rate.effective_from.isoformat(),
                f"rates-{index}-effective_to": (
                    "2026-12-31" if rate.pk == reduced.pk else str(rate.effective_to or "")
                ),
            }
        )
    new = len(formset.initial_forms)
    data.update(
        {
            f"rates-{new}-group": str(tables.reduced.pk),
            f"rates-{new}-rate": "7",
            f"rates-{new}-effective_from": "2027-01-01",
            f"rates-{new}-effective_to": "",
        }
    )

    response = administrator_client.post(url, data)

    assert response.status_code == 302
    assert list(
        TaxRate.objects.filter(jurisdiction=tables.france, group=tables.reduced)
        .order_by("effective_from")
        .values_list("rate", "effective_to")
    ) == [(Decimal("5.5000"), datetime.date(2026, 12, 31)), (Decimal("7.0000"), None)]


def test_a_group_with_rates_cannot_be_made_exempt(tables):
    tables.reduced.kind = TaxGroupKind.EXEMPT

    with pytest.raises(ValidationError) as refused:
        tables.reduced.full_clean()

    assert refused.value.message_dict == {
        "kind": ["This group has rates: delete them before making it exempt."]
    }


@pytest.mark.django_db(transaction=True)
def test_a_rate_added_while_its_group_is_made_exempt_waits_and_is_refused():
    """The admin making a group exempt holds the group's row until it saves; a rate for
    that group asked for meanwhile waits, then sees the group exempt."""
    tables = tax_tables_seattle_and_france()
    group = TaxGroup.objects.create(code="NEW", name_en="New", name_fr="Nouveau")
    cleaned, may_save = threading.Event(), threading.Event()
    outcomes = {}

    def make_exempt():
        try:
            with transaction.atomic():
                group.kind = TaxGroupKind.EXEMPT
                group.full_clean()
                cleaned.set()
                may_save.wait(10)
                group.save()
            outcomes["admin"] = "saved"
        finally:
            connection.close()

    def add_rate():
        try:
            tax_rate_create(
                jurisdiction=tables.washington,
                group=group,
                rate=Decimal(5),
                effective_from=datetime.date(2030, 1, 1),
            )
            outcomes["rate"] = "saved"
        except ValidationError as refused:
            outcomes["rate"] = refused.messages
        finally:
            connection.close()

    admin = threading.Thread(target=make_exempt)
    admin.start()
    assert cleaned.wait(10)
    other = threading.Thread(target=add_rate)
    other.start()
    other.join(1)
    waited = other.is_alive()
    may_save.set()
    admin.join(10)
    other.join(10)

    assert waited
    assert outcomes == {
        "admin": "saved",
        "rate": ["An exempt tax group is never taxed: NEW takes no rate."],
    }
    assert not TaxRate.objects.filter(group=group).exists()
