"""Attacks on exactly-once, exactly-right money with delivery and tax (issue 13).

An administrator changes a rate, a delivery mode, an item's tax group or the price tax
basis, or an agent changes a ship-to or a delivery mode, while an order is between
Complete and Submit, while a charge is on the wire (tests.gated_gateway: one thread's
gateway call is held while this thread acts with its own connection), or before a
retry, a refund or a child order. Each test asserts the exact amounts, worked out by
hand, and that the money audit finds nothing.

Karen Berg ships to Seattle, WA (98101): 10.25 % on goods and delivery; Standard
delivery 5.95, free from 50.00 (tests.continuity.test_money_audit_parts.seattle). A box
of 88000 is 17.99 + 9.99 = 27.98: tax 1.84 + 1.02, delivery 5.95 with 0.61, 37.40.
At 8 %: 1.44 + 0.80 (17.99 x 0.08 = 1.4392, 9.99 x 0.08 = 0.7992), delivery 0.48
(0.476): tax 2.72, 36.65.
"""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from continuity.dunning import occurrence_retry_now
from continuity.models import (
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    PaymentAllocation,
    Subscription,
)
from continuity.subscription_actions.card_and_ship_to import subscription_change_ship_to
from continuity.subscription_actions.shipments import subscription_skip_shipment
from core.actors import Actor
from core.errors import Conflict
from core.models import AuditEntry
from customers.models import Address, AddressKind
from orders.delivery import DeliveryMode
from orders.models import Item, SalesOrder, SalesOrderLine
from orders.services import (
    sales_order_complete,
    sales_order_delivery_mode_set,
    sales_order_submit,
)
from orders.tax.models import PriceTaxBasis, TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate
from orders.tax.provider import TaxUnavailable
from payments.models import Payment, PaymentOperation, PaymentStatus
from tests.continuity.test_money_audit_parts import seattle
from tests.continuity.test_money_findings import (
    audit_findings,
    gateway_sales,
    give_card,
    in_thread,
    run_payments,
    second_due_today,
    shipments,
)
from tests.gated_gateway import gateway_gate
from tests.payments.support import APPROVE, SOFT_DECLINE, karen, ledger_sales, order_ready

ACTOR = Actor.job("test")
SUPERVISOR = Actor.job("supervisor")
D = Decimal

race = pytest.mark.django_db(transaction=True)


# --- What an administrator or an agent changes -----------------------------------------


def rate_set(rate: str) -> None:
    """An administrator edits Seattle's rates (goods and delivery) in place."""
    TaxRate.objects.filter(jurisdiction__name="Seattle, WA").update(rate=D(rate))


def delivery_amount_set(amount: str) -> None:
    DeliveryMode.objects.filter(code="STD").update(amount=D(amount))


def item_exempt(item_number: str) -> None:
    group, _created = TaxGroup.objects.get_or_create(
        code="EXEMPT", defaults={"kind": TaxGroupKind.EXEMPT, "name_en": "Ex", "name_fr": "Ex"}
    )
    Item.objects.filter(item_number=item_number).update(tax_group=group)


def prices_include_tax_set() -> None:
    PriceTaxBasis.objects.update_or_create(currency="USD", defaults={"prices_include_tax": True})


ADMIN_CHANGES = {
    "rate": lambda: rate_set("8.00"),
    "delivery_mode": lambda: delivery_amount_set("7.00"),
    "item_tax_group": lambda: item_exempt("0013"),
    "price_basis": prices_include_tax_set,
}

# A box of 88000 priced after each change:
# rate: 36.65 (above).
# delivery_mode: delivery 7.00, its tax 0.7175 -> 0.72: 27.98 + 7.00 + 1.84 + 1.02 + 0.72.
# item_tax_group: 0013 exempt: 27.98 + 5.95 + 1.02 + 0.61.
# price_basis: the prices hold the tax: 27.98 + 5.95, tax inside 1.67 + 0.93 + 0.55
#   (17.99 x 10.25 / 110.25 = 1.6725, 9.99 -> 0.9288, 5.95 -> 0.5532).
BOX_AFTER = {
    "rate": (D("36.65"), D("2.72")),
    "delivery_mode": (D("38.56"), D("3.58")),
    "item_tax_group": (D("35.56"), D("1.63")),
    "price_basis": (D("33.93"), D("3.15")),
}
BOX = (D("37.40"), D("3.47"))


