"""The invoice page in a browser, in English and in French: what the agent reads on
screen, and what the printer gets (the print stylesheet hides the menu and the buttons)."""

from playwright.sync_api import expect

from core.actors import Actor
from core.dates import business_date
from customers.models import Customer
from orders.fulfilment.services import (
    ShipmentConfirmation,
    sales_order_release,
    warehouse_shipment_record,
)
from tests.orders.conftest import carriers, child_order  # noqa: F401  (fixtures)

from .conftest import DESKTOP, PHONE, log_in
from .words import Words

WAREHOUSE = Actor.job("e2e-warehouse")


def shipped_invoice(order, carrier, tracking):
    """Release the child order and ship its first line: its invoice."""
    if order.status == "submitted":
        sales_order_release(order_id=order.pk, actor=WAREHOUSE)
    recorded = warehouse_shipment_record(
        ShipmentConfirmation(
            order_number=order.number,
            warehouse_reference=f"WH-{order.number}",
            carrier_code=carrier,
            tracking_number=tracking,
            shipped_date=business_date(),
            lines=((1, 1, ""),),
        ),
        source="api",
        actor=WAREHOUSE,
    )
    return recorded.shipment.invoice


def check_printed(page, shots, name):
    """On paper: no menu, no Print button; the invoice, its lines and totals remain."""
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("[data-print]")).to_be_hidden()
    expect(page.locator("[data-invoice]")).to_be_visible()
    expect(page.locator("table.receipt")).to_be_visible()
    expect(page.locator('[data-total="total"]')).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    shots(page, name)
    page.emulate_media(media="screen")


def test_an_english_invoice_on_screen_and_printed(new_page, shots, child_order, carriers):  # noqa: F811
    invoice = shipped_invoice(child_order(), "UPS", "1Z999AA10123456784")
    page = new_page("en-US")
    log_in(page)

    page.goto(f"/orders/invoices/{invoice.number}/")

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Invoice {invoice.number}")
    tracking = page.get_by_role("link", name="1Z999AA10123456784")
    expect(tracking).to_have_attribute(
        "href", "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    expect(page.locator('[data-total="total"]')).to_have_text("26.39 USD")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    expect(page.locator(".topbar")).to_be_visible()
    shots(page, "invoice-en-screen")
    check_printed(page, shots, "invoice-en-print")

    # On a phone the page does not scroll sideways (the lines scroll in their own box).
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots(page, "invoice-en-390")
    page.set_viewport_size(DESKTOP)

    # Back on the order: its fulfilment, with the shipment and a link to the invoice.
    page.get_by_role("link", name=f"Back to order {invoice.order.number}").click()
    fulfilment = page.locator("#fulfilment")
    expect(fulfilment.locator("[data-fulfilment-status]")).to_have_text("Partially shipped")
    expect(fulfilment.get_by_role("link", name=invoice.number)).to_have_count(2)
    shots(page, "order-fulfilment-en")


def test_a_french_invoice_on_screen_and_printed(new_page, shots, child_order, carriers):  # noqa: F811
    french = Words("fr")
    laurent = Customer.objects.get(account_number="004023")
    invoice = shipped_invoice(child_order(customer=laurent), "COLISSIMO", "6A12345678901")
    page = new_page(french.locale)
    log_in(page, user_label=french["User name"], password_label=french["Password"])

    page.goto(f"/orders/invoices/{invoice.number}/")

    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Facture {invoice.number}")
    expect(page.locator('[data-total="total"]')).to_have_text("23,94 EUR")
    expect(page.get_by_text("Prix TVA comprise.")).to_be_visible()
    expect(page.get_by_role("button", name="Imprimer")).to_be_visible()
    shots(page, "invoice-fr-screen")
    check_printed(page, shots, "invoice-fr-print")
