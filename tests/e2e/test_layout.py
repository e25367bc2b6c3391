"""Every page of the seed path at 1280x800 and at a phone's 390x844: no sideways scrolling
of the page (a wide table scrolls inside its own .table-scroll box), and the button the
agent needs next is on screen. Screenshots of both sizes are saved for a person to look
at."""

import re

from playwright.sync_api import expect

from . import seed
from .conftest import DEMO_PASSWORD, DESKTOP, PHONE
from .words import Words

# The page's width, and the outermost elements that stick out past the screen's right
# edge, to name them when the page scrolls sideways. What a .table-scroll box holds may be
# wider: it scrolls inside its box.
WIDE_ELEMENTS = """() => {
    const limit = window.innerWidth + 1;
    // What sticks out, and is not clipped by a .table-scroll box: an absolutely positioned
    // element escapes a box that is not its containing block.
    const clipped = (element) => {
        const box = element.parentElement.closest(".table-scroll");
        if (box === null) return false;
        const position = getComputedStyle(element).position;
        if (position !== "absolute" && position !== "fixed") return true;
        return element.offsetParent !== null && box.contains(element.offsetParent);
    };
    const wide = [...document.querySelectorAll("body *")].filter((element) =>
        element.getBoundingClientRect().right > limit && !clipped(element)
        && (element.parentElement.getBoundingClientRect().right <= limit
            || getComputedStyle(element).position === "absolute"));
    const describe = (element) => element.tagName.toLowerCase()
        + (element.id ? "#" + element.id : "")
        + [...element.classList].map((name) => "." + name).join("")
        + " right=" + Math.round(element.getBoundingClientRect().right);
    return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        wide: wide.slice(0, 5).map(describe),
    };
}"""


class LayoutCheck:
    """check(page, name, *needed): screenshots at both sizes; at 390 px the page must not
    scroll sideways and each `needed` locator must be visible and within the screen's
    width. Problems are collected, so that one run names every page that has one."""

    def __init__(self, shots):
        self.shots = shots
        self.problems: list[str] = []

    def __call__(self, page, name: str, *needed) -> None:
        self.shots(page, f"{name}-1280")
        page.set_viewport_size(PHONE)
        try:
            self.shots(page, f"{name}-390")
            overflow = page.evaluate(WIDE_ELEMENTS)
            if overflow["scrollWidth"] > overflow["innerWidth"] + 1:
                self.problems.append(f"{name}: the page scrolls sideways at 390 px: {overflow}")
            for locator in needed:
                if not locator.is_visible():
                    self.problems.append(f"{name}: {locator} is not visible at 390 px")
                    continue
                locator.scroll_into_view_if_needed()
                box = locator.bounding_box()
                if box["x"] < 0 or box["x"] + box["width"] > PHONE["width"] + 1:
                    self.problems.append(f"{name}: {locator} sticks out at 390 px: {box}")
        finally:
            page.set_viewport_size(DESKTOP)


def test_every_page_reads_well_at_1280_and_390(new_page, shots):
    words = Words("en")
    page = new_page(words.locale)
    check_layout = LayoutCheck(shots)

    page.goto("/accounts/login/")
    check_layout(page, "login", seed.button(page, words["Sign in"]))
    page.get_by_label(words["User name"], exact=True).fill("agent")
    page.get_by_label(words["Password"], exact=True).fill(DEMO_PASSWORD)
    seed.button(page, words["Sign in"]).click()
    page.wait_for_url(re.compile(r"/$"))

    search = seed.field(page, words["Search"])
    search.fill("Karen")
    search.press("Tab")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    check_layout(page, "customer-service-results", dialog, seed.button(dialog, words["Select"]))
    dialog.get_by_role("radio", name=f"{seed.KAREN_BERG} {seed.KAREN_ACCOUNT}").check()
    seed.button(dialog, words["Select"]).click()
    page.wait_for_url(re.compile(rf"/customers/{seed.KAREN_ACCOUNT}/$"))

    check_layout(page, "customer", seed.button(page, words["New sales order"]))
    seed.button(page, words["New sales order"]).click()
    page.wait_for_url(re.compile(r"/orders/SO-\d{6}/$"))
    order_number = page.locator(".order-number").inner_text()

    item_number = seed.field(page, words["Item number"])
    item_number.fill(seed.CONTINUITY_ITEM)
    item_number.press("Tab")
    expect(page.locator(".continuity-preview tbody tr")).to_have_count(seed.SHIPMENTS)
    check_layout(
        page,
        "order-entry-continuity-line",
        page.locator(".order-number"),
        seed.field(page, words["Item number"]),
        seed.button(page, words["Complete"]),
    )
    seed.button(page, words["Complete"]).click()
    page.wait_for_url(re.compile(rf"/orders/{order_number}/summary/$"))

    check_layout(page, "order-summary", page.locator("[data-amount-due]"))
    seed.field(page, words["Method of payment"]).fill("Visa")
    seed.button(page, words["Add credit card"]).click()
    card_dialog = page.get_by_role("dialog", name=words["Add credit card"])
    expect(card_dialog).to_be_visible()
    check_layout(
        page,
        "order-summary-card-dialog",
        seed.field(card_dialog, words["Card number"]),
        seed.field(card_dialog, words["Security code"]),
        seed.button(card_dialog, words["OK"]),
    )
    seed.field(card_dialog, words["Card number"]).fill(seed.GOOD_CARD)
    seed.field(card_dialog, words["Expiration month"]).select_option("12")
    seed.field(card_dialog, words["Expiration year"]).select_option(seed.expiry_year())
    seed.field(card_dialog, words["Security code"]).fill("737")
    seed.button(card_dialog, words["OK"]).click()
    payments = page.get_by_role("region", name=words["Payments"])
    seed.button(payments, words["OK"]).click()
    expect(payments.locator("[data-payment-line]")).to_be_visible()
    check_layout(
        page,
        "order-summary-paid",
        payments.locator("[data-payment-line]"),
        seed.button(page, words["Submit"]),
    )
    seed.button(page, words["Submit"]).click()
    page.wait_for_url(re.compile(rf"/orders/{order_number}/$"))

    schedule = page.locator("#continuity-schedule")
    expect(schedule.locator("tbody tr")).to_have_count(seed.SHIPMENTS)
    check_layout(page, "submitted-order", page.locator(".order-number"), schedule)

    assert not check_layout.problems, "\n".join(check_layout.problems)
