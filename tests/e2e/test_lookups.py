"""The six type-ahead lookups against the lookup API, driven by the keyboard alone, in
English and French: type, ArrowDown, Enter picks; Escape closes and keeps the text; Tab
keeps what was typed; an expired card is listed and cannot be picked; what was picked
is what the page's own validation accepts. An axe scan with a list open."""

import re

import pytest
from playwright.sync_api import expect

from continuity.models import Occurrence, OccurrenceStatus, Subscription
from core.dates import business_date
from tests.factories import CardFactory

from . import seed
from .accessibility import assert_accessible
from .conftest import PHONE, log_in
from .words import Words

# The demo's labels the lists show (devdata/demo.py), per language where they differ.
TRAVEL = {"en": "TRAVEL · Customer away", "fr": "TRAVEL · Client absent"}
NEWCARD = {"en": "NEWCARD · New card given", "fr": "NEWCARD · Nouvelle carte fournie"}


def options_of(page, combobox):
    return seed.listbox_of(page, combobox).get_by_role("option")


def hidden_value(combobox, name: str) -> str:
    """The value a label-showing lookup posts (its hidden field of the same name)."""
    return combobox.evaluate(
        "(field, name) => field.form.querySelector(`input[type=hidden][name=${name}]`).value",
        name,
    )


