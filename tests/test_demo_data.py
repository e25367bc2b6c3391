import datetime
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from continuity.models import ContinuityProgram
from customers.models import Address, Customer
from customers.selectors import customer_search
from devdata.demo import DEMO_PASSWORD, demo_data_load
from orders.delivery import DeliveryChargeKind, DeliveryMode
from orders.models import Item, PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate
from orders.services import sales_order_create

pytestmark = pytest.mark.django_db

DEMO_APPS = ["auth", "customers", "orders", "continuity", "payments"]
DEMO_USERNAMES = ["agent", "supervisor", "admin"]
ROOT = Path(__file__).resolve().parent.parent


def snapshot():
    """Every row of every table the demo data writes, as plain values."""
    rows = {}
    for app_label in DEMO_APPS:
        for model in apps.get_app_config(app_label).get_models():
            rows[model._meta.label] = sorted(
                (tuple(sorted(row.items())) for row in model.objects.values()), key=repr
            )
            for field in model._meta.many_to_many:
                through = field.remote_field.through
                rows[through._meta.label] = sorted(
                    tuple(sorted(row.items())) for row in through.objects.values()
                )
    return rows


@pytest.fixture
def priced_demo(demo):
    """The demo data with its delivery modes and tax tables, whether the session loaded
    them or not (demo_data_load(pricing=False)): a load adds only what is missing."""
    demo_data_load(pricing=True)


def test_a_second_run_changes_nothing(priced_demo, settings, capsys):
    settings.DEBUG = True
    before = snapshot()

    call_command("load_demo_data")

    assert snapshot() == before
    assert "nothing changed" in capsys.readouterr().out


def test_the_demo_has_one_karen_berg_among_several_karens(demo):
    karens = customer_search(query="karen")
    assert len(karens) >= 3
    assert [c.full_name for c in karens].count("Karen Berg") == 1


def test_continuity_items_and_programs(demo):
    assert Item.objects.get(item_number="88000").continuity_program.code == "WELLNESS6"
    assert Item.objects.get(item_number="88001").continuity_program.bill_up_front is True
    assert set(
        Item.objects.filter(continuity_program=None).values_list("item_number", flat=True)
    ) >= {"0013", "0014", "0015"}
    assert ContinuityProgram.objects.count() == 3


def test_delivery_modes_standard_by_default_free_from_50_and_express(priced_demo):
    modes = [
        (m.code, m.name_en, m.name_fr, m.charge_kind, m.amount, m.free_above, m.is_default)
        for m in DeliveryMode.objects.order_by("code")
    ]
    assert modes == [
        (
            "EXP",
            "Express",
            "Livraison express",
            DeliveryChargeKind.PER_ORDER,
            Decimal("14.95"),
            None,
            False,
        ),
        (
            "STD",
            "Standard",
            "Livraison standard",
            DeliveryChargeKind.PER_ORDER,
            Decimal("5.95"),
            Decimal("50.00"),
            True,
        ),
    ]


def test_tax_groups_each_the_default_of_its_kind(priced_demo):
    groups = [
        (g.code, g.name_en, g.name_fr, g.kind, g.is_default)
        for g in TaxGroup.objects.order_by("code")
    ]
    assert groups == [
        ("DELIVERY", "Delivery", "Livraison", "delivery", True),
        ("EXEMPT", "Exempt", "Exonéré", "exempt", True),
        ("REDUCED", "Reduced rate", "Taux réduit", "reduced", True),
        ("STANDARD", "Standard rate", "Taux normal", "standard", True),
    ]


def test_tax_rates_of_seattle_bellevue_and_france(priced_demo):
    rates = {
        (r.jurisdiction.name, r.group.code): (r.rate, r.effective_from, r.effective_to)
        for r in TaxRate.objects.select_related("jurisdiction", "group")
    }
    washington, france = datetime.date(2020, 1, 1), datetime.date(2014, 1, 1)
    assert rates == {
        ("Seattle, WA", "STANDARD"): (Decimal("10.2500"), washington, None),
        ("Seattle, WA", "REDUCED"): (Decimal("10.2500"), washington, None),
        ("Seattle, WA", "DELIVERY"): (Decimal("10.2500"), washington, None),
        ("Bellevue, WA", "STANDARD"): (Decimal("10.1000"), washington, None),
        ("Bellevue, WA", "REDUCED"): (Decimal("10.1000"), washington, None),
        ("Bellevue, WA", "DELIVERY"): (Decimal("10.1000"), washington, None),
        ("France", "STANDARD"): (Decimal("20.0000"), france, None),
        ("France", "REDUCED"): (Decimal("5.5000"), france, None),
        ("France", "DELIVERY"): (Decimal("20.0000"), france, None),
    }
    places = sorted(
        TaxJurisdiction.objects.values_list("name", "country", "region", "postal_prefix")
    )
    assert places == [
        ("Bellevue, WA", "US", "WA", "98004"),
        ("France", "FR", "", ""),
        ("Seattle, WA", "US", "WA", "981"),
    ]
    # Euro prices include TVA; dollar prices (no row) exclude sales tax.
    assert list(PriceTaxBasis.objects.values_list("currency", "prices_include_tax")) == [
        ("EUR", True)
    ]


def test_karen_laurent_is_billed_in_euros_in_france_and_the_tea_is_reduced_rate(priced_demo):
    laurent = Customer.objects.get(account_number="004023")
    assert laurent.currency == "EUR"
    assert set(Address.objects.filter(customer=laurent).values_list("country", flat=True)) == {"FR"}
    assert Customer.objects.get(account_number="004021").currency == "USD"
    groups = dict(Item.objects.values_list("item_number", "tax_group__code"))
    assert (groups["0013"], groups["0014"], groups["0015"], groups["88000"]) == (
        None,
        None,
        "REDUCED",
        None,
    )


