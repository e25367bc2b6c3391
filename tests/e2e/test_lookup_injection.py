"""A type-ahead list shows a customer's or an item's name as text, whatever it holds
(static/js/lookup.js builds each option with textContent): markup in a name injects no
element and runs no script."""

from playwright.sync_api import expect

from customers.models import Customer
from orders.models import Item

from . import seed
from .conftest import log_in

SCRIPTED_NAME = '<img src=x onerror="window.injected=1">'
BOLD_NAME = "<b>Bold</b>&amp;"
ITEM_NAME = '<img src=x onerror="window.injected=2">Club</li><li role="option">Fake'


def test_markup_in_a_name_is_shown_as_text_in_the_lists(new_page, shots, sell):
    customer = Customer.objects.get(account_number="004022")
    customer.first_name, customer.last_name = SCRIPTED_NAME, BOLD_NAME
    customer.save()
    Item.objects.filter(item_number="88000").update(name=ITEM_NAME)
    order = sell("88000", customer=customer)

    page = new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, "supervisor")
    page.goto("/batch/create_child_orders/")

    item = seed.field(page, "Continuity item")
    item.press_sequentially("88000")
    listbox = seed.listbox_of(page, item)
    options = listbox.get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text(f"88000 · {ITEM_NAME}")
    item.press("Escape")

    sales_order = seed.field(page, "Sales order")
    sales_order.focus()
    sales_order.press("ArrowDown")
    listbox = seed.listbox_of(page, sales_order)
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text(f"{order.number} · {SCRIPTED_NAME} {BOLD_NAME}")
    seed.look(page, shots, "names-with-markup")

    # Nothing the names hold became an element, and no handler ran.
    assert page.locator("ul[role=listbox] img, ul[role=listbox] b").count() == 0
    assert page.evaluate("() => window.injected") is None
    assert dialogs == []
