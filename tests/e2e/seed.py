"""The seed procedure's steps 1 to 7 as a reader of the page does them: by the labels and
button texts of the product's glossary, in the page's language. Each step asserts what
the seed says the agent sees, and saves a screenshot."""

import datetime
import re
from decimal import Decimal

from django.utils import formats, translation
from playwright.sync_api import Page, expect

from continuity.models import OccurrenceStatus
from continuity.scheduling import add_months
from core.dates import business_date
from orders.models import SalesOrderKind, SalesOrderStatus

from .words import Words

KAREN_BERG = "Karen Berg"
KAREN_ACCOUNT = "004021"
CONTINUITY_ITEM = "88000"
SHIPMENTS = 6
# Each box of the Wellness club: 17.99 + 9.99 of goods; shipped to Karen Berg in Seattle
# (10.25 %, prices before tax) with Standard delivery (5.95, under its free 50.00): tax
# 1.84 + 1.02 on the goods, 0.61 on the delivery; the charge 27.98 + 5.95 + 3.47 = 37.40.
SHIPMENT_AMOUNT = Decimal("27.98")
SHIPMENT_DELIVERY = Decimal("5.95")
SHIPMENT_TAX = Decimal("3.47")
SHIPMENT_CHARGE = Decimal("37.40")
CURRENCY = "USD"
GOOD_CARD = "4111 1111 1111 1111"
ORDER_NUMBER = re.compile(r"^SO-\d{6}$")


def money(amount: Decimal, language: str) -> str:
    """An amount as the pages show it: localized (27.98 / 27,98) and its currency."""
    with translation.override(language):
        return f"{formats.localize(amount)} {CURRENCY}"


def short_date(day: datetime.date, language: str) -> str:
    with translation.override(language):
        return formats.date_format(day, "SHORT_DATE_FORMAT")


def planned_ship_dates() -> list[datetime.date]:
    """88000: the first shipment on the order date, then one a month."""
    first = business_date()
    return [add_months(first, months) for months in range(SHIPMENTS)]


def expiry_year() -> str:
    return str(business_date().year + 3)


# Every visible form control has a <label> with text (an aria-label alone is not enough).
UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea")]
    .filter((control) => control.type !== "hidden" && control.getClientRects().length > 0)
    .filter((control) => ![...control.labels].some((label) => label.textContent.trim()))
    .map((control) => control.outerHTML)"""


def look(page: Page, shots, step: str) -> None:
    """Check what every step's page must have, and save its screenshot."""
    assert page.evaluate(UNLABELLED_CONTROLS) == [], f"{step}: form fields without a <label>"
    shots(page, step)


def button(scope, name: str):
    return scope.get_by_role("button", name=name, exact=True)


def field(scope, label: str):
    return scope.get_by_label(label, exact=True)


def listbox_of(page: Page, combobox):
    """The listbox a type-ahead field controls (aria-controls)."""
    return page.locator(f"#{combobox.get_attribute('aria-controls')}")


def pick_from_lookup(page: Page, combobox, typed: str, option_text: str) -> None:
    """The keyboard only: type `typed` key by key (nothing: open the list with ArrowDown),
    ArrowDown to the first option whose text holds `option_text`, Enter."""
    expect(combobox).to_have_attribute("role", "combobox")
    combobox.focus()
    if typed:
        combobox.press_sequentially(typed)
    else:
        combobox.press("ArrowDown")
    expect(combobox).to_have_attribute("aria-expanded", "true")
    options = listbox_of(page, combobox).get_by_role("option")
    expect(options.first).to_be_visible()
    texts = options.all_inner_texts()
    matching = [index for index, text in enumerate(texts) if option_text in text]
    assert matching, f"no option shows {option_text!r}: {texts}"
    # Typing leaves no option active; ArrowDown from the empty field made the first one.
    presses = matching[0] + (1 if typed else 0)
    for _ in range(presses):
        combobox.press("ArrowDown")
    target = options.nth(matching[0])
    expect(combobox).to_have_attribute("aria-activedescendant", target.get_attribute("id"))
    expect(target).to_have_attribute("aria-selected", "true")
    combobox.press("Enter")
    expect(combobox).to_have_attribute("aria-expanded", "false")
    expect(combobox).not_to_have_attribute("aria-activedescendant", re.compile(".+"))


