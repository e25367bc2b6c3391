"""The seed path, steps 1 to 7, with the keyboard alone: after signing in, no click and
no fill, only keys. Every key press is logged with the element it leaves focused (its
role and accessible name, as Chromium's accessibility tree gives them), and each page's
Tab stops are asserted in the seed's order. The log is saved next to the screenshots."""

import re

from playwright.sync_api import expect

from orders.models import SalesOrder, SalesOrderStatus
from payments.models import Payment, PaymentStatus

from . import seed
from .conftest import log_in
from .words import Words

SNAPSHOT_LINE = re.compile(r'^- (?P<role>[\w-]+)(?: "(?P<name>(?:[^"\\]|\\.)*)")?')
BODY = ("body", "")


def focused(page) -> tuple[str, str]:
    """(role, accessible name) of document.activeElement."""
    has_focus = page.evaluate(
        """() => {
            const element = document.activeElement;
            if (!element || element === document.body) return false;
            element.setAttribute("data-e2e-focused", "");
            return true;
        }"""
    )
    if not has_focus:
        return BODY
    element = page.locator("[data-e2e-focused]")
    line = element.aria_snapshot().splitlines()[0]
    element.evaluate("element => element.removeAttribute('data-e2e-focused')")
    match = SNAPSHOT_LINE.match(line)
    assert match, line
    return match["role"], (match["name"] or "").replace('\\"', '"')


class Keyboard:
    def __init__(self, page, base):
        self.page = page
        self.base = base
        self.log: list[str] = []

    def _note(self, action):
        role, name = focused(self.page)
        self.log.append(f"{action:<28} -> {role} {name!r}")
        return role, name

    def press(self, key) -> tuple[str, str]:
        self.page.keyboard.press(key)
        return self._note(key)

    def type(self, text):
        self.page.keyboard.type(text)
        self._note(f"type {text!r}")

    def press_to_navigate(self, key, url):
        with self.page.expect_navigation(url=url):
            self.page.keyboard.press(key)
        self.log.append(f"{key:<28} => {self.page.url.removeprefix(self.base)}")

    def tab_stops(self, count, key="Tab") -> list[tuple[str, str]]:
        return [self.press(key) for _ in range(count)]

    def at(self) -> tuple[str, str]:
        return self._note("(focus now)")

    def press_and_wait(self, key, locator) -> tuple[str, str]:
        """A key whose effect comes from the page's script (a fetch, then a focus): wait
        until `locator` has the focus."""
        self.page.keyboard.press(key)
        expect(locator).to_be_focused()
        return self._note(f"{key} (then script)")


