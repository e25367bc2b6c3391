"""Delivery modes: the delivery charge rule with worked numbers, the one default, a
program event's own mode, and the admin's pages (docs/delivery.md)."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from continuity.models import ProgramEvent
from continuity.planning import ProgramPlan, program_get_for_quote
from continuity.pricing import shipment_delivery_mode
from core.limits import QUANTITY_MAX, REPEAT_MAX
from core.money import CENT
from orders.delivery import (
    DeliveryChargeKind,
    DeliveryMode,
    delivery_charge,
    delivery_mode_default,
    delivery_mode_get_by_code,
)
from orders.models import SalesOrder
from tests.factories import DeliveryModeFactory, ProgramEventFactory, SalesOrderFactory

PER_ORDER = DeliveryChargeKind.PER_ORDER
PER_SHIPMENT = DeliveryChargeKind.PER_SHIPMENT
PER_UNIT = DeliveryChargeKind.PER_UNIT


def stored(mode: DeliveryMode) -> DeliveryMode:
    """The mode as PostgreSQL gives it back (amounts as the money columns hold them)."""
    return DeliveryMode.objects.get(pk=mode.pk)


@pytest.fixture
def standard(db):
    return stored(
        DeliveryModeFactory(
            code="STD",
            name_en="Standard",
            name_fr="Standard",
            charge_kind=PER_ORDER,
            amount=Decimal("5.95"),
            free_above=Decimal("50.00"),
            is_default=True,
        )
    )


@pytest.fixture
def express(db):
    return stored(
        DeliveryModeFactory(
            code="EXP",
            name_en="Express",
            name_fr="Express",
            charge_kind=PER_ORDER,
            amount=Decimal("14.95"),
            free_above=None,
        )
    )


@pytest.fixture
def per_unit(db):
    return stored(
        DeliveryModeFactory(
            code="UNIT",
            name_en="By the unit",
            name_fr="À l'unité",
            charge_kind=PER_UNIT,
            amount=Decimal("1.50"),
        )
    )


# --- The rule, with worked numbers -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "goods, expected",
    [
        ("0.00", "5.95"),
        ("12.00", "5.95"),
        ("49.99", "5.95"),
        ("50.00", "0.00"),  # at the threshold: free
        ("50.01", "0.00"),
        ("250.00", "0.00"),
    ],
)
def test_standard_is_5_95_per_order_and_free_at_or_above_50(standard, goods, expected):
    charge = delivery_charge(standard, goods_amount=Decimal(goods), units=2)

    assert str(charge) == expected


@pytest.mark.django_db
def test_a_flat_per_order_charge_is_once_whatever_the_shipments(express):
    assert str(delivery_charge(express, goods_amount=Decimal("120.00"), units=6)) == "14.95"
    assert (
        str(delivery_charge(express, goods_amount=Decimal("120.00"), units=6, shipments=3))
        == "14.95"
    )


@pytest.mark.django_db
def test_a_flat_per_shipment_charge_is_times_the_shipments_paid_for(express):
    express.charge_kind = PER_SHIPMENT
    express.save()
    express = stored(express)

    one = delivery_charge(express, goods_amount=Decimal("21.00"), units=1)
    three = delivery_charge(express, goods_amount=Decimal("63.00"), units=3, shipments=3)

    assert (str(one), str(three)) == ("14.95", "44.85")


@pytest.mark.django_db
def test_a_per_unit_charge_is_1_50_times_3_units(per_unit):
    assert str(delivery_charge(per_unit, goods_amount=Decimal("30.00"), units=3)) == "4.50"
    # Units, not shipments, multiply it.
    assert (
        str(delivery_charge(per_unit, goods_amount=Decimal("30.00"), units=3, shipments=2))
        == "4.50"
    )
    assert str(delivery_charge(per_unit, goods_amount=Decimal("0.00"), units=0)) == "0.00"


@pytest.mark.django_db
def test_free_above_applies_to_every_kind(per_unit):
    per_unit.free_above = Decimal("30.00")
    per_unit.save()
    per_unit = stored(per_unit)

    assert str(delivery_charge(per_unit, goods_amount=Decimal("29.99"), units=3)) == "4.50"
    assert str(delivery_charge(per_unit, goods_amount=Decimal("30.00"), units=3)) == "0.00"


@pytest.mark.parametrize(
    "kind, amount, units, expected",
    [
        (PER_UNIT, "0.333", 3, "1.00"),  # 0.999
        (PER_ORDER, "0.005", 1, "0.01"),  # a half: away from zero
        (PER_ORDER, "0.0049", 1, "0.00"),
        (PER_UNIT, "2.675", 1, "2.68"),  # a Decimal, so no binary 2.67499...
    ],
)
def test_the_charge_is_rounded_to_the_cent_halves_up(kind, amount, units, expected):
    # Unsaved: amounts with more decimals than the money columns hold, as a caller that
    # computed its own might pass.
    mode = DeliveryMode(charge_kind=kind, amount=Decimal(amount))

    assert str(delivery_charge(mode, goods_amount=Decimal("10.00"), units=units)) == expected


@pytest.mark.parametrize(
    "arguments, error, bad",
    [
        ({"goods_amount": Decimal("-0.01"), "units": 1}, ValueError, "goods_amount"),
        ({"goods_amount": 10.0, "units": 1}, TypeError, "goods_amount"),
        ({"goods_amount": Decimal("NaN"), "units": 1}, TypeError, "goods_amount"),
        ({"goods_amount": Decimal("10.00"), "units": -1}, ValueError, "units"),
        ({"goods_amount": Decimal("10.00"), "units": True}, TypeError, "units"),
        ({"goods_amount": Decimal("10.00"), "units": 1, "shipments": 0}, ValueError, "shipments"),
        ({"goods_amount": Decimal("10.00"), "units": 1, "shipments": 1.0}, TypeError, "shipments"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments, error, bad):
    mode = DeliveryMode(charge_kind=PER_ORDER, amount=Decimal("5.95"))

    with pytest.raises(error) as excinfo:
        delivery_charge(mode, **arguments)

    assert str(excinfo.value).startswith(f"{bad} must ")


modes = st.builds(
    DeliveryMode,
    charge_kind=st.sampled_from(DeliveryChargeKind.values),
    amount=st.decimals(min_value=0, max_value=10**6, places=2),
    free_above=st.none() | st.decimals(min_value=0, max_value=10**6, places=2),
)
goods = st.decimals(min_value=0, max_value=10**7, places=2)


@settings(max_examples=300, deadline=None)
@given(
    mode=modes,
    goods_amount=goods,
    units=st.integers(min_value=0, max_value=QUANTITY_MAX * 100),
    shipments=st.integers(min_value=1, max_value=REPEAT_MAX),
)
def test_the_charge_is_never_negative_and_zero_at_or_above_free_above(
    mode, goods_amount, units, shipments
):
    charge = delivery_charge(mode, goods_amount=goods_amount, units=units, shipments=shipments)

    assert charge >= 0
    assert charge == charge.quantize(CENT)
    if mode.free_above is not None and goods_amount >= mode.free_above:
        assert charge == 0
    else:
        multiplier = {PER_ORDER: 1, PER_SHIPMENT: shipments, PER_UNIT: units}[mode.charge_kind]
        assert charge == mode.amount * multiplier


# --- The database's rules ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_a_second_default(standard):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        DeliveryModeFactory(code="EXP", is_default=True)

    assert "delivery_mode_one_default" in str(excinfo.value)
    assert list(DeliveryMode.objects.values_list("code", flat=True)) == ["STD"]
    assert delivery_mode_default() == standard


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, constraint",
    [
        ({"code": "std"}, "delivery_mode_code_unique"),
        ({"code": ""}, "delivery_mode_code_not_empty"),
        ({"name_fr": ""}, "delivery_mode_names_not_empty"),
        ({"amount": Decimal("-0.01")}, "delivery_mode_amount_gte_0"),
        ({"free_above": Decimal("-1.00")}, "delivery_mode_free_above_gte_0"),
        ({"charge_kind": "per_kilo"}, "delivery_mode_charge_kind_known"),
    ],
)
def test_the_database_refuses_a_bad_mode(standard, fields, constraint):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        DeliveryMode.objects.create(
            **{"code": "NEW", "name_en": "New", "name_fr": "Nouveau", "amount": 1, **fields}
        )

    assert constraint in str(excinfo.value)
    assert list(DeliveryMode.objects.values_list("code", flat=True)) == ["STD"]


@pytest.mark.django_db
def test_the_default_mode_cannot_be_inactive(standard):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        DeliveryMode.objects.filter(pk=standard.pk).update(active=False)

    assert "delivery_mode_default_is_active" in str(excinfo.value)
    assert stored(standard).active is True


@pytest.mark.django_db
def test_a_mode_an_order_or_an_event_names_cannot_be_deleted(standard, express):
    order = SalesOrderFactory(delivery_mode=standard)
    event = ProgramEventFactory(delivery_mode=express)

    for mode in (standard, express):
        with pytest.raises(ProtectedError), transaction.atomic():
            mode.delete()

    assert DeliveryMode.objects.count() == 2
    assert SalesOrder.objects.get(pk=order.pk).delivery_mode == standard
    assert ProgramEvent.objects.get(pk=event.pk).delivery_mode == express


# --- Reads -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_typed_code_finds_its_active_mode_in_any_case(standard, express):
    assert delivery_mode_get_by_code(" exp ") == express
    assert delivery_mode_get_by_code("Std") == standard


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code, message",
    [
        ("", "Enter a delivery mode."),
        ("   ", "Enter a delivery mode."),
        ("NONE", "Delivery mode NONE does not exist."),
        ("exp", "Delivery mode exp does not exist."),  # inactive
    ],
)
def test_a_typed_code_that_names_no_active_mode_is_refused(express, code, message):
    express.active = False
    express.save()

    with pytest.raises(ValidationError) as excinfo:
        delivery_mode_get_by_code(code)

    assert excinfo.value.message_dict == {"delivery_mode": [message]}


@pytest.mark.django_db
def test_no_default_mode_reads_as_none(express):
    assert delivery_mode_default() is None


@pytest.mark.django_db
def test_the_name_follows_the_language(per_unit):
    with translation.override("fr"):
        assert (per_unit.name, str(per_unit)) == ("À l'unité", "UNIT À l'unité")
    with translation.override("en"):
        assert (per_unit.name, str(per_unit)) == ("By the unit", "UNIT By the unit")


# --- A program event's own mode ------------------------------------------------------------


def sold_plan(event: ProgramEvent) -> ProgramPlan:
    """The event's program as a subscription keeps it (through its JSON, as stored)."""
    program = program_get_for_quote(program_id=event.program_id)
    return ProgramPlan.from_json(ProgramPlan.of_program(program).to_json())


