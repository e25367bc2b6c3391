"""Attacks on the read-once blocks (tax_tables_read_once, programs_read_once): a submit's
step 1 and step 3, the add-line page, a subscription action's preview.

An administrator edits a program, a rate or the default delivery mode while a submit's
charge is on the wire (tests.gated_gateway); rate ranges end and start on ship dates; a
preview priced inside a block is compared with the confirmation priced outside one; a
block is checked to end with its request, however the request ends. Each test asserts
exact amounts, worked out by hand, and that the money audit finds nothing.

Karen Berg ships to Seattle, WA (98101): 10.25 % on goods and delivery; Standard delivery
5.95, free from 50.00. A box of 88000 (WELLNESS6) is 17.99 + 9.99 = 27.98: tax 1.84 +
1.02, delivery 5.95 with 0.61: 37.40. At 8 %: 1.44 + 0.80 + 0.48: 36.65.
"""

import datetime
import subprocess
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from continuity.models import OccurrenceStatus, ProgramEventLine
from continuity.order_entry import program_line_quote
from continuity.planning import (
    ProgramPlan,
    _programs_read,
    program_get_for_quote,
    programs_read_once,
)
from continuity.subscription_actions.card_and_ship_to import (
    change_ship_to_preview,
    subscription_change_ship_to,
)
from core.actors import Actor
from core.dates import business_date
from customers.models import Address, AddressKind
from orders.delivery import DeliveryChargeKind, DeliveryMode
from orders.models import Item, SalesOrder
from orders.services import sales_order_submit
from orders.tax.models import TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate
from orders.tax.selectors import _tax_answers, tax_tables_read_once
from payments.models import Payment, PaymentStatus
from tests.continuity.test_money_audit_parts import seattle
from tests.continuity.test_money_findings import audit_findings, in_thread, shipments
from tests.gated_gateway import gateway_gate
from tests.payments.support import APPROVE, karen, ledger_sales, order_ready
from tests.sqlite_run import ROOT, sqlite_migrated

ACTOR = Actor.job("test")
D = Decimal
DAY = datetime.timedelta(days=1)

race = pytest.mark.django_db(transaction=True)


def ledger_amounts(order) -> list[Decimal]:
    return [D(row.amount_minor) / 100 for row in ledger_sales(order).order_by("id")]


def amounts(order) -> list[Decimal]:
    return [shipment.amount for shipment in shipments(order)]


def no_block_open() -> bool:
    return not _tax_answers.active() and not _programs_read.active()


def ship_dates(item_number: str = "88000") -> list[datetime.date]:
    """The ship dates of a program item sold today (the subscription the submit makes)."""
    quote = program_line_quote(
        Item.objects.get(item_number=item_number), start_date=None, today=business_date()
    )
    return [occurrence.ship_date for occurrence in quote.occurrences]


def seattle_rates_in_ranges(ranges) -> None:
    """Seattle's rates (goods and delivery) replaced by (from, to, rate) ranges."""
    for group in TaxGroup.objects.filter(
        kind__in=[TaxGroupKind.STANDARD, TaxGroupKind.DELIVERY], is_default=True
    ):
        place = TaxJurisdiction.objects.get(name="Seattle, WA")
        TaxRate.objects.filter(jurisdiction=place, group=group).delete()
        for start, end, rate in ranges:
            TaxRate.objects.create(
                jurisdiction=place,
                group=group,
                rate=D(rate),
                effective_from=start,
                effective_to=end,
            )


# --- Between step 1 and step 3 of a submit -----------------------------------------------


