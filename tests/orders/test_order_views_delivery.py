"""The order pages with delivery and tax: the delivery mode typed by its code on the
order entry page (its refusals at the field, changing nothing), and the receipt of the
summary before Submit and of the order page (each line's tax, the delivery line, the
totals, in English and in French, without and with tax in the prices). Amounts worked
by hand in each test."""

import html
import re
from decimal import Decimal

import pytest
from django.http import HttpRequest
from django.urls import reverse

from core.models import AuditEntry
from devdata.demo import DEMO_PASSWORD
from orders.models import SalesOrder, SalesOrderStatus
from tests.factories import SalesOrderFactory, SalesOrderLineFactory, continuity_item

from .delivery_tables import delivery_and_tax_tables, paris_customer, seattle_customer

pytestmark = pytest.mark.django_db

NBSP = "\N{NO-BREAK SPACE}"


@pytest.fixture
def tables(demo):
    return delivery_and_tax_tables()


@pytest.fixture
def agent_client(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


def new_order(client, customer) -> SalesOrder:
    response = client.post(reverse("customers:order_new", args=[customer.account_number]))
    return SalesOrder.objects.get(number=response.url.rstrip("/").rsplit("/", 1)[-1])


def add_line(client, order, item, quantity):
    response = client.post(
        reverse("orders:line_add", args=[order.number]),
        {"quantity": quantity, "item_number": item.item_number},
    )
    assert response.status_code == 302


def complete(client, order):
    response = client.post(reverse("orders:complete", args=[order.number]))
    assert response.url == reverse("orders:summary", args=[order.number])


def set_mode(client, order, code):
    return client.post(
        reverse("orders:delivery_mode_set", args=[order.number]), {"delivery_mode": code}
    )


def totals(page: str) -> list[tuple[str, str]]:
    """The receipt's totals (dl.totals), label and amount."""
    block = re.search(r'<dl class="totals">(.*?)</dl>', page, re.DOTALL).group(1)
    return re.findall(r"<dt[^>]*>(.*?)</dt><dd[^>]*>(.*?)</dd>", block)


def receipt_rows(page: str) -> list[list[str]]:
    """The receipt's table rows, each cell's text (the narrow screen's inline name left
    out)."""
    body = re.search(r'<table class="grid lines receipt">.*?<tbody>(.*?)</tbody>', page, re.DOTALL)
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.DOTALL):
        row = re.sub(r'<span class="inline-name">.*?</span>', "", row)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        rows.append([" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells])
    return rows


@pytest.fixture
def seattle_order(tables, agent_client):
    """2 x 13.99 to Seattle, WA 98101, by the default mode (Standard 5.95), completed."""
    order = new_order(agent_client, seattle_customer())
    add_line(agent_client, order, tables.item, 2)
    complete(agent_client, order)
    return order


# --- The receipt ---------------------------------------------------------------------------


def test_the_summary_shows_each_line_s_tax_the_delivery_line_and_the_totals(
    agent_client, seattle_order
):
    # 27.98 x 10.25 % = 2.867 95 -> 2.87; delivery 5.95 x 10.25 % = 0.609 875 -> 0.61;
    # tax 2.87 + 0.61 = 3.48; total 27.98 + 5.95 + 3.48 = 37.41.
    page = text(agent_client.get(reverse("orders:summary", args=[seattle_order.number])))

    assert receipt_rows(page) == [
        ["1", "T1399", "Tea tin", "2", "13.99 USD", "27.98 USD", "10.25 %", "2.87 USD"],
        ["", "Delivery", "Standard", "", "", "5.95 USD", "10.25 %", "0.61 USD"],
    ]
    assert totals(page) == [
        ("Subtotal", "27.98 USD"),
        ("Delivery", "5.95 USD"),
        ("Tax", "3.48 USD"),
        ("Total", "37.41 USD"),
        ("Amount due now", "37.41 USD"),
    ]
    assert "Tax jurisdiction: Seattle, WA" in page
    assert '<span class="amount">37.41 USD</span>' in page
    seattle_order.refresh_from_db()
    assert (seattle_order.total, seattle_order.amount_due) == (Decimal("37.41"), Decimal("37.41"))


def test_the_summary_in_french(agent_client, seattle_order):
    agent_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    page = text(agent_client.get(reverse("orders:summary", args=[seattle_order.number])))

    assert receipt_rows(page)[1] == [
        "",
        "Livraison",
        "Standard FR",
        "",
        "",
        "5,95 USD",
        "10,25 %",
        "0,61 USD",
    ]
    assert totals(page) == [
        ("Sous-total HT", "27,98 USD"),
        ("Livraison", "5,95 USD"),
        ("Taxe", "3,48 USD"),
        ("Total", "37,41 USD"),
        ("Montant dû maintenant", "37,41 USD"),
    ]
    assert "Juridiction fiscale : Seattle, WA" in page.replace(NBSP, " ")


def test_prices_with_tax_show_the_vat_they_contain_never_added_on_top(tables, agent_client):
    # 17.99 with 20 % VAT: net 17.99 / 1.2 = 14.991 6 -> 14.99, VAT 3.00; delivery 4.90:
    # net 4.083 3 -> 4.08, VAT 0.82; total 17.99 + 4.90 = 22.89, of which VAT 3.82.
    order = new_order(agent_client, paris_customer())
    assert set_mode(agent_client, order, "colis").status_code == 302
    add_line(agent_client, order, tables.french_item, 1)
    complete(agent_client, order)
    agent_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"

    page = text(agent_client.get(reverse("orders:summary", args=[order.number])))

    assert receipt_rows(page) == [
        ["1", "T1799", "Thé", "1", "17,99 EUR", "17,99 EUR", "20 %", "3,00 EUR"],
        ["", "Livraison", "Colissimo FR", "", "", "4,90 EUR", "20 %", "0,82 EUR"],
    ]
    assert totals(page) == [
        ("Sous-total", "17,99 EUR"),
        ("Livraison", "4,90 EUR"),
        ("Total TTC", "22,89 EUR"),
        ("dont TVA", "3,82 EUR"),
        ("Montant dû maintenant", "22,89 EUR"),
    ]
    assert "Montant TTC" in page and "Taux de TVA" in page
    assert "Juridiction fiscale : France" in page.replace(NBSP, " ")
    order.refresh_from_db()
    assert (order.subtotal, order.delivery_amount, order.tax_amount, order.total) == (
        Decimal("17.99"),
        Decimal("4.90"),
        Decimal("3.82"),
        Decimal("22.89"),
    )

    agent_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = text(agent_client.get(reverse("orders:summary", args=[order.number])))
    assert totals(page)[2:4] == [("Total incl. VAT", "22.89 EUR"), ("of which VAT", "3.82 EUR")]


def test_delivery_is_free_at_or_above_its_threshold_and_still_shown_as_a_line(tables, agent_client):
    # 4 x 13.99 = 55.96 >= 50.00: delivery 0.00; tax 55.96 x 10.25 % = 5.7359 -> 5.74.
    order = new_order(agent_client, seattle_customer())
    add_line(agent_client, order, tables.item, 4)
    complete(agent_client, order)

    page = text(agent_client.get(reverse("orders:summary", args=[order.number])))

    assert receipt_rows(page)[1] == [
        "",
        "Delivery",
        "Standard",
        "",
        "",
        "0.00 USD",
        "10.25 %",
        "0.00 USD",
    ]
    assert totals(page) == [
        ("Subtotal", "55.96 USD"),
        ("Delivery", "0.00 USD"),
        ("Tax", "5.74 USD"),
        ("Total", "61.70 USD"),
        ("Amount due now", "61.70 USD"),
    ]


def test_a_submitted_order_shows_its_receipt_without_an_amount_due(agent_client, seattle_order):
    agent_client.post(
        reverse("orders:payment_set", args=[seattle_order.number]), {"method": "OnAccount"}
    )
    agent_client.post(reverse("orders:submit", args=[seattle_order.number]))
    seattle_order.refresh_from_db()
    assert seattle_order.status == SalesOrderStatus.SUBMITTED

    page = text(agent_client.get(reverse("orders:detail", args=[seattle_order.number])))

    assert receipt_rows(page)[1][1:3] == ["Delivery", "Standard"]
    assert totals(page) == [
        ("Subtotal", "27.98 USD"),
        ("Delivery", "5.95 USD"),
        ("Tax", "3.48 USD"),
        ("Total", "37.41 USD"),
    ]
    assert "<dd data-delivery-mode>Standard</dd>" in page


def test_a_child_order_shows_its_shipment_s_delivery_and_tax(tables, agent_client):
    # One shipment of 2 x 13.99 by Express: 27.98 + 14.95 + (2.87 + 1.53) = 47.33.
    customer = seattle_customer()
    parent = SalesOrderFactory(customer=customer, kind="continuity_parent", submitted=True)
    child = SalesOrderFactory(
        customer=customer,
        kind="continuity_child",
        parent=parent,
        submitted=True,
        subtotal=Decimal("27.98"),
        delivery_amount=Decimal("14.95"),
        delivery_tax_rate=Decimal("10.25"),
        delivery_tax_amount=Decimal("1.53"),
        tax_amount=Decimal("4.40"),
        tax_jurisdiction="Seattle, WA",
        delivery_mode=tables.express,
        total=Decimal("47.33"),
    )
    SalesOrderLineFactory(
        order=child,
        line_number=1,
        item=tables.item,
        quantity=2,
        tax_group="T-STD",
        tax_rate=Decimal("10.25"),
        tax_amount=Decimal("2.87"),
        gross_amount=Decimal("30.85"),
    )

    page = text(agent_client.get(reverse("orders:detail", args=[child.number])))

    assert receipt_rows(page) == [
        ["1", "T1399", "Tea tin", "2", "13.99 USD", "27.98 USD", "10.25 %", "2.87 USD"],
        ["", "Delivery", "Express", "", "", "14.95 USD", "10.25 %", "1.53 USD"],
    ]
    assert totals(page) == [
        ("Subtotal", "27.98 USD"),
        ("Delivery", "14.95 USD"),
        ("Tax", "4.40 USD"),
        ("Total", "47.33 USD"),
    ]


# --- The delivery mode at order entry ------------------------------------------------------


def test_the_entry_page_names_the_default_mode_until_one_is_chosen(tables, agent_client):
    order = new_order(agent_client, seattle_customer())

    page = text(agent_client.get(reverse("orders:detail", args=[order.number])))

    assert "Default delivery mode WSTD · Standard" in page
    assert '<option value="WEXP">Express</option>' in page
    assert '<option value="OLD">' not in page  # inactive: not offered
    # Item number keeps the focus the seed walk starts from.
    assert page.count("autofocus") == 1
    assert re.search(r"data-add-line-on-tab autofocus", page)


def test_a_mode_typed_in_lower_case_is_chosen_and_the_order_goes_back_through_complete(
    tables, agent_client, seattle_order
):
    # Express 14.95 (never free): tax 14.95 x 10.25 % = 1.532 375 -> 1.53;
    # total 27.98 + 14.95 + 2.87 + 1.53 = 47.33.
    response = set_mode(agent_client, seattle_order, "wexp")

    assert response.url == reverse("orders:detail", args=[seattle_order.number])
    seattle_order.refresh_from_db()
    assert seattle_order.delivery_mode == tables.express
    assert seattle_order.completed_at is None
    assert (seattle_order.delivery_amount, seattle_order.tax_amount, seattle_order.total) == (
        Decimal("14.95"),
        Decimal("4.40"),
        Decimal("47.33"),
    )
    page = text(agent_client.get(response.url))
    assert "Delivery mode changed: Complete shows the order's new total." in page
    assert "Delivery mode WEXP · Express" in page
    assert 'value="WEXP"' in page
    # The summary waits for Complete, as after a change of lines.
    summary = agent_client.get(reverse("orders:summary", args=[seattle_order.number]))
    assert summary.url == reverse("orders:detail", args=[seattle_order.number])

    complete(agent_client, seattle_order)
    page = text(agent_client.get(reverse("orders:summary", args=[seattle_order.number])))
    assert totals(page)[-2:] == [("Total", "47.33 USD"), ("Amount due now", "47.33 USD")]


def test_an_empty_mode_is_the_default_again(tables, agent_client, seattle_order):
    set_mode(agent_client, seattle_order, "WEXP")

    response = set_mode(agent_client, seattle_order, "   ")

    assert response.status_code == 302
    seattle_order.refresh_from_db()
    assert seattle_order.delivery_mode is None
    assert seattle_order.total == Decimal("37.41")


@pytest.mark.parametrize(
    "code, message",
    [
        ("NOPE", "Delivery mode NOPE does not exist."),
        ("old", "Delivery mode old does not exist."),  # inactive
        ("W" * 21, "Ensure this value has at most 20 characters (it has 21)."),
    ],
)
def test_a_refused_mode_shows_at_the_field_and_changes_nothing(
    agent_client, seattle_order, code, message
):
    before = (
        SalesOrder.objects.filter(pk=seattle_order.pk)
        .values("delivery_mode", "total", "amount_due", "tax_amount", "completed_at")
        .get()
    )
    audits = AuditEntry.objects.count()

    response = set_mode(agent_client, seattle_order, code)

    assert response.status_code == 400
    page = text(response)
    assert f'<p class="error" id="delivery-mode-error" role="alert">{message}</p>' in page
    assert 'aria-invalid="true" aria-describedby="delivery-mode-error" autofocus' in page
    assert f'value="{code}"' in page
    # The refused field has the focus, not Item number.
    assert page.count("autofocus") == 1
    after = (
        SalesOrder.objects.filter(pk=seattle_order.pk)
        .values("delivery_mode", "total", "amount_due", "tax_amount", "completed_at")
        .get()
    )
    assert after == before
    assert before["completed_at"] is not None
    assert AuditEntry.objects.count() == audits


def test_a_submitted_order_takes_no_delivery_mode(agent_client, seattle_order, tables):
    agent_client.post(
        reverse("orders:payment_set", args=[seattle_order.number]), {"method": "OnAccount"}
    )
    agent_client.post(reverse("orders:submit", args=[seattle_order.number]))

    response = set_mode(agent_client, seattle_order, "WEXP")

    assert response.status_code == 400
    assert (
        f"Sales order {seattle_order.number} can no longer be changed: its status is Submitted."
        in text(response)
    )
    seattle_order.refresh_from_db()
    # Submitted with the default mode, which it keeps by name (not the one refused).
    assert (seattle_order.delivery_mode.code, seattle_order.total) == ("WSTD", Decimal("37.41"))


def test_a_program_s_first_shipment_brings_its_delivery_line_to_the_summary(tables, agent_client):
    # The first shipment of 13.99, by the default mode: tax 13.99 x 10.25 % = 1.433 975
    # -> 1.43; delivery 5.95, tax 0.61; total 13.99 + 5.95 + 1.43 + 0.61 = 21.98.
    item = continuity_item(price=Decimal("13.99"))
    order = new_order(agent_client, seattle_customer())
    add_line(agent_client, order, item, 1)
    complete(agent_client, order)

    page = text(agent_client.get(reverse("orders:summary", args=[order.number])))

    rows = receipt_rows(page)
    assert rows[0][3:] == ["1", "13.99 USD", "13.99 USD", "10.25 %", "1.43 USD"]
    assert rows[1] == ["", "Delivery", "Standard", "", "", "5.95 USD", "10.25 %", "0.61 USD"]
    assert totals(page) == [
        ("Subtotal", "13.99 USD"),
        ("Delivery", "5.95 USD"),
        ("Tax", "2.04 USD"),
        ("Total", "21.98 USD"),
        ("Amount due now", "21.98 USD"),
    ]


def test_a_parent_line_mixing_rates_shows_its_tax_without_a_rate(tables, agent_client):
    # Its shipment: 10.00 at 10.25 % (1.03) and 5.00 at 0 % (0.00): tax 1.03, no one rate.
    customer = seattle_customer()
    parent = SalesOrderFactory(
        customer=customer,
        kind="continuity_parent",
        submitted=True,
        subtotal=Decimal("15.00"),
        delivery_amount=Decimal("0.00"),
        tax_amount=Decimal("1.03"),
        tax_jurisdiction="Seattle, WA",
        total=Decimal("16.03"),
    )
    SalesOrderLineFactory(
        order=parent,
        line_number=1,
        item=continuity_item(price=Decimal("15.00")),
        unit_price=Decimal("15.00"),
        amount=Decimal("15.00"),
        tax_rate=None,
        tax_amount=Decimal("1.03"),
        gross_amount=Decimal("16.03"),
    )

    page = text(agent_client.get(reverse("orders:detail", args=[parent.number])))

    assert receipt_rows(page)[0][4:] == ["15.00 USD", "15.00 USD", "", "1.03 USD"]
    assert totals(page)[-2:] == [("Tax", "1.03 USD"), ("Total", "16.03 USD")]
