"""The type-ahead widget (static/js/lookup.js) on its own: the browser's requests to the
lookup API are answered here (Playwright's routing), so the test is about the keys, the
ARIA states and the requests, whatever the server's data. The lookups against the real
API are in test_lookups.py."""

import datetime
import json
import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from . import seed
from .conftest import log_in
from .words import Words

METHODS = [
    {"value": "Amex", "label": "Amex · American Express", "description": "Card"},
    {"value": "MC", "label": "MC · Mastercard", "description": "Card"},
    {"value": "Visa", "label": "Visa · Visa", "description": "Card"},
]


def answer_from(requests, results_for):
    def handle(route):
        query = parse_qs(urlparse(route.request.url).query, keep_blank_values=True)
        requests.append({name: values[0] for name, values in query.items()})
        results = [
            {"disabled": False, "disabled_reason": "", "description": "", **result}
            for result in results_for(query.get("q", [""])[0])
        ]
        route.fulfill(
            status=200, content_type="application/json", body=json.dumps({"results": results})
        )

    return handle


def open_summary(page, words, shots):
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    order_number = seed.step_2_new_sales_order(page, words, shots)
    seed.step_3_continuity_item(page, words, shots)
    seed.button(page, words["Complete"]).click()
    page.wait_for_url(f"**/orders/{order_number}/summary/")
    return seed.field(page, words["Method of payment"])


def test_the_method_of_payment_list_by_the_keyboard_against_a_routed_api(new_page, shots):
    words = Words("fr")
    page = new_page(words.locale)
    log_in(page, user_label=words["User name"], password_label=words["Password"])
    requests = []

    def methods(query):
        return [m for m in METHODS if m["label"].lower().startswith(query.lower())] + (
            [
                {
                    "value": "Old",
                    "label": "Old · Old card",
                    "disabled": True,
                    "disabled_reason": "Expired",
                }
            ]
            if not query
            else []
        )

    page.route("**/api/v1/lookups/payment-methods/**", answer_from(requests, methods))
    method = open_summary(page, words, shots)

    # The ARIA pattern, in place before anything is typed.
    expect(method).to_have_attribute("role", "combobox")
    expect(method).to_have_attribute("aria-expanded", "false")
    expect(method).to_have_attribute("aria-autocomplete", "list")
    expect(method).not_to_have_attribute("list", "payment-methods")
    listbox = seed.listbox_of(page, method)
    expect(listbox).to_have_attribute("role", "listbox")
    expect(listbox).to_be_hidden()

    # ArrowDown on the empty field: the first options, the first one active.
    method.focus()
    method.press("ArrowDown")
    expect(method).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    expect(options).to_have_count(4)
    expect(method).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
    expect(page.get_by_role("status").filter(has_text="4 résultats")).to_have_count(1)
    assert requests[-1]["q"] == "" and requests[-1]["limit"] == "10"
    seed.look(page, shots, "list-opened-with-arrow-down")

    # Up from the first wraps to the last, a disabled one: Enter does not pick it.
    method.press("ArrowUp")
    expect(options.nth(3)).to_have_attribute("aria-disabled", "true")
    expect(options.nth(3)).to_have_attribute("aria-selected", "true")
    method.press("Enter")
    expect(method).to_have_attribute("aria-expanded", "true")
    expect(method).to_have_value("")
    # Escape closes and keeps the text; Tab keeps what was typed, picks nothing.
    method.press("Escape")
    expect(method).to_have_attribute("aria-expanded", "false")
    method.press_sequentially("m")
    expect(options).to_have_count(1)
    method.press("ArrowDown")
    method.press("Tab")
    expect(method).to_have_value("m")
    expect(method).to_have_attribute("aria-expanded", "false")
    expect(method).not_to_be_focused()

    # Enter picks the active option and sends nothing.
    method.fill("")
    method.focus()
    method.press_sequentially("vis")
    expect(options).to_have_count(1)
    method.press("ArrowDown")
    method.press("Enter")
    expect(method).to_have_value("Visa")
    expect(page).to_have_url(re.compile(r"/summary/$"))  # nothing was submitted
    # Back on the same word: answered from the cache, no request.
    asked = len(requests)
    method.fill("")
    method.press_sequentially("vis")
    expect(options).to_have_count(1)
    assert len(requests) == asked

    # A click on an option picks it too.
    method.fill("")
    method.press("ArrowDown")
    options.nth(1).click()
    expect(method).to_have_value("MC")
    expect(method).to_be_focused()
    seed.look(page, shots, "picked-by-click")

    # Typing fast asks once, for the whole word: the page's clock is held while three
    # keys are typed, then moved past the 60 ms pause.
    page.clock.install()
    page.clock.pause_at(datetime.datetime.now() + datetime.timedelta(seconds=5))
    method.fill("")
    method.focus()
    asked = len(requests)
    method.press_sequentially("ame")
    page.wait_for_timeout(100)  # real time: no request may leave while the clock is held
    assert requests[asked:] == []
    page.clock.run_for(100)
    expect(options).to_have_count(1)
    assert [request["q"] for request in requests[asked:]] == ["ame"]