@race
def test_a_default_mode_switched_on_the_wire_keeps_the_mode_the_order_was_charged_for(
    demo, gated_gateway
):
    """The order names no mode: step 1 prices (and the card is charged) with the default,
    Standard at 5.95. While the sale is on the wire the administrator makes Express (7.00)
    the default. The order must keep the mode it was charged for (orders.services._submit:
    "the default mode it was priced with is kept"), and its later shipments go by it."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    assert order.delivery_mode_id is None
    assert order.amount_due == D("37.40")
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        DeliveryMode.objects.filter(is_default=True).update(is_default=False)
        DeliveryMode.objects.create(
            code="EXP",
            name_en="Express",
            name_fr="Express",
            is_default=True,
            charge_kind=DeliveryChargeKind.PER_ORDER,
            amount=D("7.00"),
        )
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    assert order.status == "submitted"
    assert (order.amount_due, order.delivery_amount) == (D("37.40"), D("5.95"))
    assert ledger_amounts(order) == [D("37.40")]
    first, second = shipments(order)[:2]
    assert (first.amount, first.delivery_amount) == (D("37.40"), D("5.95"))
    # The mode the order was priced and charged with (kept on its shipments as the mode
    # that priced them), not the one made default since; the later shipments go by it.
    assert (
        order.delivery_mode.code,
        first.delivery_mode.code,
        second.delivery_mode.code,
        second.amount,
        second.delivery_amount,
    ) == ("STD", "STD", "STD", D("37.40"), D("5.95"))
    assert audit_findings() == []


@race
@pytest.mark.parametrize("entry", ["page", "api"])
def test_a_rate_changed_on_the_wire_of_a_submit_request_reaches_step_3(
    demo, gated_gateway, request, entry
):
    """Through the page (orders.views.order_submit) and the API (SalesOrderSubmit): no
    block around the submit, so a rate changed while the sale is on the wire prices the
    shipments step 3 makes (a block around it would keep step 1's answers across the
    call); the first stays what the sale took."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    if entry == "page":
        client = Client()
        client.force_login(get_user_model().objects.get(username="agent"))
        url, answered = reverse("orders:submit", args=[order.number]), 302
    else:
        client = request.getfixturevalue("agent_api")
        url, answered = f"/api/v1/sales-orders/{order.number}/submit/", 200
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: client.post(url))
        assert gate.reached.wait(10)
        TaxRate.objects.filter(jurisdiction__name="Seattle, WA").update(rate=D("8.00"))
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    assert outcome["value"].status_code == answered
    order.refresh_from_db()
    assert order.status == "submitted"
    assert ledger_amounts(order) == [D("37.40")]
    assert amounts(order) == [D("37.40")] + [D("36.65")] * 5
    assert audit_findings() == []
    assert no_block_open()


@race
def test_a_program_price_edited_on_the_wire_does_not_reach_the_paid_box(demo, gated_gateway):
    """Step 1 keeps the program it priced on the line; step 3's block reads the program
    again (after the edit): the subscription's plan and every shipment are the program as
    sold, 27.98 a box, not the edited 28.98."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        ProgramEventLine.objects.filter(
            event__program__code="WELLNESS6", item__item_number="0015"
        ).update(unit_price=D("10.99"))
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    sale = Payment.objects.get(sales_order=order, occurrence=None, operation="sale")
    assert (sale.status, sale.amount) == (PaymentStatus.APPROVED, D("37.40"))
    assert amounts(order) == [D("37.40")] * 6
    assert audit_findings() == []


# --- Rate ranges that end and start on ship dates ---------------------------------------


@pytest.mark.django_db
def test_shipments_on_the_ends_of_rate_ranges_are_priced_by_the_rate_of_their_day(demo):
    """Seattle at 10.25 % until shipment 2's ship date (its last day), 8 % from shipment
    3's (its first day) to shipment 4's (its last), 10.25 % again from shipment 5's; no
    rate between (no shipment falls there). Step 3 prices shipments 2 to 6 in one block,
    from one read of the rates: each at its day's rate, as the audit prices them."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    dates = ship_dates()
    assert len(dates) == 6 and len(set(dates)) == 6
    _d1, d2, d3, d4, d5, _d6 = dates
    seattle_rates_in_ranges(
        [
            (datetime.date(2000, 1, 1), d2, "10.25"),
            (d3, d4, "8.00"),
            (d5, None, "10.25"),
        ]
    )
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    order.refresh_from_db()
    assert order.status == "submitted"
    assert [s.ship_date for s in shipments(order)] == dates
    assert amounts(order) == [
        D("37.40"),
        D("37.40"),
        D("36.65"),
        D("36.65"),
        D("37.40"),
        D("37.40"),
    ]
    assert [s.tax_amount for s in shipments(order)] == [
        D("3.47"),
        D("3.47"),
        D("2.72"),
        D("2.72"),
        D("3.47"),
        D("3.47"),
    ]
    assert ledger_amounts(order) == [D("37.40")]
    assert audit_findings() == []