@pytest.mark.django_db
def test_an_events_mode_overrides_the_orders(standard, express):
    event = ProgramEventFactory(delivery_mode=express)
    plan = sold_plan(event)

    assert shipment_delivery_mode(plan, event.event_number, standard) == express
    assert shipment_delivery_mode(plan, event.event_number, None) == express


@pytest.mark.django_db
def test_an_event_without_a_mode_takes_the_orders(standard):
    event = ProgramEventFactory()
    plan = sold_plan(event)

    assert event.delivery_mode is None
    assert shipment_delivery_mode(plan, event.event_number, standard) == standard
    assert shipment_delivery_mode(plan, event.event_number, None) is None


# --- The admin -----------------------------------------------------------------------------


@pytest.fixture
def administrator_client(demo, client):
    """The demo's Administrator (the demo data has no delivery mode)."""
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


def mode_post(**fields) -> dict:
    return {
        "code": "EXP",
        "name_en": "Express",
        "name_fr": "Express",
        "active": "on",
        "charge_kind": "per_order",
        "amount": "14.95",
        "free_above": "",
        **fields,
    }


def form_errors(response) -> dict:
    form = response.context["adminform"].form
    return {name: list(messages) for name, messages in form.errors.items()}


@pytest.mark.django_db
def test_admin_list_add_and_change_pages_render(administrator_client, standard):
    listed = administrator_client.get(reverse("admin:orders_deliverymode_changelist"))
    add = administrator_client.get(reverse("admin:orders_deliverymode_add"))
    change = administrator_client.get(
        reverse("admin:orders_deliverymode_change", args=[standard.pk])
    )

    assert (listed.status_code, add.status_code, change.status_code) == (200, 200, 200)
    assert "STD" in listed.content.decode()
    for name in ("code", "name_en", "name_fr", "charge_kind", "amount", "free_above"):
        assert f'name="{name}"' in add.content.decode()
    assert 'value="5.95"' in change.content.decode()


