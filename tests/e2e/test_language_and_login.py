"""The language of the pages (the browser's by default, the header's switcher after) and
the login every page needs."""

import re

from playwright.sync_api import expect

from . import seed
from .conftest import log_in
from .words import Words


def expect_customer_service_in(page, words: Words):
    expect(page.locator("html")).to_have_attribute("lang", words.language)
    expect(page.get_by_role("heading", level=1)).to_have_text(words["Customer service"])
    expect(seed.field(page, words["Search"])).to_be_visible()
    expect(seed.button(page, words["Search"])).to_be_visible()
    menu = page.get_by_role("navigation")
    expect(menu.get_by_role("link", name=words["Customer service"], exact=True)).to_be_visible()


def test_language_switcher_changes_the_language(new_page, shots):
    english, french = Words("en"), Words("fr")
    # A French browser gets French pages without asking...
    page = new_page(french.locale)
    log_in(page, user_label=french["User name"], password_label=french["Password"])
    expect_customer_service_in(page, french)
    switcher = seed.field(page, french["Language"])
    expect(switcher).to_have_value("fr")
    expect(switcher.locator("option")).to_have_text(["EN", "FR"])
    shots(page, "french-from-the-browser")

    # ...and the switcher in the header changes the language at once, on the same page.
    with page.expect_navigation(url=re.compile(r"/$")):
        switcher.select_option("en")
    expect_customer_service_in(page, english)
    shots(page, "switched-to-english")

    # The choice holds on the next pages.
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    expect(seed.button(page, english["New sales order"])).to_be_visible()
    with page.expect_navigation(url=re.compile(rf"/customers/{seed.KAREN_ACCOUNT}/$")):
        seed.field(page, english["Language"]).select_option("fr")
    expect(seed.button(page, french["New sales order"])).to_be_visible()
    expect(page.get_by_text(french["Customer service"], exact=True).first).to_be_visible()
    shots(page, "customer-page-switched-back-to-french")


def test_language_can_be_switched_before_signing_in(new_page, shots):
    english, french = Words("en"), Words("fr")
    page = new_page(english.locale)
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text(english["Sign in"])
    with page.expect_navigation(url=re.compile(r"/accounts/login/")):
        seed.field(page, english["Language"]).select_option("fr")
    expect(page.get_by_role("heading", level=1)).to_have_text(french["Sign in"])
    expect(seed.field(page, french["User name"])).to_be_visible()
    expect(seed.field(page, french["Password"])).to_be_visible()
    expect(seed.button(page, french["Sign in"])).to_be_visible()
    shots(page, "login-in-french")


def test_pages_need_login(new_page, shots):
    words = Words("en")
    page = new_page(words.locale)
    for path in ("/", f"/customers/{seed.KAREN_ACCOUNT}/", "/orders/SO-000001/"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=" + re.escape(path) + "$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(words["Sign in"])
        expect(page.get_by_role("navigation")).to_have_count(0)
    shots(page, "login-required")

    # Signing in goes on to the page asked for.
    page.get_by_label(words["User name"], exact=True).fill("agent")
    page.get_by_label(words["Password"], exact=True).fill("wrong password")
    seed.button(page, words["Sign in"]).click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    shots(page, "wrong-password")
    page.goto(f"/customers/{seed.KAREN_ACCOUNT}/")
    page.get_by_label(words["User name"], exact=True).fill("agent")
    page.get_by_label(words["Password"], exact=True).fill("continuity-demo")
    seed.button(page, words["Sign in"]).click()
    expect(page).to_have_url(re.compile(rf"/customers/{seed.KAREN_ACCOUNT}/$"))
    expect(seed.button(page, words["New sales order"])).to_be_visible()
