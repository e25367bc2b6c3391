"""Skip and cancel in the browser: the agent finds the subscription from the customer
page, chooses the action, reads its preview, confirms, and sees the schedule change."""

from decimal import Decimal

from playwright.sync_api import expect

from continuity.models import Occurrence, OccurrenceStatus, Subscription
from payments.models import Payment

from . import seed
from .conftest import log_in
from .words import Words


def open_subscription(page, subscription):
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    page.locator(f'[data-manage-subscription="{subscription.pk}"]').click()
    expect(page.locator("#continuity-schedule")).to_be_visible()


def test_an_agent_skips_a_shipment_after_its_preview(new_page, shots, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    third = Occurrence.objects.get(subscription=subscription, sequence=3)
    words = Words("en")
    page = new_page(words.locale)
    log_in(page)

    open_subscription(page, subscription)
    page.get_by_role("link", name="Skip a shipment").click()
    page.get_by_label("Shipment").select_option(str(third.pk))
    reason = page.get_by_label("Reason", exact=True)
    reason.fill("TRAVEL")  # the code typed, not picked
    # Tab keeps what was typed and closes the suggestions, which may have opened over
    # the buttons below (the agent's next key; a click at once could land on the list).
    reason.press("Tab")
    seed.look(page, shots, "skip-form")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("[data-preview]")
    expect(preview).to_contain_text("Shipment 3 of")
    expect(preview).to_contain_text("is not charged and not sent.")
    seed.look(page, shots, "skip-preview")
    page.get_by_role("button", name="Confirm").click()

    rows = page.locator("#continuity-schedule tbody tr")
    expect(rows.nth(2).get_by_role("cell").nth(3)).to_have_text(
        words.status(OccurrenceStatus.SKIPPED)
    )
    seed.look(page, shots, "skip-done")
    third.refresh_from_db()
    assert third.status == OccurrenceStatus.SKIPPED


def test_an_agent_cancels_a_subscription_and_its_paid_shipment_is_refunded(new_page, shots, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    words = Words("fr")
    page = new_page(words.locale)
    log_in(page, user_label=words["User name"], password_label=words["Password"])

    open_subscription(page, subscription)
    page.get_by_role("link", name=words.in_context("subscription action", "Cancel")).click()
    reason = page.get_by_label(words["Reason"], exact=True)
    reason.fill("PRICE")
    reason.press("Tab")  # closes the suggestions, as above
    page.get_by_role("button", name=words["Preview"]).click()
    expect(page.locator("[data-preview] li")).to_have_count(7)  # 6 cancelled, 1 refund
    seed.look(page, shots, "cancel-preview")
    page.get_by_role("button", name=words["Confirm"]).click()

    expect(page.locator("[data-subscription-status]")).to_have_text(
        words.status_of("subscription", "cancelled")
    )
    seed.look(page, shots, "cancel-done")
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    assert list(
        Payment.objects.filter(sales_order=order, operation="refund").values_list(
            "status", "amount"
        )
    ) == [("approved", Decimal("37.40"))]