@pytest.mark.django_db
def test_admin_adds_a_mode_with_its_rule(administrator_client, standard):
    response = administrator_client.post(
        reverse("admin:orders_deliverymode_add"), mode_post(free_above="100.00")
    )

    assert response.status_code == 302
    mode = DeliveryMode.objects.get(code="EXP")
    assert (mode.name_en, mode.name_fr, mode.charge_kind, mode.amount, mode.free_above) == (
        "Express",
        "Express",
        PER_ORDER,
        Decimal("14.95"),
        Decimal("100.00"),
    )
    assert (mode.active, mode.is_default) == (True, False)


@pytest.mark.django_db
def test_admin_refuses_a_second_default_with_a_clear_error(administrator_client, standard):
    response = administrator_client.post(
        reverse("admin:orders_deliverymode_add"), mode_post(is_default="on")
    )

    assert response.status_code == 200
    assert form_errors(response) == {
        "__all__": [
            "Another delivery mode is already the default: untick Default on that mode first."
        ]
    }
    assert list(DeliveryMode.objects.values_list("code", flat=True)) == ["STD"]


@pytest.mark.django_db
def test_admin_moves_the_default_once_the_old_one_is_unticked(
    administrator_client, standard, express
):
    unticked = administrator_client.post(
        reverse("admin:orders_deliverymode_change", args=[standard.pk]),
        mode_post(code="STD", name_en="Standard", name_fr="Standard", amount="5.95"),
    )
    ticked = administrator_client.post(
        reverse("admin:orders_deliverymode_change", args=[express.pk]), mode_post(is_default="on")
    )

    assert (unticked.status_code, ticked.status_code) == (302, 302)
    assert delivery_mode_default() == express