def step_1_find_karen_berg(page: Page, words: Words, shots) -> None:
    """Customer service: Karen in Search, Tab; mark Karen Berg's row; Select."""
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["Customer service"])
    search = field(page, words["Search"])
    expect(search).to_be_focused()
    expect(button(page, words["Search"])).to_be_visible()
    search.fill("Karen")
    look(page, shots, "step1-search-karen")
    search.press("Tab")

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    rows = dialog.locator("tbody tr")
    expect(rows.first).to_be_visible()
    names = [row.locator("td").nth(2).inner_text().strip() for row in rows.all()]
    assert len(names) > 1, f"several Karens are listed, not {names}"
    assert all("karen" in name.lower() for name in names), names
    assert names.count(KAREN_BERG) == 1, names
    karen = rows.filter(has=page.get_by_role("cell", name=KAREN_BERG, exact=True))
    # "Mark the row by clicking the leftmost column of the grid."
    karen.locator("td").first.locator("input[type=radio]").click()
    expect(karen.get_by_role("radio")).to_be_checked()
    look(page, shots, "step1-results-karen-berg-marked")
    button(dialog, words["Select"]).click()

    page.wait_for_url(re.compile(rf"/customers/{KAREN_ACCOUNT}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(KAREN_BERG)
    look(page, shots, "step1-selected-karen-berg")


def step_2_new_sales_order(page: Page, words: Words, shots) -> str:
    """New sales order: the page shows the new order's number. Returns the number."""
    button(page, words["New sales order"]).click()
    number = page.locator(".order-number")
    expect(number).to_have_text(ORDER_NUMBER)
    expect(number).to_be_visible()
    order_number = number.inner_text().strip()
    # Prominent: the page's main heading, in large type.
    expect(page.get_by_role("heading", level=1)).to_have_text(order_number)
    font_size = number.evaluate("element => parseFloat(getComputedStyle(element).fontSize)")
    assert font_size >= 24, f"the order number is set in {font_size}px"
    expect(page).to_have_url(re.compile(rf"/orders/{order_number}/$"))
    expect(page.locator(".page-head .eyebrow")).to_contain_text(
        f"{words['Sales order']} · {KAREN_BERG} {KAREN_ACCOUNT}"
    )
    look(page, shots, "step2-new-sales-order")
    return order_number


def step_3_continuity_item(
    page: Page, words: Words, shots, item=CONTINUITY_ITEM, *, from_lookup=False
) -> None:
    """Item number 88000, Tab: the line, the program and its planned shipments.
    `from_lookup`: 88000 picked from the type-ahead list after typing "880"."""
    expect(field(page, words["Quantity"])).to_have_value("1")
    item_number = field(page, words["Item number"])
    if from_lookup:
        pick_from_lookup(page, item_number, item[:3], item)
        expect(item_number).to_have_value(item)
        look(page, shots, "step3-item-picked-from-the-list")
    else:
        item_number.fill(item)
    item_number.press("Tab")

    lines = page.locator("table.lines tbody tr")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text(item)
    program = page.get_by_role("region", name=words["Continuity program"])
    expect(program).to_be_visible()
    expect(program.get_by_role("heading")).to_contain_text(words["Continuity program"])
    expect(program).to_contain_text(f"{words['Continuity item']} {item}")
    shipments = program.locator("tbody tr")
    expect(shipments).to_have_count(SHIPMENTS)
    expected_dates = [short_date(day, words.language) for day in planned_ship_dates()]
    for row, ship_date in zip(shipments.all(), expected_dates, strict=True):
        cells = row.get_by_role("cell")
        expect(cells.nth(1)).to_have_text(ship_date)
        expect(cells.last).to_have_text(money(SHIPMENT_AMOUNT, words.language))
    # The line was added without leaving the page: Item number is ready for the next one.
    expect(field(page, words["Item number"])).to_be_focused()
    look(page, shots, "step3-continuity-line-and-planned-shipments")


def step_4_complete(page: Page, words: Words, shots, order_number: str) -> None:
    """Complete: the order summary with its totals and the amount due now."""
    button(page, words["Complete"]).click()
    page.wait_for_url(re.compile(rf"/orders/{order_number}/summary/$"))
    goods = money(SHIPMENT_AMOUNT, words.language)
    charge = money(SHIPMENT_CHARGE, words.language)
    totals = page.locator("dl.totals")
    # Karen's first shipment, with its delivery and Seattle's sales tax before Submit.
    expect(totals.locator("dt")).to_have_text(
        [
            words.in_context("before tax", "Subtotal"),
            words["Delivery"],
            words["Tax"],
            words["Total"],
            words["Amount due now"],
        ]
    )
    expect(totals.locator("dd")).to_have_text(
        [
            goods,
            money(SHIPMENT_DELIVERY, words.language),
            money(SHIPMENT_TAX, words.language),
            charge,
            charge,
        ]
    )
    expect(page.locator("[data-amount-due]")).to_have_text(charge)
    expect(page.locator("table.lines tbody")).to_contain_text(CURRENCY)
    expect(button(page, words["Submit"])).to_be_disabled()
    look(page, shots, "step4-complete-order-summary")


def step_5_add_card(
    page: Page, words: Words, shots, card_number=GOOD_CARD, *, method="Visa", from_lookup=False
) -> None:
    """Method of payment Visa; Add credit card; the card; OK. `from_lookup`: Visa picked
    from the type-ahead list, opened with ArrowDown on the empty field."""
    if from_lookup:
        method_field = field(page, words["Method of payment"])
        pick_from_lookup(page, method_field, "", method)
        expect(method_field).to_have_value(method)
    else:
        field(page, words["Method of payment"]).fill(method)
    button(page, words["Add credit card"]).click()
    dialog = page.get_by_role("dialog", name=words["Add credit card"])
    expect(dialog).to_be_visible()
    expect(field(dialog, words["Card number"])).to_be_focused()
    field(dialog, words["Card number"]).fill(card_number)
    expect(field(dialog, words["Name on card"])).to_have_value(KAREN_BERG)
    field(dialog, words["Expiration month"]).select_option("12")
    field(dialog, words["Expiration year"]).select_option(expiry_year())
    field(dialog, words["Security code"]).fill("737")
    look(page, shots, "step5-add-credit-card")
    button(dialog, words["OK"]).click()
    expect(dialog).to_be_hidden()


def step_6_payments(page: Page, words: Words, shots, card_number=GOOD_CARD) -> None:
    """The Payments section: the card, the amount covering the amount due; OK."""
    card = f"Visa •••• {card_number.replace(' ', '')[-4:]}"
    payments = page.get_by_role("region", name=words["Payments"])
    expect(payments).to_be_visible()
    expect(field(payments, words["Method of payment"])).to_have_value("Visa")
    card_select = field(payments, words["Card"])
    expect(card_select.locator("option:checked")).to_have_text(card)
    expect(payments.locator(".amount")).to_have_text(money(SHIPMENT_CHARGE, words.language))
    look(page, shots, "step6-payments-section")
    button(payments, words["OK"]).click()

    line = page.get_by_role("region", name=words["Payments"]).locator("[data-payment-line]")
    expect(line.get_by_role("cell")).to_have_text(
        ["Visa", card, money(SHIPMENT_CHARGE, words.language)]
    )
    expect(page.locator("[data-amount-due]")).to_have_text(money(SHIPMENT_CHARGE, words.language))
    expect(button(page, words["Submit"])).to_be_enabled()
    look(page, shots, "step6-payments-ok")


def step_7_submit(page: Page, words: Words, shots, order_number: str) -> None:
    """Submit: a submitted continuity parent, its six shipments, the first one paid."""
    button(page, words["Submit"]).click()
    page.wait_for_url(re.compile(rf"/orders/{order_number}/$"))
    expect(page.locator(".order-number")).to_have_text(order_number)
    expect(page.locator(".page-head .badge")).to_have_text(
        [words.status(SalesOrderStatus.SUBMITTED), words.status(SalesOrderKind.CONTINUITY_PARENT)]
    )
    expect_schedule(page, words)
    look(page, shots, "step7-submitted-order")


def expect_schedule(page: Page, words: Words) -> None:
    schedule = page.locator("#continuity-schedule")
    expect(schedule).to_contain_text(words["Continuity program"])
    occurrences = schedule.locator("tbody tr")
    expect(occurrences).to_have_count(SHIPMENTS)
    expected_dates = [short_date(day, words.language) for day in planned_ship_dates()]
    paid, scheduled = words.status(OccurrenceStatus.PAID), words.status(OccurrenceStatus.SCHEDULED)
    for number, (row, ship_date) in enumerate(zip(occurrences.all(), expected_dates, strict=True)):
        cells = row.get_by_role("cell")
        expect(cells.nth(0)).to_have_text(str(number + 1))
        expect(cells.nth(1)).to_have_text(ship_date)
        expect(cells.nth(2)).to_have_text(money(SHIPMENT_CHARGE, words.language))
        expect(cells.nth(3)).to_have_text(paid if number == 0 else scheduled)