@pytest.mark.django_db
def test_a_prepaid_program_across_a_rate_change_charges_what_complete_priced(demo):
    """88001 (TEA3PREPAID), three boxes paid up front: Complete prices them outside a
    block, the submit's step 1 again inside one (reading the rates once for the three
    days) and refuses to charge if the two differ. Seattle at 10.25 % until box 2's ship
    date (its last day), 8 % from box 3's (its first). A box is 2 x 10.50 = 21.00 with
    delivery 5.95: at 10.25 %, 2.15 + 0.61: 29.71; at 8 %, 1.68 + 0.48: 29.11. The sale
    is 29.71 + 29.71 + 29.11 = 88.53, each box allocated its own price."""
    seattle()
    d1, d2, d3 = ship_dates("88001")
    seattle_rates_in_ranges([(datetime.date(2000, 1, 1), d2, "10.25"), (d3, None, "8.00")])
    order = order_ready(ACTOR, APPROVE, item_number="88001")
    assert order.amount_due == D("88.53")
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    order.refresh_from_db()
    assert (order.status, order.amount_due) == ("submitted", D("88.53"))
    boxes = shipments(order)
    assert [box.ship_date for box in boxes] == [d1, d2, d3]
    assert [(box.amount, box.tax_amount) for box in boxes] == [
        (D("29.71"), D("2.76")),
        (D("29.71"), D("2.76")),
        (D("29.11"), D("2.16")),
    ]
    assert [list(box.allocations.values_list("amount", flat=True)) for box in boxes] == [
        [D("29.71")],
        [D("29.71")],
        [D("29.11")],
    ]
    assert ledger_amounts(order) == [D("88.53")]
    assert audit_findings() == []


# --- A preview in a block, its confirmation outside one ---------------------------------


def portland_with_ranges(d2: datetime.date, d3: datetime.date) -> Address:
    """Portland, OR at 5 % on goods and delivery until d2 (its last day), 6 % from d3 (its
    first day): a box there is 27.98 + 5.95 + 0.90 + 0.50 + 0.30 = 35.63 at 5 %, and
    27.98 + 5.95 + 1.08 + 0.60 + 0.36 = 35.97 at 6 %."""
    place = TaxJurisdiction.objects.create(
        country="US", region="or", postal_prefix="972", name="Portland, OR"
    )
    for group in TaxGroup.objects.filter(
        kind__in=[TaxGroupKind.STANDARD, TaxGroupKind.DELIVERY], is_default=True
    ):
        TaxRate.objects.create(
            jurisdiction=place,
            group=group,
            rate=D("5.00"),
            effective_from=datetime.date(2000, 1, 1),
            effective_to=d2,
        )
        TaxRate.objects.create(jurisdiction=place, group=group, rate=D("6.00"), effective_from=d3)
    return Address.objects.create(
        customer=karen(),
        kind=AddressKind.SHIPPING,
        street="1 SW Main St",
        city="Portland",
        state="Or ",
        postal_code="97204-1234",
        country="us",
    )