def portland(customer=None, *, delivery_rate: bool = True) -> Address:
    """A shipping address of the customer in Portland, OR: no jurisdiction collects tax
    there, unless delivery_rate=False makes it one that taxes goods only (its delivery
    line cannot be taxed)."""
    if not delivery_rate:
        place = TaxJurisdiction.objects.create(
            country="US", region="OR", postal_prefix="972", name="Portland, OR"
        )
        TaxRate.objects.create(
            jurisdiction=place,
            group=TaxGroup.objects.get(kind=TaxGroupKind.STANDARD, is_default=True),
            rate=D("5.00"),
            effective_from=datetime.date(2000, 1, 1),
        )
    return Address.objects.create(
        customer=customer or karen(),
        kind=AddressKind.SHIPPING,
        street="1 SW Main St",
        city="Portland",
        state="OR",
        postal_code="97204",
        country="US",
    )


def ledger_amounts(order) -> list[Decimal]:
    """What the gateway took for the order's submit, in the currency's units."""
    return [D(row.amount_minor) / 100 for row in ledger_sales(order).order_by("id")]


def charged(occurrence) -> list[tuple[Decimal, str]]:
    return list(
        Payment.objects.filter(occurrence=occurrence, operation=PaymentOperation.SALE)
        .order_by("pk")
        .values_list("amount", "status")
    )


def allocations(occurrence) -> list[Decimal]:
    return list(
        PaymentAllocation.objects.filter(occurrence=occurrence)
        .order_by("pk")
        .values_list("amount", flat=True)
    )


def refunded(occurrence) -> list[Decimal]:
    return list(
        Payment.objects.filter(
            occurrence=occurrence,
            operation=PaymentOperation.REFUND,
            status=PaymentStatus.APPROVED,
        ).values_list("amount", flat=True)
    )


def parts(occurrence) -> tuple:
    occurrence.refresh_from_db()
    return (occurrence.amount, occurrence.tax_amount)


def line_taxes(occurrence) -> list[Decimal]:
    return list(
        OccurrenceLine.objects.filter(occurrence=occurrence)
        .order_by("line_number")
        .values_list("tax_amount", flat=True)
    )


def last_entry_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- (a) Between Complete and Submit -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("change", sorted(ADMIN_CHANGES))
def test_a_change_between_complete_and_submit_charges_nothing_until_completed_again(demo, change):
    seattle()
    order = order_ready(ACTOR, APPROVE)
    assert order.amount_due == BOX[0]
    ADMIN_CHANGES[change]()
    with pytest.raises(Conflict, match="amount due changed"):
        sales_order_submit(order_id=order.pk, actor=ACTOR)
    order.refresh_from_db()
    assert order.status == "open"
    assert order.amount_due == BOX[0]
    assert not Payment.objects.filter(sales_order=order).exists()
    assert not ledger_sales(order).exists()
    assert not Subscription.objects.filter(parent_order=order).exists()
    # Completed again, it charges what the agent reads out now.
    sales_order_complete(order_id=order.pk, actor=ACTOR)
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    order.refresh_from_db()
    total, tax = BOX_AFTER[change]
    assert (order.status, order.amount_due, order.tax_amount) == ("submitted", total, tax)
    first = shipments(order)[0]
    assert parts(first) == (total, tax)
    assert allocations(first) == [total]
    assert ledger_amounts(order) == [total]
    assert audit_findings() == []


# --- (b) While the submit's charge is on the wire ---------------------------------------


