"""The whole seed procedure, steps 1 to 9, in the browser, in English and French:
the order for 88000 paid by Visa, then both batch pages, then the parent order shows its
child order.

The batch runs are carried out in the web process here (Celery's eager mode): this test
is about the pages; real workers are tested in tests/batch/test_reliability.py."""

import re

import pytest
from playwright.sync_api import expect

from batch.models import BatchJob, BatchRun, BatchRunStatus
from config.celery import app
from continuity.models import Occurrence, OccurrenceStatus
from orders.models import SalesOrder, SalesOrderKind

from . import seed
from .conftest import log_in
from .words import Words


@pytest.fixture
def eager_celery():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


# A date as the API sends it; the pages show dates in the reader's language.
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def assert_no_iso_dates(page):
    assert ISO_DATE.findall(page.locator("main").inner_text()) == []


def run_batch_page(page, words, shots, *, job_label, step, order_number="", from_lookup=False):
    """Open the job from the menu, fill Continuity item (and Sales order), OK; the run
    page shows the finished run. `from_lookup`: both picked from their type-ahead lists
    (the item after typing "8", the order from the list opened empty, which follows the
    item: that item's orders, newest first)."""
    page.get_by_role("link", name=words[job_label], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words[job_label])
    item = seed.field(page, words["Continuity item"])
    if from_lookup:
        seed.pick_from_lookup(page, item, seed.CONTINUITY_ITEM[:1], seed.CONTINUITY_ITEM)
        expect(item).to_have_value(seed.CONTINUITY_ITEM)
    else:
        item.fill(seed.CONTINUITY_ITEM)
    item.press("Tab")
    if order_number:
        sales_order = seed.field(page, words["Sales order"])
        if from_lookup:
            expect(sales_order).to_be_focused()
            seed.pick_from_lookup(page, sales_order, "", order_number)
            expect(sales_order).to_have_value(order_number)
        else:
            sales_order.fill(order_number)
    expect(seed.field(page, words["Run date"])).to_be_visible()
    seed.look(page, shots, f"{step}-form")
    seed.button(page, "OK").click()
    page.wait_for_url(re.compile(r"/batch/runs/\d+/$"))
    expect(page.locator("[data-run-status]")).to_have_text(words.status(BatchRunStatus.SUCCEEDED))
    seed.look(page, shots, f"{step}-run")
    assert_no_iso_dates(page)
    return BatchRun.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[-1]))


def walk_seed_steps_1_to_9(new_page, shots, language, *, from_lookup=False):
    """`from_lookup`: every typed value picked from its type-ahead list instead, by the
    keyboard alone; the steps are the same."""
    words = Words(language)
    page = new_page(words.locale)
    # A supervisor takes the order and runs both batches (an agent may not run batches).
    log_in(page, "supervisor", user_label=words["User name"], password_label=words["Password"])

    seed.step_1_find_karen_berg(page, words, shots)
    order_number = seed.step_2_new_sales_order(page, words, shots)
    seed.step_3_continuity_item(page, words, shots, from_lookup=from_lookup)
    seed.step_4_complete(page, words, shots, order_number)
    seed.step_5_add_card(page, words, shots, from_lookup=from_lookup)
    seed.step_6_payments(page, words, shots)
    seed.step_7_submit(page, words, shots, order_number)

    # Step 8. Process continuity payments, Continuity item 88000, OK. Nothing is due yet:
    # the first shipment was paid at submit, the second is a month away.
    payments = run_batch_page(
        page,
        words,
        shots,
        job_label="Process continuity payments",
        step="step8",
        from_lookup=from_lookup,
    )
    assert (payments.job, payments.item.item_number, payments.selected_count) == (
        BatchJob.PROCESS_PAYMENTS,
        "88000",
        0,
    )

    # Step 9. Create continuity child orders, 88000, the noted order number, OK.
    child_run = run_batch_page(
        page,
        words,
        shots,
        job_label="Create continuity child orders",
        step="step9",
        order_number=order_number,
        from_lookup=from_lookup,
    )
    summary = page.locator("[data-run-summary]")
    if language == "en":
        expect(summary).to_have_text(
            "Child orders created: 1. Not created: awaiting payment 0, payment declined 0, "
            "card expired 0, on hold 0"
        )
    else:
        expect(summary).to_have_text(
            "Commandes enfant créées\u00a0: 1. Non créées\u00a0: en attente de paiement 0, "
            "paiement refusé 0, carte expirée 0, suspendue 0"
        )
    child = SalesOrder.objects.get(parent__number=order_number)
    assert child.kind == SalesOrderKind.CONTINUITY_CHILD
    assert child_run.summary["created"] == 1
    created_link = page.locator("[data-child-orders]").get_by_role("link", name=child.number)
    expect(created_link).to_be_visible()

    # The parent order lists its child order, and the first shipment shows it.
    page.goto(f"/orders/{order_number}/")
    expect(page.locator("[data-child-orders]")).to_contain_text(child.number)
    first = page.locator("#continuity-schedule tbody tr").first
    expect(first.get_by_role("cell").nth(4)).to_have_text(child.number)
    expect(first.get_by_role("cell").nth(3)).to_have_text(
        words.status(OccurrenceStatus.CHILD_CREATED)
    )
    seed.look(page, shots, "step9-parent-shows-child-order")
    assert_no_iso_dates(page)
    first_occurrence = Occurrence.objects.get(subscription__parent_order=child.parent, sequence=1)
    assert first_occurrence.child_order_id == child.pk


def test_seed_procedure_steps_1_to_9_in_english(new_page, shots, eager_celery):
    walk_seed_steps_1_to_9(new_page, shots, "en")


def test_seed_procedure_steps_1_to_9_in_french(new_page, shots, eager_celery):
    walk_seed_steps_1_to_9(new_page, shots, "fr")


def test_seed_procedure_picked_from_the_lookups_in_english(new_page, shots, eager_celery):
    walk_seed_steps_1_to_9(new_page, shots, "en", from_lookup=True)


def test_seed_procedure_picked_from_the_lookups_in_french(new_page, shots, eager_celery):
    walk_seed_steps_1_to_9(new_page, shots, "fr", from_lookup=True)