@pytest.mark.django_db
def test_a_ship_to_preview_in_a_block_shows_what_its_confirmation_stores(demo):
    """The action page previews in a tax block (continuity.views.subscription_action) and
    confirms outside one: the amounts previewed must be those stored, on both sides of a
    rate change that falls between two ship dates (a region and country typed in another
    case, a postal code with its +4)."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    first, second, third, *_rest = shipments(order)
    address = portland_with_ranges(second.ship_date, third.ship_date)
    with tax_tables_read_once():
        preview = change_ship_to_preview(
            subscription_id=first.subscription_id, address_id=address.pk
        )
    previewed = {
        effect.occurrence.pk: (effect.what, effect.amount, effect.before)
        for effect in preview.effects
    }
    assert previewed == {
        first.pk: ("ship_to", None, None),
        second.pk: ("ship_to_repriced", D("35.63"), D("37.40")),
        third.pk: ("ship_to_repriced", D("35.97"), D("37.40")),
    }
    # The same preview outside a block.
    outside = change_ship_to_preview(subscription_id=first.subscription_id, address_id=address.pk)
    assert [(e.occurrence.pk, e.what, e.amount) for e in outside.effects] == [
        (pk, what, amount) for pk, (what, amount, _before) in previewed.items()
    ]
    subscription_change_ship_to(
        subscription_id=first.subscription_id,
        address_id=address.pk,
        actor=ACTOR,
        reason_code="MOVED",
    )
    assert amounts(order) == [D("37.40"), D("35.63")] + [D("35.97")] * 4
    assert shipments(order)[0].status == OccurrenceStatus.PAID
    assert audit_findings() == []


# --- Blocks end with their request; a block inside a block ------------------------------


@pytest.mark.django_db
def test_the_add_line_block_ends_with_its_request_however_it_ends(demo, monkeypatch):
    """order_line_add runs in both blocks: after a request that adds a line, one that is
    refused and one that fails, no block is left open on the thread, and a program edited
    between two requests prices the next line (the first keeps its price)."""
    seattle()
    client = Client()
    client.force_login(get_user_model().objects.get(username="agent"))
    from orders.services import sales_order_create

    order = sales_order_create(customer=karen(), actor=ACTOR)
    url = reverse("orders:line_add", args=[order.number])

    client.post(url, {"item_number": "88000", "quantity": "1"})
    assert no_block_open()
    client.post(url, {"item_number": "NO-SUCH-ITEM", "quantity": "1"})
    assert no_block_open()

    ProgramEventLine.objects.filter(
        event__program__code="WELLNESS6", item__item_number="0015"
    ).update(unit_price=D("10.99"))
    # A program is sold once an order: the edited one on another order of Karen's.
    other = sales_order_create(customer=karen(), actor=ACTOR)
    response = client.post(
        reverse("orders:line_add", args=[other.number]), {"item_number": "88000", "quantity": "1"}
    )
    assert response.status_code == 302
    assert no_block_open()
    prices = [
        list(SalesOrder.objects.get(pk=pk).lines.values_list("unit_price", flat=True))
        for pk in (order.pk, other.pk)
    ]
    assert prices == [[D("27.98")], [D("28.98")]]

    import orders.views

    def failing(request, number):
        program_get_for_quote(
            program_id=Item.objects.get(item_number="88000").continuity_program_id
        )
        raise RuntimeError("the request fails inside the block")

    monkeypatch.setattr(orders.views, "_order_line_add", failing)
    with pytest.raises(RuntimeError):
        client.post(url, {"item_number": "88000", "quantity": "1"})
    assert no_block_open()


@pytest.mark.django_db
def test_a_block_inside_a_block_keeps_the_outers_programs_and_quoting_changes_none(demo):
    """Within a block each program is read once and shared: quoting it (a plan, twice)
    must leave it as read; a block inside keeps the outer's program; an edit made in the
    block is seen once the outer block ends."""
    program_id = Item.objects.get(item_number="88000").continuity_program_id
    box = ProgramEventLine.objects.filter(event__program_id=program_id, item__item_number="0015")
    with programs_read_once():
        program = program_get_for_quote(program_id=program_id)
        plan = ProgramPlan.of_program(program)
        first_quote = program_line_quote(
            Item.objects.get(item_number="88000"), start_date=None, today=business_date()
        )
        box.update(unit_price=D("10.99"))
        with programs_read_once():
            assert program_get_for_quote(program_id=program_id) is program
        assert program_get_for_quote(program_id=program_id) is program
        second_quote = program_line_quote(
            Item.objects.get(item_number="88000"),
            start_date=None,
            quantity=2,
            today=business_date(),
        )
        assert ProgramPlan.of_program(program) == plan
    assert not _programs_read.active()
    assert first_quote.due_now == D("27.98")
    assert second_quote.occurrences[0].amount == D("55.96")
    after = program_get_for_quote(program_id=program_id)
    assert after is not program
    assert {
        line.unit_price
        for lines in ProgramPlan.of_program(after).lines.values()
        for line in lines
        if line.item_number == "0015"
    } == {D("10.99")}


@pytest.mark.django_db
def test_the_ship_to_page_previews_in_a_block_what_its_confirmation_stores(demo):
    """The same through the page: the preview step (in a tax block) shows 35.63 and
    35.97; the confirmation (outside one) stores them, and the request leaves no block."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    first, second, third, *_rest = shipments(order)
    address = portland_with_ranges(second.ship_date, third.ship_date)
    client = Client()
    client.force_login(get_user_model().objects.get(username="agent"))
    url = reverse("continuity:action", args=[first.subscription_id, "change_ship_to"])
    values = {"address": str(address.pk), "reason_code": "MOVED"}

    page = client.post(url, {**values, "step": "preview"})
    assert page.status_code == 200
    effects = " | ".join(str(text) for text in page.context["effects"])
    assert "35.63" in effects and "35.97" in effects, effects
    assert no_block_open()

    done = client.post(url, {**values, "step": "confirm"})
    assert done.status_code == 302
    assert amounts(order) == [D("37.40"), D("35.63")] + [D("35.97")] * 4
    assert audit_findings() == []
    assert no_block_open()


