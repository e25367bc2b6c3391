"""An axe-core scan of the pages an agent and a supervisor work in, in English and French:
customer service (search and results), the customer page, an order's lines and summary,
both batch forms, the subscription actions' pages. No serious or critical violation.
A type-ahead list open is scanned in test_lookups.py (it needs the lookup API)."""

import re

import pytest
from playwright.sync_api import expect

from batch.models import BatchJob
from continuity.models import Subscription

from . import seed
from .accessibility import assert_accessible
from .conftest import PHONE, log_in
from .words import Words


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_agents_pages_have_no_serious_accessibility_violation(new_page, shots, sell, language):
    subscription = Subscription.objects.get(parent_order=sell())
    words = Words(language)
    page = new_page(words.locale)
    log_in(page, user_label=words["User name"], password_label=words["Password"])

    page.goto("/")
    assert_accessible(page, "customer search")
    seed.field(page, words["Search"]).fill("Karen")
    seed.field(page, words["Search"]).press("Tab")
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_accessible(page, "customer search results")
    shots(page, "search-results")

    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    assert_accessible(page, "customer page")
    order_number = seed.step_2_new_sales_order(page, words, shots)
    seed.step_3_continuity_item(page, words, shots)
    assert_accessible(page, "order lines")
    seed.button(page, words["Complete"]).click()
    page.wait_for_url(re.compile(rf"/orders/{order_number}/summary/$"))
    assert_accessible(page, "order summary")
    seed.button(page, words["Add credit card"]).click()
    expect(page.get_by_role("dialog", name=words["Add credit card"])).to_be_visible()
    assert_accessible(page, "add credit card dialog")
    shots(page, "summary-card-dialog")

    for action in ("skip", "reschedule", "pause", "change_card", "change_ship_to", "cancel"):
        page.goto(f"/continuity/subscriptions/{subscription.pk}/{action}/")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page, f"subscription action {action}")
    shots(page, "subscription-action")
    # An action's form sent with nothing in it: its errors are announced and tied to fields.
    seed.button(page, words["Preview"]).click()
    expect(page.get_by_role("alert").first).to_be_visible()
    assert_accessible(page, "subscription action with errors")
    shots(page, "subscription-action-errors")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_batch_forms_have_no_serious_accessibility_violation(new_page, shots, language):
    words = Words(language)
    for viewport in (None, PHONE):
        page = new_page(words.locale, viewport=viewport)
        log_in(page, "supervisor", user_label=words["User name"], password_label=words["Password"])
        for job in BatchJob:
            page.goto(f"/batch/{job.value}/")
            expect(page.get_by_role("heading", level=1)).to_have_text(words[str(job.label)])
            assert_accessible(page, f"batch form {job.value}")
        shots(page, "batch-form")
