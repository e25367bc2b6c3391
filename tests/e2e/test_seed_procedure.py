"""The seed procedure, steps 1 to 7, in the browser, in English and in French, and the declined-card
path of step 7."""

from decimal import Decimal

from playwright.sync_api import expect

from continuity.models import Occurrence, OccurrenceStatus, Subscription
from orders.models import SalesOrder, SalesOrderKind, SalesOrderStatus
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentStatus

from . import seed
from .conftest import log_in
from .words import Words

SOFT_DECLINE_CARD = "4000 0000 0000 0002"
SECOND_GOOD_CARD = "4242 4242 4242 4242"


def bank_charges(payments) -> list[tuple[bool, int]]:
    """What the gateway simulator's own ledger says about these payments' requests."""
    keys = [payment.idempotency_key for payment in payments]
    return list(
        SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__in=keys)
        .order_by("id")
        .values_list("approved", "amount_minor")
    )


def walk_seed_steps_1_to_7(new_page, shots, language):
    words = Words(language)
    page = new_page(words.locale)
    log_in(page, user_label=words["User name"], password_label=words["Password"])
    expect(page.locator("html")).to_have_attribute("lang", language)

    seed.step_1_find_karen_berg(page, words, shots)
    order_number = seed.step_2_new_sales_order(page, words, shots)
    seed.step_3_continuity_item(page, words, shots)
    seed.step_4_complete(page, words, shots, order_number)
    seed.step_5_add_card(page, words, shots)
    seed.step_6_payments(page, words, shots)
    seed.step_7_submit(page, words, shots, order_number)

    order = SalesOrder.objects.get(number=order_number)
    assert order.customer.account_number == seed.KAREN_ACCOUNT
    assert order.status == SalesOrderStatus.SUBMITTED
    assert order.kind == SalesOrderKind.CONTINUITY_PARENT
    payments = Payment.objects.filter(sales_order=order)
    assert [(p.status, p.amount) for p in payments] == [(PaymentStatus.APPROVED, Decimal("37.40"))]
    assert payments.get().card.last4 == "1111"
    assert bank_charges(payments) == [(True, 3740)]
    subscription = Subscription.objects.get(parent_order=order)
    statuses = list(
        Occurrence.objects.filter(subscription=subscription)
        .order_by("sequence")
        .values_list("status", flat=True)
    )
    assert statuses == [OccurrenceStatus.PAID] + [OccurrenceStatus.SCHEDULED] * 5


def test_seed_procedure_steps_1_to_7_in_english(new_page, shots):
    walk_seed_steps_1_to_7(new_page, shots, "en")


def test_seed_procedure_steps_1_to_7_in_french(new_page, shots):
    walk_seed_steps_1_to_7(new_page, shots, "fr")


def test_declined_card_shows_the_reason_and_the_order_stays_editable(new_page, shots):
    words = Words("en")
    page = new_page(words.locale)
    log_in(page)
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")  # step 1 is the seed tests' job
    order_number = seed.step_2_new_sales_order(page, words, shots)
    seed.step_3_continuity_item(page, words, shots)
    seed.step_4_complete(page, words, shots, order_number)
    seed.step_5_add_card(page, words, shots, SOFT_DECLINE_CARD)
    seed.step_6_payments(page, words, shots, SOFT_DECLINE_CARD)

    seed.button(page, words["Submit"]).click()
    declined = Payment.objects.get(sales_order__number=order_number)
    assert declined.status == PaymentStatus.DECLINED
    assert declined.decline_reason
    expect(page.get_by_role("alert")).to_have_text(
        words["The card was declined: %(reason)s"] % {"reason": declined.decline_reason}
    )
    expect(page.locator(".page-head .badge").first).to_have_text(
        words.status(SalesOrderStatus.OPEN)
    )
    shots(page, "step7-declined-order-still-open")
    order = SalesOrder.objects.get(number=order_number)
    assert order.status == SalesOrderStatus.OPEN
    assert not Payment.objects.filter(sales_order=order, status=PaymentStatus.APPROVED).exists()
    assert not Subscription.objects.filter(parent_order=order).exists()

    # Another card, chosen in Card, OK, Submit again.
    seed.step_5_add_card(page, words, shots, SECOND_GOOD_CARD)
    card_select = seed.field(page.get_by_role("region", name=words["Payments"]), words["Card"])
    card_select.select_option(label="Visa •••• 4242")
    seed.step_6_payments(page, words, shots, SECOND_GOOD_CARD)
    seed.step_7_submit(page, words, shots, order_number)

    attempts = Payment.objects.filter(sales_order=order).order_by("attempt_number")
    assert [(p.attempt_number, p.status, p.card.last4, p.amount) for p in attempts] == [
        (1, PaymentStatus.DECLINED, "0002", Decimal("37.40")),
        (2, PaymentStatus.APPROVED, "4242", Decimal("37.40")),
    ]
    assert bank_charges(attempts) == [(False, 3740), (True, 3740)]
    assert Subscription.objects.filter(parent_order=order).count() == 1


def test_unknown_item_number_gives_an_inline_error_naming_it(new_page, shots):
    for language in ("en", "fr"):
        words = Words(language)
        message = words["Item number %(number)s does not exist."] % {"number": "99999"}
        if language == "en":
            assert message == "Item number 99999 does not exist."
        page = new_page(words.locale)
        log_in(page, user_label=words["User name"], password_label=words["Password"])
        page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
        seed.step_2_new_sales_order(page, words, shots)
        item_number = seed.field(page, words["Item number"])
        item_number.fill("99999")
        item_number.press("Tab")

        # Next to the field, tied to it for a screen reader; the field keeps what was typed.
        item_number = seed.field(page, words["Item number"])
        expect(item_number).to_have_attribute("aria-invalid", "true")
        expect(item_number).to_have_accessible_description(message)
        next_to_it = page.locator(".field").filter(has=item_number).get_by_role("alert")
        expect(next_to_it).to_have_text(message)
        expect(item_number).to_have_value("99999")
        expect(item_number).to_be_focused()
        expect(page.locator("table.lines tbody")).to_have_text(
            words["No line yet: enter an item number."]
        )
        shots(page, f"unknown-item-{language}")