def test_keyboard_only_seed_path(new_page, shots, live_server):
    words = Words("en")
    page = new_page(words.locale)
    log_in(page)
    keys = Keyboard(page, live_server.url)

    try:
        # Step 1. Search has the focus when the page opens.
        page.goto("/")
        expect(seed.field(page, words["Search"])).to_be_focused()
        assert keys.at() == ("textbox", words["Search"])
        keys.type("Karen")
        dialog = page.get_by_role("dialog")
        # The results open with the first row's radio focused.
        role, name = keys.press_and_wait("Tab", dialog.get_by_role("radio").first)
        # The arrows move the mark through the rows (and wrap); Space marks the row.
        for _ in range(dialog.get_by_role("radio").count()):
            if name.startswith(seed.KAREN_BERG):
                break
            role, name = keys.press("ArrowDown")
        assert (role, name) == ("radio", f"{seed.KAREN_BERG} {seed.KAREN_ACCOUNT}")
        keys.press("Space")
        expect(dialog.get_by_role("radio", name=name)).to_be_checked()
        assert keys.tab_stops(1) == [("button", words["Select"])]
        shots(page, "step1-karen-berg-marked-select-focused")
        keys.press_to_navigate("Enter", re.compile(rf"/customers/{seed.KAREN_ACCOUNT}/$"))

        # Step 2. New sales order has the focus. (Chromium moves the focus to an autofocus
        # element at its next rendering update, which can come after the load event on a
        # busy machine: wait for it before reading it.)
        expect(page.get_by_role("button", name=words["New sales order"])).to_be_focused()
        assert keys.at() == ("button", words["New sales order"])
        shots(page, "step2-new-sales-order-focused")
        keys.press_to_navigate("Enter", re.compile(r"/orders/SO-\d{6}/$"))
        order_number = page.locator(".order-number").inner_text()

        # Step 3. Item number (a type-ahead combobox) has the focus; Quantity comes just
        # before it. The code typed in full and Tab: the list, if open, closes unused.
        expect(seed.field(page, words["Item number"])).to_be_focused()
        assert keys.at() == ("combobox", words["Item number"])
        assert keys.tab_stops(1, "Shift+Tab") == [("spinbutton", words["Quantity"])]
        assert keys.tab_stops(1) == [("combobox", words["Item number"])]
        keys.type(seed.CONTINUITY_ITEM)
        program = page.get_by_role("region", name=words["Continuity program"])
        # Tab adds the line, and Item number is ready for the next one.
        page.keyboard.press("Tab")
        expect(program.locator("tbody tr")).to_have_count(seed.SHIPMENTS)
        expect(seed.field(page, words["Item number"])).to_be_focused()
        assert keys._note("Tab (then script)") == ("combobox", words["Item number"])
        assert keys.tab_stops(2) == [("button", words["Add line"]), ("button", words["Complete"])]
        shots(page, "step3-continuity-line-complete-focused")

        # Step 4.
        keys.press_to_navigate("Enter", re.compile(rf"/orders/{order_number}/summary/$"))

        # Step 5. Method of payment has the focus; then Card, Add credit card, the dialog.
        expect(seed.field(page, words["Method of payment"])).to_be_focused()
        assert keys.at() == ("combobox", words["Method of payment"])
        keys.type("Visa")
        assert keys.tab_stops(2) == [
            ("combobox", words["Card"]),
            ("button", words["Add credit card"]),
        ]
        keys.press("Enter")
        card_dialog = page.get_by_role("dialog", name=words["Add credit card"])
        expect(card_dialog).to_be_visible()
        expect(seed.field(card_dialog, words["Card number"])).to_be_focused()
        assert keys.at() == ("textbox", words["Card number"])
        keys.type(seed.GOOD_CARD)
        assert keys.tab_stops(1) == [("textbox", words["Name on card"])]
        expect(seed.field(card_dialog, words["Name on card"])).to_have_value(seed.KAREN_BERG)
        assert keys.tab_stops(1) == [("combobox", words["Expiration month"])]
        keys.type("12")  # a closed select picks the option whose text starts with what is typed
        expect(seed.field(card_dialog, words["Expiration month"])).to_have_value("12")
        assert keys.tab_stops(1) == [("combobox", words["Expiration year"])]
        keys.type(seed.expiry_year())
        expect(seed.field(card_dialog, words["Expiration year"])).to_have_value(seed.expiry_year())
        assert keys.tab_stops(1) == [("textbox", words["Security code"])]
        keys.type("737")
        assert keys.tab_stops(1) == [("button", words["OK"])]
        shots(page, "step5-card-entered-ok-focused")
        keys.press_to_navigate("Enter", re.compile(r"/summary/\?.*card=\d+"))

        # Step 6. Back on the Payments section, the new card picked and its OK focused.
        payments = page.get_by_role("region", name=words["Payments"])
        expect(seed.field(payments, words["Card"]).locator("option:checked")).to_have_text(
            "Visa •••• 1111"
        )
        expect(seed.button(payments, words["OK"])).to_be_focused()
        assert keys.at() == ("button", words["OK"])
        shots(page, "step6-payments-ok-focused")
        keys.press_to_navigate("Enter", re.compile(r"/summary/$"))
        expect(payments.locator("[data-payment-line]")).to_be_visible()

        # Step 7. Submit has the focus.
        expect(page.get_by_role("button", name=words["Submit"])).to_be_focused()
        assert keys.at() == ("button", words["Submit"])
        shots(page, "step7-submit-focused")
        keys.press_to_navigate("Enter", re.compile(rf"/orders/{order_number}/$"))
        seed.expect_schedule(page, words)
        shots(page, "step7-submitted-order")
    finally:
        (shots.folder / "focus-order.txt").write_text("\n".join(keys.log) + "\n", encoding="utf-8")

    order = SalesOrder.objects.get(number=order_number)
    assert order.status == SalesOrderStatus.SUBMITTED
    assert Payment.objects.filter(sales_order=order, status=PaymentStatus.APPROVED).count() == 1