# --- The SQLite path (make run) ---------------------------------------------------------

SQLITE_SCRIPT = """
import datetime
from decimal import Decimal as D
from customers.models import Address, Customer
from orders.pricing import GoodsLine, document_price
from orders.tax.models import TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate
from orders.tax.selectors import tax_jurisdiction_for_place, tax_rates_on, tax_tables_read_once
day = datetime.date(2026, 12, 31)
standard = TaxGroup.objects.create(
    code="STD", name_en="S", name_fr="S", kind=TaxGroupKind.STANDARD, is_default=True
)
place = TaxJurisdiction.objects.create(
    name="Seattle", country="US", region="wa", postal_prefix="981"
)
TaxJurisdiction.objects.create(name="Washington", country="US", region="WA", postal_prefix="")
TaxRate.objects.create(
    jurisdiction=place, group=standard, rate=D("10.25"),
    effective_from=datetime.date(2000, 1, 1), effective_to=day,
)
TaxRate.objects.create(
    jurisdiction=place, group=standard, rate=D("8.00"),
    effective_from=day + datetime.timedelta(days=1),
)
customer = Customer.objects.create(account_number="009001", first_name="Ada", last_name="Lite")
address = Address.objects.create(
    customer=customer, street="1 Pine", city="Seattle", state=" Wa", postal_code="98101-1234",
    country="us",
)
days = [day + datetime.timedelta(days=offset) for offset in (-1, 0, 1, 2)]
def answers():
    rates = [
        str(tax_rates_on(jurisdiction_id=place.pk, group_ids={standard.pk}, day=d)[standard.pk]
            .rate)
        for d in days
    ]
    where = [
        getattr(tax_jurisdiction_for_place(country=c, region=r, postal_code=p), "name", None)
        for c, r, p in [("us", " wa", "98101-1234"), ("US", "WA", "99201"), ("US", "", "98101")]
    ]
    taxes = [
        str(document_price(
            goods=[GoodsLine(key="1", amount=D("27.98"), units=2)], ship_to=address,
            delivery_mode=None, currency="USD", on_date=d,
        ).tax)
        for d in days
    ]
    return rates, where, taxes
print("outside", answers())
with tax_tables_read_once():
    print("inside", answers())
"""


def test_on_sqlite_a_block_picks_the_rates_and_places_the_queries_pick(tmp_path):
    """`make run` keeps its data in SQLite: a block's rates (last day of a range, first
    of the next) and places (a region and country in another case, a +4 postal code)
    are those the queries give there too, and so is the tax: 27.98 at 10.25 % = 2.87,
    at 8 % = 2.24."""
    manage, env = sqlite_migrated(tmp_path)
    ran = subprocess.run(
        [*manage, "shell", "-c", SQLITE_SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    expected = (
        "(['10.2500', '10.2500', '8.0000', '8.0000'], ['Seattle', 'Washington', None], "
        "['2.87', '2.87', '2.24', '2.24'])"
    )
    assert ran.stdout.strip().splitlines()[-2:] == [f"outside {expected}", f"inside {expected}"]