@pytest.fixture
def karen_sold(sell):
    """Karen's continuity order; then a new card of hers, and an expired one, the newest."""
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    CardFactory(customer=subscription.customer, last4="4444", name_on_card=seed.KAREN_BERG)
    expired = CardFactory(
        customer=subscription.customer,
        last4="0005",
        expiry_month=1,
        expiry_year=business_date().year - 1,
        name_on_card=seed.KAREN_BERG,
    )
    return order, subscription, expired


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_agents_lookups_by_the_keyboard_alone(new_page, shots, karen_sold, language):
    _order, subscription, expired = karen_sold
    new_card = subscription.customer.cards.get(last4="4444")
    words = Words(language)
    page = new_page(words.locale)
    log_in(page, user_label=words["User name"], password_label=words["Password"])

    # Item number: a name typed finds the item; Enter picks its number; Tab adds the line.
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    order_number = seed.step_2_new_sales_order(page, words, shots)
    item_number = seed.field(page, words["Item number"])
    expect(item_number).to_be_focused()
    item_number.press_sequentially("vitam")
    expect(item_number).to_have_attribute("aria-expanded", "true")
    options = options_of(page, item_number)
    expect(options.first).to_contain_text("0013 · Daily vitamins, 30 tablets")
    assert_accessible(page, "order lines with the item list open")
    seed.look(page, shots, "item-list")
    item_number.press("ArrowDown")
    first_id = options.first.get_attribute("id")
    expect(item_number).to_have_attribute("aria-activedescendant", first_id)
    item_number.press("Enter")
    expect(item_number).to_have_value("0013")
    # Enter picked the option and sent nothing.
    expect(page.locator("table.lines tbody")).to_have_text(
        words["No line yet: enter an item number."]
    )
    item_number.press("Tab")
    expect(page.locator("table.lines tbody tr")).to_have_count(1)
    expect(page.locator("table.lines tbody tr")).to_contain_text("0013")
    # The new Item number field has its list too (the line entry was replaced).
    item_number = seed.field(page, words["Item number"])
    expect(item_number).to_be_focused()
    seed.pick_from_lookup(page, item_number, "880", "88000")
    item_number.press("Tab")
    expect(page.locator("table.lines tbody tr")).to_have_count(2)

    # Method of payment: typed "am", Amex picked, the form not sent.
    seed.button(page, words["Complete"]).click()
    page.wait_for_url(re.compile(rf"/orders/{order_number}/summary/$"))
    method = seed.field(page, words["Method of payment"])
    seed.pick_from_lookup(page, method, "am", "Amex · American Express")
    expect(method).to_have_value("Amex")
    expect(page.locator("[data-payment-line]")).to_have_count(0)
    seed.look(page, shots, "method-picked")

    # Reason: the skip's reason codes, labels in the page's language.
    page.goto(f"/continuity/subscriptions/{subscription.pk}/skip/")
    third = Occurrence.objects.get(subscription=subscription, sequence=3)
    page.get_by_label(words["Shipment"], exact=True).select_option(str(third.pk))
    reason = seed.field(page, words["Reason"])
    seed.pick_from_lookup(page, reason, "tra", TRAVEL[language])
    expect(reason).to_have_value("TRAVEL")
    seed.button(page, words["Preview"]).click()
    expect(page.locator("[data-preview]")).to_be_visible()
    seed.look(page, shots, "skip-preview-after-picked-reason")
    seed.button(page, words["Confirm"]).click()
    expect(page.locator("#continuity-schedule")).to_be_visible()
    third.refresh_from_db()
    assert third.status == OccurrenceStatus.SKIPPED

    # Card: Karen's cards, newest first: the expired one shown and not pickable.
    page.goto(f"/continuity/subscriptions/{subscription.pk}/change_card/")
    card = seed.field(page, words["Card"])
    card.focus()
    card.press("ArrowDown")
    options = options_of(page, card)
    expect(options).to_have_count(3)
    expect(options.nth(0)).to_contain_text(f"•••• {expired.last4}")
    expect(options.nth(0)).to_have_attribute("aria-disabled", "true")
    expect(options.nth(1)).to_contain_text(f"•••• {new_card.last4}")
    expect(options.nth(1)).not_to_have_attribute("aria-disabled", "true")
    expect(options.nth(2)).to_contain_text(f"•••• {subscription.card.last4}")
    seed.look(page, shots, "card-list-with-an-expired-card")
    assert_accessible(page, "change card with the card list open")
    card.press("Enter")  # the expired card is active: nothing is picked
    expect(card).to_have_attribute("aria-expanded", "true")
    expect(card).to_have_value("")
    assert hidden_value(card, "card") == ""
    card.press("ArrowDown")
    card.press("Enter")
    expect(card).to_have_value(f"Visa •••• {new_card.last4}")
    assert hidden_value(card, "card") == str(new_card.pk)
    seed.pick_from_lookup(page, seed.field(page, words["Reason"]), "", NEWCARD[language])
    seed.button(page, words["Preview"]).click()
    expect(page.locator("[data-preview]")).to_be_visible()
    # The preview keeps the picked card, shown by its label.
    expect(seed.field(page, words["Card"])).to_have_value(f"Visa •••• {new_card.last4}")
    seed.look(page, shots, "change-card-preview")
    seed.button(page, words["Confirm"]).click()
    expect(page.locator("#continuity-schedule")).to_be_visible()
    subscription.refresh_from_db()
    assert subscription.card_id == new_card.pk


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_batch_forms_lookups_by_the_keyboard_alone(new_page, shots, karen_sold, language):
    order, _subscription, _expired = karen_sold
    words = Words(language)
    page = new_page(words.locale)
    log_in(page, "supervisor", user_label=words["User name"], password_label=words["Password"])
    page.goto("/batch/create_child_orders/")
    item = seed.field(page, words["Continuity item"])
    expect(item).to_be_focused()

    # Escape closes the list and keeps the text.
    item.press_sequentially("88")
    expect(item).to_have_attribute("aria-expanded", "true")
    item.press("Escape")
    expect(item).to_have_attribute("aria-expanded", "false")
    expect(item).to_have_value("88")
    expect(item).to_be_focused()
    # Tab keeps what was typed, even with an option active, and moves on.
    item.press("ArrowDown")
    expect(item).to_have_attribute("aria-activedescendant", re.compile(".+"))
    item.press("Tab")
    expect(item).to_have_value("88")
    expect(item).to_have_attribute("aria-expanded", "false")
    sales_order = seed.field(page, words["Sales order"])
    expect(sales_order).to_be_focused()

    # The continuity item picked; the sales orders then follow it (that item's orders).
    item.fill("")
    seed.pick_from_lookup(page, item, "880", "88000")
    expect(item).to_have_value("88000")
    item.press("Tab")
    expect(sales_order).to_be_focused()
    sales_order.press("ArrowDown")
    options = options_of(page, sales_order)
    expect(options.first).to_contain_text(f"{order.number} · {seed.KAREN_BERG}")
    seed.look(page, shots, "sales-order-list")
    assert_accessible(page, "batch form with the sales order list open")
    sales_order.press("Enter")
    expect(sales_order).to_have_value(order.number)

    # The number's digits alone find it too (without "SO-").
    sales_order.fill("")
    seed.pick_from_lookup(page, sales_order, order.number.removeprefix("SO-"), order.number)
    expect(sales_order).to_have_value(order.number)
    # Enter with the list closed sends the form, as before the lists.
    sales_order.press("Enter")
    page.wait_for_url(re.compile(r"/batch/runs/\d+/$"))


def test_a_lookup_list_at_phone_width(new_page, shots, karen_sold):
    words = Words("en")
    page = new_page(words.locale, viewport=PHONE)
    log_in(page)
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    seed.step_2_new_sales_order(page, words, shots)
    item_number = seed.field(page, words["Item number"])
    item_number.focus()
    item_number.press("ArrowDown")
    listbox = seed.listbox_of(page, item_number)
    expect(listbox.get_by_role("option").first).to_be_visible()
    field_box, list_box = item_number.bounding_box(), listbox.bounding_box()
    assert list_box["width"] <= PHONE["width"]
    assert abs(list_box["x"] - field_box["x"]) < 1 and list_box["y"] >= field_box["y"]
    shots(page, "item-list-on-a-phone")
    item_number.press("Enter")
    expect(item_number).to_have_value(re.compile(r"^\S+$"))
