"""Browser tests: Playwright's sync API driving Debian Chromium against pytest-django's
live server, on the demo data.

One Chromium for the whole package, a fresh browser context (cookies, language,
viewport) for every test. Every test saves a full-page screenshot of each step under
test-output/e2e/<test name>/.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

# Playwright's sync API keeps an asyncio event loop in this thread; Django would then
# refuse ORM calls made here (SynchronousOnlyOperation) although nothing runs concurrently.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Debian's Chromium (CI installs it); E2E_CHROMIUM points elsewhere on another system.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# A step that takes longer than this is a bug worth a failure, not a wait.
STEP_TIMEOUT_MS = 10_000

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "e2e"

DEMO_PASSWORD = "continuity-demo"


def pytest_collection_modifyitems(items):
    """Every browser test drives the live server, which reaches both database aliases
    (the payment simulator keeps its ledger through `gateway`), and needs committed data:
    a transactional database."""
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(
                pytest.mark.django_db(transaction=True, databases=["default", "gateway"])
            )


@pytest.fixture(scope="package")
def browser():
    # Package scope: Chromium starts once for the e2e tests and is gone (with Playwright's
    # event loop) before the rest of the suite runs.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Shots:
    """Numbered full-page screenshots of one test: 01-search.png, 02-results.png ..."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def __call__(self, page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request):
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    return Shots(OUTPUT / name)


@pytest.fixture
def new_page(browser, live_server, demo_priced):
    """new_page(locale) opens a page in a fresh context whose browser speaks `locale`:
    the Accept-Language header it sends is what picks the page's language."""
    contexts = []

    def open_page(locale="en-US", viewport=None):
        context = browser.new_context(
            locale=locale, viewport=viewport or DESKTOP, base_url=live_server.url
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def log_in(page, username="agent", *, user_label="User name", password_label="Password"):
    page.goto("/accounts/login/")
    page.get_by_label(user_label, exact=True).fill(username)
    page.get_by_label(password_label, exact=True).fill(DEMO_PASSWORD)
    page.get_by_label(password_label, exact=True).press("Enter")
    page.wait_for_url(re.compile(r"/$"))
