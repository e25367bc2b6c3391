"""A search of two letters alone is refused on the page, in the reader's language, and
opens no results; with a longer word next to them it is searched."""

import pytest
from playwright.sync_api import expect

from . import seed
from .conftest import log_in
from .words import Words


@pytest.mark.parametrize("language", ["en", "fr"])
def test_two_letters_alone_get_the_message_and_no_results(new_page, shots, language):
    words = Words(language)
    page = new_page(words.locale)
    log_in(page, user_label=words["User name"], password_label=words["Password"])
    page.goto("/")
    search = seed.field(page, words["Search"])
    search.fill("ka")
    search.press("Tab")

    message = words["Enter a word of at least %(count)d characters to search."] % {"count": 3}
    expect(page.locator("#search-error")).to_have_text(message)
    expect(search).to_have_attribute("aria-invalid", "true")
    expect(search).to_be_focused()
    expect(page.get_by_role("dialog")).to_be_hidden()
    shots(page, f"search-two-letters-refused-{language}")

    search.fill("ka berg")
    search.press("Tab")
    rows = page.get_by_role("dialog").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(seed.KAREN_BERG)