def test_loading_twice_duplicates_nothing(priced_demo):
    tables = [Customer, Address, Item, DeliveryMode, TaxGroup, TaxJurisdiction, TaxRate]
    tables.append(PriceTaxBasis)
    counts = {model.__name__: model.objects.count() for model in tables}

    assert demo_data_load(pricing=True) == []

    assert {model.__name__: model.objects.count() for model in tables} == counts
    assert (counts["DeliveryMode"], counts["TaxGroup"], counts["TaxRate"]) == (2, 4, 9)


def test_a_demo_loaded_before_tax_groups_gets_the_teas_group(priced_demo):
    Item.objects.filter(item_number="0015").update(tax_group=None)

    demo_data_load(pricing=True)

    assert Item.objects.get(item_number="0015").tax_group.code == "REDUCED"


def test_what_an_administrator_changed_is_kept(priced_demo):
    # Another default mode, a rate of their own in France, the tea in another group.
    DeliveryMode.objects.filter(code="STD").update(is_default=False)
    DeliveryMode.objects.filter(code="EXP").update(is_default=True)
    TaxRate.objects.filter(jurisdiction__name="France", group__code="REDUCED").update(
        rate=Decimal("7")
    )
    Item.objects.filter(item_number="0015").update(tax_group=TaxGroup.objects.get(code="STANDARD"))
    before = snapshot()

    demo_data_load(pricing=True)

    assert snapshot() == before


def test_without_pricing_orders_cost_their_goods_only(demo):
    # The session's demo may have them: take them out, as a load without them leaves them.
    Item.objects.update(tax_group=None)
    TaxRate.objects.all().delete()
    TaxJurisdiction.objects.all().delete()
    TaxGroup.objects.all().delete()
    DeliveryMode.objects.all().delete()
    PriceTaxBasis.objects.all().delete()
    Customer.objects.filter(account_number="004023").update(currency="USD")

    assert demo_data_load(pricing=False) == []

    for model in (DeliveryMode, TaxGroup, TaxJurisdiction, TaxRate, PriceTaxBasis):
        assert not model.objects.exists(), model.__name__
    assert Customer.objects.get(account_number="004023").currency == "USD"
    assert not Item.objects.exclude(tax_group=None).exists()


def test_a_customer_who_has_ordered_keeps_their_currency(priced_demo, actor):
    laurent = Customer.objects.get(account_number="004023")
    Customer.objects.filter(pk=laurent.pk).update(currency="USD")
    sales_order_create(customer=laurent, actor=actor)

    demo_data_load(pricing=True)

    assert Customer.objects.get(pk=laurent.pk).currency == "USD"


@pytest.mark.parametrize(
    ("username", "group"),
    [
        ("agent", "Agent"),
        ("supervisor", "Supervisor"),
        ("admin", "Administrator"),
        ("warehouse", "Warehouse"),
    ],
)
def test_one_user_per_role_with_the_demo_password(demo, username, group):
    user = get_user_model().objects.get(username=username)
    assert list(user.groups.values_list("name", flat=True)) == [group]
    assert user.check_password(DEMO_PASSWORD)


def test_the_administrator_and_the_supervisor_reach_the_admin_site(demo):
    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    # The supervisor works webhook deliveries and releases there, within the role's
    # permissions; never a superuser.
    supervisor = users.get(username="supervisor")
    assert (supervisor.is_staff, supervisor.is_superuser) == (True, False)
    assert not users.get(username="agent").is_staff
    assert not users.get(username="warehouse").is_staff


def test_refused_with_debug_off_without_the_flag_and_nothing_is_written(demo, settings):
    settings.DEBUG = False
    # Without its users the loader would have something to write.
    get_user_model().objects.filter(username__in=DEMO_USERNAMES).delete()
    before = snapshot()

    with pytest.raises(CommandError) as refusal:
        call_command("load_demo_data")

    assert refusal.value.returncode == 2
    assert str(refusal.value) == (
        "DEBUG is off: the demo data (users with a published password) is not loaded in "
        "production; pass --allow-in-production to load it anyway."
    )
    assert snapshot() == before
    assert not get_user_model().objects.filter(username__in=DEMO_USERNAMES).exists()


def test_loaded_with_debug_off_when_allowed_in_production(demo, settings, capsys):
    settings.DEBUG = False
    get_user_model().objects.filter(username__in=DEMO_USERNAMES).delete()

    call_command("load_demo_data", "--allow-in-production")

    assert "Created users: agent, supervisor, admin." in capsys.readouterr().out
    assert get_user_model().objects.filter(username__in=DEMO_USERNAMES).count() == 3


@pytest.mark.parametrize(
    ("environment", "installed"),
    [
        ({"DEBUG": "true"}, True),
        ({"DEBUG": "false"}, False),
        ({"DEBUG": "false", "DEVDATA_ENABLED": "true"}, True),
        ({"DEBUG": "true", "DEVDATA_ENABLED": "false"}, False),
    ],
)
def test_the_devdata_app_is_installed_with_debug_or_when_asked(environment, installed):
    """Production settings (DEBUG off) have neither the demo data nor the generators."""
    inherited = {
        key: value for key, value in os.environ.items() if key not in ("DEBUG", "DEVDATA_ENABLED")
    }
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.apps import apps;"
            "print(apps.is_installed('devdata'))",
        ],
        cwd=ROOT,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.stdout.strip() == str(installed), finished.stderr