@pytest.mark.django_db
def test_admin_refuses_a_code_that_exists_in_another_case(administrator_client, standard):
    response = administrator_client.post(
        reverse("admin:orders_deliverymode_add"), mode_post(code="std")
    )

    assert form_errors(response) == {
        "__all__": ["A delivery mode with this code already exists (in upper or lower case)."]
    }
    assert DeliveryMode.objects.count() == 1


@pytest.mark.django_db
def test_admin_refuses_an_inactive_default(administrator_client):
    response = administrator_client.post(
        reverse("admin:orders_deliverymode_add"), mode_post(is_default="on", active="")
    )

    assert form_errors(response) == {"__all__": ["The default delivery mode must be active."]}
    assert DeliveryMode.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("amount", "-1", "Ensure this value is greater than or equal to 0.00."),
        ("amount", "abc", "Enter a number."),
        (
            "amount",
            "10000000000",
            "Ensure that there are no more than 10 digits before the decimal point.",
        ),
        ("amount", "1.999", "Ensure that there are no more than 2 decimal places."),
        ("amount", "", "This field is required."),
        ("free_above", "-1", "Ensure this value is greater than or equal to 0.00."),
        ("free_above", "abc", "Enter a number."),
        ("free_above", "9" * 40, "Ensure that there are no more than 12 digits in total."),
    ],
)
def test_admin_refuses_a_bad_amount_at_the_field(
    administrator_client, standard, field, value, message
):
    before = list(DeliveryMode.objects.values())

    response = administrator_client.post(
        reverse("admin:orders_deliverymode_add"), mode_post(**{field: value})
    )

    assert response.status_code == 200
    assert form_errors(response) == {field: [message]}
    assert list(DeliveryMode.objects.values()) == before


@pytest.mark.django_db
def test_admin_sets_an_events_own_mode(administrator_client, express):
    event = ProgramEvent.objects.filter(program__code="TEA3PREPAID").get()
    url = reverse("admin:continuity_programevent_change", args=[event.pk])
    page = administrator_client.get(url)
    line = event.lines.get()

    response = administrator_client.post(
        url,
        {
            "event_number": str(event.event_number),
            "interval_count": str(event.interval_count),
            "interval_unit": event.interval_unit,
            "repeat_count": str(event.repeat_count),
            "action": event.action,
            "delivery_mode": str(express.pk),
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-id": str(line.pk),
            "lines-0-event": str(event.pk),
            "lines-0-item": str(line.item_id),
            "lines-0-quantity": str(line.quantity),
            "lines-0-unit_price": str(line.unit_price),
        },
    )

    assert page.status_code == 200
    assert 'name="delivery_mode"' in page.content.decode()
    assert response.status_code == 302
    assert ProgramEvent.objects.get(pk=event.pk).delivery_mode == express


@pytest.mark.django_db
def test_admin_offers_an_event_active_modes_only(administrator_client, standard, express):
    express.active = False
    express.save()
    event = ProgramEvent.objects.filter(program__code="TEA3PREPAID").get()

    page = administrator_client.get(
        reverse("admin:continuity_programevent_change", args=[event.pk])
    )

    choices = page.context["adminform"].form.fields["delivery_mode"].queryset
    assert list(choices) == [standard]