@race
@pytest.mark.parametrize("change", sorted(ADMIN_CHANGES))
def test_a_change_while_the_submit_is_on_the_wire_stores_what_was_charged(
    demo, gated_gateway, change
):
    """The first shipment stores exactly what the sale took (its parts as priced at the
    submit's check); the later shipments, priced after the change, cost the new price."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        ADMIN_CHANGES[change]()
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    assert (order.status, order.amount_due, order.tax_amount) == ("submitted", *BOX)
    first, second = shipments(order)[:2]
    assert parts(first) == BOX
    assert line_taxes(first) == [D("1.84"), D("1.02")]
    assert (first.delivery_amount, first.delivery_tax_amount) == (D("5.95"), D("0.61"))
    assert first.prices_include_tax is False
    assert allocations(first) == [D("37.40")]
    assert ledger_amounts(order) == [D("37.40")]
    # A later shipment costs the new price; a new basis does not apply to goods already
    # sold before tax (they are re-taxed on the basis they were sold with).
    assert parts(second) == (BOX if change == "price_basis" else BOX_AFTER[change])
    assert audit_findings() == []


@race
def test_an_agent_cannot_change_the_delivery_mode_while_the_submit_is_on_the_wire(
    demo, gated_gateway
):
    seattle()
    DeliveryMode.objects.create(code="EXP", name_en="Express", name_fr="Express", amount=D("15.00"))
    order = order_ready(ACTOR, APPROVE)
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        before = last_entry_id()
        with pytest.raises(Conflict, match="being confirmed"):
            sales_order_delivery_mode_set(order_id=order.pk, code="EXP", actor=ACTOR)
        assert AuditEntry.objects.filter(pk__gt=before).count() == 0
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    # Submitted with the default mode it was priced with, not the one refused.
    assert (order.status, order.delivery_mode.code, order.amount_due) == (
        "submitted",
        DeliveryMode.objects.get(is_default=True).code,
        BOX[0],
    )
    assert parts(shipments(order)[0]) == BOX
    assert audit_findings() == []


# --- (c) While a shipment's charge is on the wire ----------------------------------------


@race
def test_a_rate_and_a_ship_to_change_while_a_shipment_charges_keep_the_charged_amount(
    sell, gated_gateway
):
    """Shipment 2's sale is on the wire at 37.40; meanwhile Seattle's rate becomes 8 % and
    the subscription moves to Portland (no tax there). Shipment 2 keeps what its sale took;
    shipment 3, not charged yet, is re-taxed for Portland: 27.98 + 5.95 = 33.93."""
    seattle()
    second_due_today()
    order = sell()
    second, third = shipments(order)[1:3]
    subscription = second.subscription
    new_address = portland()
    with gateway_gate("sale") as gate:
        worker, outcome = in_thread(run_payments)
        assert gate.reached.wait(10)
        rate_set("8.00")
        subscription_change_ship_to(
            subscription_id=subscription.pk,
            address_id=new_address.pk,
            actor=ACTOR,
            reason_code="MOVED",
        )
        second.refresh_from_db()
        assert (second.status, second.amount) == (OccurrenceStatus.CHARGING, D("37.40"))
        gate.release()
        worker.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert parts(second) == BOX
    assert charged(second) == [(D("37.40"), PaymentStatus.APPROVED)]
    assert allocations(second) == [D("37.40")]
    assert gateway_sales(second) == [True]
    assert parts(third) == (D("33.93"), D("0.00"))
    assert third.priced_ship_to_id == new_address.pk
    assert audit_findings() == []


# --- Replays and retries ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_declined_shipment_retried_after_a_rate_change_charges_the_new_amount(sell):
    """The declined sale took nothing: its 37.40 does not matter. The retry re-taxes the
    shipment at 8 % and charges 36.65, which its allocation and parts say."""
    seattle()
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, SOFT_DECLINE)
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_DECLINED
    rate_set("8.00")
    give_card(second.subscription, APPROVE)
    occurrence_retry_now(occurrence_id=second.pk, actor=SUPERVISOR, reason="new card")
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert charged(second) == [
        (D("37.40"), PaymentStatus.DECLINED),
        (D("36.65"), PaymentStatus.APPROVED),
    ]
    assert parts(second) == (D("36.65"), D("2.72"))
    assert line_taxes(second) == [D("1.44"), D("0.80")]
    assert second.delivery_tax_amount == D("0.48")
    assert allocations(second) == [D("36.65")]
    assert gateway_sales(second) == [False, True]
    repriced = AuditEntry.objects.get(action="shipment_repriced", object_id=str(second.pk))
    assert (repriced.details["from"], repriced.details["to"], repriced.details["why"]) == (
        "37.40",
        "36.65",
        "tax_rates",
    )
    assert audit_findings() == []


@pytest.mark.django_db
def test_submit_twice_after_a_rate_change_charges_once(demo):
    seattle()
    order = order_ready(ACTOR, APPROVE)
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    rate_set("8.00")
    again = sales_order_submit(order_id=order.pk, actor=ACTOR)
    assert again.status == "submitted"
    assert ledger_amounts(order) == [D("37.40")]
    assert Payment.objects.filter(sales_order=order, operation="sale").count() == 1
    assert parts(shipments(order)[0]) == BOX
    assert audit_findings() == []


# --- Refunds ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_paid_shipment_skipped_after_a_rate_and_ship_to_change_refunds_what_it_took(sell):
    seattle()
    second_due_today()
    order = sell()
    run_payments()
    second = shipments(order)[1]
    second.refresh_from_db()
    assert (second.status, second.amount) == (OccurrenceStatus.PAID, D("37.40"))
    rate_set("8.00")
    subscription_change_ship_to(
        subscription_id=second.subscription_id,
        address_id=portland().pk,
        actor=ACTOR,
        reason_code="MOVED",
    )
    # A paid shipment keeps the tax it was charged.
    assert parts(second) == BOX
    subscription_skip_shipment(
        subscription_id=second.subscription_id,
        occurrence_id=second.pk,
        actor=ACTOR,
        reason_code="CUSTOMER",
    )
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.SKIPPED
    assert refunded(second) == [D("37.40")]
    assert audit_findings() == []


@pytest.mark.django_db
def test_a_program_billed_up_front_allocates_its_sale_exactly_and_refunds_one_shipment(sell):
    """88001: three shipments of 2 x 10.50 = 21.00, each its own document: tax 2.1525 ->
    2.15, delivery 5.95 with 0.61: 29.71 each, 89.13 in one sale. Skipping the third after
    a rate change refunds 29.71, what its allocation holds."""
    seattle()
    order = sell("88001")
    assert order.amount_due == D("89.13")
    sale = Payment.objects.get(sales_order=order, occurrence=None, operation="sale")
    assert sale.amount == D("89.13")
    boxes = shipments(order)
    assert [parts(box) for box in boxes] == [(D("29.71"), D("2.76"))] * 3
    assert [allocations(box) for box in boxes] == [[D("29.71")]] * 3
    rate_set("8.00")
    subscription_skip_shipment(
        subscription_id=boxes[2].subscription_id,
        occurrence_id=boxes[2].pk,
        actor=ACTOR,
        reason_code="CUSTOMER",
    )
    assert refunded(boxes[2]) == [D("29.71")]
    assert audit_findings() == []


# --- Bad input: a place that cannot be taxed ---------------------------------------------


@pytest.mark.django_db
def test_a_ship_to_change_to_a_place_that_cannot_be_taxed_is_refused_and_writes_nothing(sell):
    seattle()
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    address = portland(delivery_rate=False)
    before = last_entry_id()
    amounts = [parts(box) for box in shipments(order)]
    with pytest.raises(TaxUnavailable, match="No rate of the tax group DELIVERY in Portland, OR"):
        subscription_change_ship_to(
            subscription_id=subscription.pk,
            address_id=address.pk,
            actor=ACTOR,
            reason_code="MOVED",
        )
    subscription.refresh_from_db()
    assert subscription.ship_to_id != address.pk
    assert [parts(box) for box in shipments(order)] == amounts
    assert AuditEntry.objects.filter(pk__gt=before).count() == 0


@pytest.mark.django_db
def test_a_shipment_that_cannot_be_taxed_at_its_charge_is_not_charged(sell):
    seattle()
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    Subscription.objects.filter(pk=second.subscription_id).update(
        ship_to=portland(delivery_rate=False)
    )
    run_payments()
    second.refresh_from_db()
    assert (second.status, second.amount) == (OccurrenceStatus.SCHEDULED, D("37.40"))
    assert charged(second) == []
    assert gateway_sales(second) == []
    assert audit_findings() == []


@pytest.mark.django_db
def test_an_order_that_cannot_be_taxed_at_submit_charges_nothing(demo):
    """Complete priced it; then the administrator ends the delivery rate: submit stops
    with the reason, nothing is charged or written."""
    seattle()
    order = order_ready(ACTOR, APPROVE)
    TaxRate.objects.filter(group__kind=TaxGroupKind.DELIVERY).delete()
    with pytest.raises(TaxUnavailable):
        sales_order_submit(order_id=order.pk, actor=ACTOR)
    order.refresh_from_db()
    assert (order.status, order.amount_due) == ("open", BOX[0])
    assert not Payment.objects.filter(sales_order=order).exists()
    assert not ledger_sales(order).exists()


@pytest.mark.django_db
def test_a_line_that_cannot_be_taxed_is_not_added(demo):
    from orders.services import sales_order_create, sales_order_line_add

    seattle()
    customer = karen()
    order = sales_order_create(customer=customer, actor=ACTOR)
    SalesOrder.objects.filter(pk=order.pk).update(ship_to=portland(delivery_rate=False))
    with pytest.raises(TaxUnavailable):
        sales_order_line_add(order_id=order.pk, item_number="88000", actor=ACTOR)
    assert not SalesOrderLine.objects.filter(order=order).exists()
    order.refresh_from_db()
    assert (order.total, order.amount_due) == (D("0.00"), D("0.00"))


# --- Bad input: delivery mode codes -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code",
    ["EXP RESS", "ÉXPRÈS", "X" * 500, "EXP\u200b", "EXP\x00", "INACTIVE", "'; DROP TABLE x; --"],
)
def test_a_bad_delivery_mode_code_is_refused_and_writes_nothing(demo, code):
    seattle()
    DeliveryMode.objects.create(code="EXP", name_en="Express", name_fr="Express", amount=D("15.00"))
    DeliveryMode.objects.create(
        code="INACTIVE", name_en="Old", name_fr="Ancien", amount=D("1.00"), active=False
    )
    order = order_ready(ACTOR, APPROVE)
    before = last_entry_id()
    with pytest.raises(ValidationError) as error:
        sales_order_delivery_mode_set(order_id=order.pk, code=code, actor=ACTOR)
    assert "delivery_mode" in error.value.message_dict
    order.refresh_from_db()
    assert (order.delivery_mode_id, order.amount_due) == (None, BOX[0])
    assert order.completed_at is not None
    assert AuditEntry.objects.filter(pk__gt=before).count() == 0


@pytest.mark.django_db
def test_a_delivery_mode_code_in_any_case_with_spaces_around_is_that_mode(demo):
    """exp : Express 15.00 (under 50.00 and never free): 27.98 + 15.00, tax 1.84 + 1.02 +
    1.54 (15.00 x 0.1025 = 1.5375): 47.38; the order goes back through Complete."""
    seattle()
    express = DeliveryMode.objects.create(
        code="EXP", name_en="Express", name_fr="Express", amount=D("15.00")
    )
    order = order_ready(ACTOR, APPROVE)
    sales_order_delivery_mode_set(order_id=order.pk, code="  exp ", actor=ACTOR)
    order.refresh_from_db()
    assert (order.delivery_mode_id, order.amount_due, order.completed_at) == (
        express.pk,
        D("47.38"),
        None,
    )
    with pytest.raises(ValidationError):
        sales_order_submit(order_id=order.pk, actor=ACTOR)
    assert not Payment.objects.filter(sales_order=order).exists()


@race
@pytest.mark.parametrize("edit", ["price", "line_added"])
def test_a_program_edited_while_the_submit_is_on_the_wire_still_submits_the_charged_order(
    demo, gated_gateway, edit
):
    """An administrator edits program WELLNESS6's box while the submit's sale is on the
    wire (0015 from 9.99 to 10.99, or a third line added). The card was charged 37.40 for
    the box as priced at the check: the order must be submitted and its subscription
    started (the answer recorded), never left with money taken and no subscription, and
    its first shipment is the box the sale took; the later ones follow the program."""
    from continuity.models import ProgramEventLine

    seattle()
    order = order_ready(ACTOR, APPROVE)
    box = ProgramEventLine.objects.filter(
        event__program__code="WELLNESS6", event__event_number=1
    ).order_by("id")
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        if edit == "price":
            box.filter(item__item_number="0015").update(unit_price=D("10.99"))
        else:
            ProgramEventLine.objects.create(
                event=box[0].event, item=Item.objects.get(item_number="0014"), unit_price=D("1.00")
            )
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    assert order.status == "submitted"
    sale = Payment.objects.get(sales_order=order, occurrence=None, operation="sale")
    assert (sale.status, sale.amount) == (PaymentStatus.APPROVED, D("37.40"))
    assert ledger_amounts(order) == [D("37.40")]
    assert Subscription.objects.filter(parent_order=order).count() == 1
    # The first shipment is the box the sale took, lines, parts and allocation.
    first = shipments(order)[0]
    assert parts(first) == BOX
    assert list(
        OccurrenceLine.objects.filter(occurrence=first)
        .order_by("line_number")
        .values_list("amount", "tax_amount")
    ) == [(D("17.99"), D("1.84")), (D("9.99"), D("1.02"))]
    assert allocations(first) == [D("37.40")]
    assert audit_findings() == []


# --- What a shipment stores is what it was priced --------------------------------------


@pytest.mark.django_db
def test_a_delivery_rate_change_that_leaves_the_charge_alike_is_still_stored(sell):
    """Seattle's delivery rate goes from 10.25 % to 10.26 %: 5.95 x 0.1026 = 0.610 -> 0.61,
    the same charge, 37.40. The shipment charged after it must say the rate it was taxed
    at (its receipt shows it), not the old one."""
    seattle()
    second_due_today()
    order = sell()
    TaxRate.objects.filter(group__kind=TaxGroupKind.DELIVERY).update(rate=D("10.26"))
    run_payments()
    second = shipments(order)[1]
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert (second.amount, second.delivery_tax_amount, second.delivery_tax_rate) == (
        D("37.40"),
        D("0.61"),
        D("10.2600"),
    )
    assert charged(second) == [(D("37.40"), PaymentStatus.APPROVED)]
    assert audit_findings() == []


# --- Child orders ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_rate_change_while_child_orders_are_made_copies_what_was_charged(sell, today):
    """Child orders copy their shipments' stored parts: a rate changed after the charge
    changes nothing of them."""
    from continuity.child_orders import child_orders_create

    seattle()
    order = sell()
    first = shipments(order)[0]
    rate_set("8.00")
    result = child_orders_create(groups=[[first.pk]], run_date=today, actor=ACTOR)
    assert result.problems == ()
    child = SalesOrder.objects.get(number=result.order_numbers[0])
    assert (child.total, child.subtotal, child.delivery_amount, child.tax_amount) == (
        D("37.40"),
        D("27.98"),
        D("5.95"),
        D("3.47"),
    )
    assert list(child.lines.order_by("line_number").values_list("tax_amount", flat=True)) == [
        D("1.84"),
        D("1.02"),
    ]
    assert audit_findings() == []


@pytest.mark.django_db
def test_shipments_consolidated_across_a_price_basis_change_make_one_child_order(sell, today):
    """88002 (22.00 a month, consolidates): shipment 1 paid at submit with prices before
    tax: 22.00 + 5.95 + 2.26 (2.255) + 0.61 = 30.82. The administrator then says USD
    prices include tax; shipment 2 was sold before tax and is re-taxed on that basis, not
    the currency's new one (22.00 + tax never becomes 22.00 with tax inside): 30.82 too.
    Both due together, they make one child order of 61.64."""
    from continuity.child_orders import child_orders_create

    seattle()
    second_due_today()
    order = sell("88002", start_date=today)
    prices_include_tax_set()
    run_payments()
    first, second = shipments(order)[:2]
    assert (parts(first), parts(second)) == (
        (D("30.82"), D("2.87")),
        (D("30.82"), D("2.87")),
    )
    assert [first.prices_include_tax, second.prices_include_tax] == [False, False]
    result = child_orders_create(groups=[[first.pk, second.pk]], run_date=today, actor=ACTOR)
    assert result.problems == ()
    child = SalesOrder.objects.get(number=result.order_numbers[0])
    assert (child.total, child.tax_amount, child.prices_include_tax) == (
        D("61.64"),
        D("5.74"),
        False,
    )
    assert audit_findings() == []


# --- Reactivation ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cancelled_shipment_reactivated_after_a_rate_change_is_charged_the_new_amount(sell):
    """Cancel refunds shipment 1's 37.40; reactivated after Seattle goes to 8 %, it is
    charged again when due: 36.65, its new parts; its first allocation stays refunded."""
    from continuity.subscription_actions.cancel import (
        subscription_cancel,
        subscription_reactivate,
    )

    seattle()
    order = sell()
    first = shipments(order)[0]
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    assert refunded(first) == [D("37.40")]
    rate_set("8.00")
    subscription_reactivate(
        subscription_id=first.subscription_id, actor=ACTOR, reason_code="WINBACK"
    )
    run_payments()
    first.refresh_from_db()
    assert first.status == OccurrenceStatus.PAID
    assert parts(first) == (D("36.65"), D("2.72"))
    assert allocations(first) == [D("37.40"), D("36.65")]
    assert refunded(first) == [D("37.40")]
    assert audit_findings() == []


# --- The money audit finds what was planted ---------------------------------------------


@pytest.mark.django_db
def test_the_audit_finds_a_paid_shipment_taxed_again_after_its_charge(sell):
    """A paid shipment must never change: taxed again after a rate change (a bug planted
    by hand), its 36.65 no longer matches the 37.40 its sale took."""
    from continuity.pricing import occurrence_price_again

    seattle()
    order = sell()
    first = shipments(order)[0]
    rate_set("8.00")
    assert occurrence_price_again(first, subscription=first.subscription, actor=ACTOR)
    findings = audit_findings()
    assert len(findings) == 1
    assert findings[0].startswith("shipment_net_mismatch")
    assert "amount 36.65, captured 37.40" in findings[0]


@pytest.mark.django_db
def test_the_audit_finds_a_shipment_whose_delivery_tax_is_not_in_its_tax(sell):
    seattle()
    order = sell()
    second = shipments(order)[1]
    # The delivery's tax moved a cent without the document's tax (and total) following.
    Occurrence.objects.filter(pk=second.pk).update(delivery_tax_amount=D("0.60"))
    findings = audit_findings()
    assert [finding.split(":")[0] for finding in findings] == ["price_parts_mismatch"]


# --- More replays and mixed documents ----------------------------------------------------


@pytest.mark.django_db
def test_a_submit_whose_answer_was_lost_settles_at_the_amount_it_charged_after_changes(demo):
    """The submit's answer is lost (the gateway charged 37.40); meanwhile Seattle goes to
    8 % and Standard delivery to 7.00. The next submit looks the sale up and starts the
    subscription with the first shipment as charged."""
    from payments.services import PaymentOutcomeUnknown
    from tests.payments.support import TIMEOUT_AFTER_CHARGE

    seattle()
    order = order_ready(ACTOR, TIMEOUT_AFTER_CHARGE)
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=order.pk, actor=ACTOR)
    rate_set("8.00")
    delivery_amount_set("7.00")
    order = sales_order_submit(order_id=order.pk, actor=ACTOR)
    assert (order.status, order.amount_due) == ("submitted", D("37.40"))
    assert ledger_amounts(order) == [D("37.40")]
    first, second = shipments(order)[:2]
    assert parts(first) == BOX
    assert allocations(first) == [D("37.40")]
    # Shipment 2, priced now: 27.98 + 7.00, tax 1.44 + 0.80 + 0.56 (7.00 x 0.08).
    assert parts(second) == (D("37.78"), D("2.80"))
    assert audit_findings() == []


@pytest.mark.django_db
def test_a_declined_submit_retried_after_a_rate_change_charges_nothing_until_completed_again(
    demo,
):
    from payments.services import PaymentDeclined
    from tests.payments.support import card_of_karen

    seattle()
    order = order_ready(ACTOR, SOFT_DECLINE)
    with pytest.raises(PaymentDeclined):
        sales_order_submit(order_id=order.pk, actor=ACTOR)
    rate_set("8.00")
    from orders.services import sales_order_payment_set

    card = card_of_karen(ACTOR, APPROVE)
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=ACTOR)
    with pytest.raises(Conflict, match="amount due changed"):
        sales_order_submit(order_id=order.pk, actor=ACTOR)
    assert [row.approved for row in ledger_sales(order)] == [False]
    sales_order_complete(order_id=order.pk, actor=ACTOR)
    sales_order_submit(order_id=order.pk, actor=ACTOR)
    assert ledger_amounts(order) == [D("37.40"), D("36.65")]
    assert [row.approved for row in ledger_sales(order).order_by("id")] == [False, True]
    assert parts(shipments(order)[0]) == (D("36.65"), D("2.72"))
    assert allocations(shipments(order)[0]) == [D("36.65")]
    assert audit_findings() == []


@race
def test_an_order_with_its_own_goods_and_a_program_keeps_both_documents_on_a_rate_change(
    demo, gated_gateway
):
    """Item 0013 (19.99 off the program) ships with the order: 19.99 + 5.95, tax 2.05
    (2.049) + 0.61 = 28.60; the first box 37.40: 66.00 due, in one sale; the box's
    allocation is its 37.40. The rate changes while the sale is on the wire: nothing of it
    moves."""
    from orders.services import sales_order_create, sales_order_line_add, sales_order_payment_set
    from tests.payments.support import card_of_karen

    seattle()
    order = sales_order_create(customer=karen(), actor=ACTOR)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=ACTOR)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=ACTOR)
    sales_order_complete(order_id=order.pk, actor=ACTOR)
    card = card_of_karen(ACTOR, APPROVE)
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=ACTOR)
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        rate_set("8.00")
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    assert (order.status, order.subtotal, order.delivery_amount, order.tax_amount) == (
        "submitted",
        D("47.97"),
        D("11.90"),
        D("6.13"),
    )
    assert order.amount_due == D("66.00")
    assert ledger_amounts(order) == [D("66.00")]
    first = shipments(order)[0]
    assert parts(first) == BOX
    assert allocations(first) == [D("37.40")]
    assert audit_findings() == []


@race
def test_a_program_billed_up_front_keeps_its_allocations_when_a_rate_changes_on_the_wire(
    demo, gated_gateway
):
    seattle()
    order = order_ready(ACTOR, APPROVE, item_number="88001")
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        rate_set("8.00")
        delivery_amount_set("7.00")
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    boxes = shipments(order)
    assert [parts(box) for box in boxes] == [(D("29.71"), D("2.76"))] * 3
    assert [allocations(box) for box in boxes] == [[D("29.71")]] * 3
    assert ledger_amounts(order) == [D("89.13")]
    assert audit_findings() == []


@race
def test_a_ship_to_change_during_a_charge_that_is_declined_is_taxed_at_the_retry(
    sell, gated_gateway
):
    """Shipment 2's sale (37.40, Seattle) is on the wire and declined; the subscription
    moved to Portland meanwhile. The retry re-taxes it for Portland: 33.93."""
    seattle()
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    subscription = second.subscription
    give_card(subscription, SOFT_DECLINE)
    new_address = portland()
    with gateway_gate("sale") as gate:
        worker, outcome = in_thread(run_payments)
        assert gate.reached.wait(10)
        subscription_change_ship_to(
            subscription_id=subscription.pk,
            address_id=new_address.pk,
            actor=ACTOR,
            reason_code="MOVED",
        )
        gate.release()
        worker.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert (second.status, second.amount) == (OccurrenceStatus.PAYMENT_DECLINED, D("37.40"))
    give_card(subscription, APPROVE)
    occurrence_retry_now(occurrence_id=second.pk, actor=SUPERVISOR, reason="new card")
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert (second.amount, second.tax_amount, second.tax_jurisdiction) == (
        D("33.93"),
        D("0.00"),
        "",
    )
    assert second.priced_ship_to_id == new_address.pk
    assert charged(second) == [
        (D("37.40"), PaymentStatus.DECLINED),
        (D("33.93"), PaymentStatus.APPROVED),
    ]
    assert allocations(second) == [D("33.93")]
    assert audit_findings() == []


@race
def test_a_prepaid_program_shortened_while_the_submit_is_on_the_wire_keeps_every_paid_box(
    demo, gated_gateway
):
    """88001 (three boxes of 29.71, 89.13 in one sale): the administrator cuts it to two
    boxes while the sale is on the wire. The customer paid for three: three shipments must
    hold the sale, 29.71 each."""
    from continuity.models import ProgramEvent

    seattle()
    order = order_ready(ACTOR, APPROVE, item_number="88001")
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        ProgramEvent.objects.filter(program__code="TEA3PREPAID").update(repeat_count=2)
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    assert ledger_amounts(order) == [D("89.13")]
    boxes = shipments(order)
    assert [allocations(box) for box in boxes] == [[D("29.71")]] * 3
    assert audit_findings() == []
