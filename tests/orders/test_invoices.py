"""Invoices: one per warehouse shipment, numbered from their own sequence, billing its
lines, the order's delivery charge on the first, their tax and the payment applied; the
printable page, the API, the "your order has shipped" email, the order page's fulfilment
and the supervisors' Release button."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core import mail
from django.http import HttpRequest
from django.urls import reverse

from continuity.models import ChildOrderRelease, ContinuityParameters
from core.actors import Actor
from core.models import AuditEntry, Notification
from core.notification_sending import notifications_send
from customers.models import Customer
from devdata.demo import DEMO_PASSWORD
from orders.fulfilment.services import (
    ShipmentConfirmation,
    sales_order_release,
    warehouse_shipment_record,
)
from orders.models import Invoice, SalesOrder, SalesOrderStatus, WarehouseShipment
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

WAREHOUSE = Actor.job("warehouse-test")
INVOICE_NUMBER = re.compile(r"^INV-\d{6}$")


def released(order: SalesOrder) -> SalesOrder:
    """The child order as the warehouse has it (whatever the release setting made it)."""
    if order.status == SalesOrderStatus.SUBMITTED:
        sales_order_release(order_id=order.pk, actor=WAREHOUSE)
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.RELEASED
    return order


def ship(order, reference, lines, *, carrier="UPS", tracking=None, day=None):
    """Confirm one parcel of `order`: `lines` are (line number, quantity) pairs."""
    from core.dates import business_date

    recorded = warehouse_shipment_record(
        ShipmentConfirmation(
            order_number=order.number,
            warehouse_reference=reference,
            carrier_code=carrier,
            tracking_number=tracking or f"1Z{reference}",
            shipped_date=day or business_date(),
            lines=tuple((number, quantity, "") for number, quantity in lines),
        ),
        source="api",
        actor=WAREHOUSE,
    )
    assert recorded.created
    return recorded.shipment.invoice


def sign_in(client, username, language=None, staff=False):
    if staff:  # the demo's agent and supervisor work in the pages, not the admin site
        get_user_model().objects.filter(username=username).update(is_staff=True)
    assert client.login(request=HttpRequest(), username=username, password=DEMO_PASSWORD)
    if language:
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


@pytest.fixture
def by_supervisor(db):
    """Child orders wait for a supervisor's release."""
    parameters = ContinuityParameters.load()
    parameters.child_order_release = ChildOrderRelease.BY_SUPERVISOR
    parameters.save()


@pytest.fixture
def laurent(demo_priced):
    return Customer.objects.get(account_number="004023")


# --- Numbers and amounts ------------------------------------------------------------------


def test_each_shipment_is_invoiced_with_the_next_number_of_the_invoices_own_sequence(
    child_order, carriers
):
    order = released(child_order())

    first = ship(order, "WH-A1", [(1, 1)])
    second = ship(order, "WH-A2", [(2, 1)])

    assert INVOICE_NUMBER.match(first.number) and INVOICE_NUMBER.match(second.number)
    assert int(second.number[4:]) == int(first.number[4:]) + 1
    # Orders keep their own sequence: an invoice takes no order number, nor the reverse.
    assert not SalesOrder.objects.filter(number__startswith="INV-").exists()
    assert list(
        order.invoices.order_by("id").values_list("number", "shipment__warehouse_reference")
    ) == [
        (first.number, "WH-A1"),
        (second.number, "WH-A2"),
    ]


def test_a_partial_then_a_final_shipment_bill_the_order_to_the_cent_with_sales_tax(
    demo_priced, child_order, carriers
):
    order = released(child_order())
    assert order.prices_include_tax is False
    assert order.tax_amount > 0  # Seattle's sales tax

    first = ship(order, "WH-B1", [(1, 1)])
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.PARTIALLY_SHIPPED
    second = ship(order, "WH-B2", [(2, 1)])
    order.refresh_from_db()

    line_1, line_2 = order.lines.order_by("line_number")
    assert [
        (line.order_line_id, line.quantity, line.amount, line.tax_amount)
        for line in first.lines.all()
    ] == [(line_1.pk, 1, line_1.amount, line_1.tax_amount)]
    assert [
        (line.order_line_id, line.quantity, line.amount, line.tax_amount)
        for line in second.lines.all()
    ] == [(line_2.pk, 1, line_2.amount, line_2.tax_amount)]
    # The delivery charge is on the first invoice, as the customer was told at the order.
    assert (first.delivery_amount, first.delivery_tax_amount) == (
        order.delivery_amount,
        order.delivery_tax_amount,
    )
    assert (second.delivery_amount, second.delivery_tax_amount) == (
        Decimal("0.00"),
        Decimal("0.00"),
    )
    for invoice in (first, second):
        assert invoice.total == invoice.subtotal + invoice.delivery_amount + invoice.tax_amount
    assert first.subtotal + second.subtotal == order.subtotal
    assert first.tax_amount + second.tax_amount == order.tax_amount
    assert first.total + second.total == order.total
    assert [line.shipped_quantity for line in (line_1, line_2)] == [1, 1]
    assert order.status in {SalesOrderStatus.INVOICED, SalesOrderStatus.COMPLETED}


def test_a_euro_order_is_invoiced_with_prices_including_vat(laurent, child_order, carriers):
    order = released(child_order(customer=laurent))
    assert (order.currency, order.prices_include_tax, order.tax_jurisdiction) == (
        "EUR",
        True,
        "France",
    )

    first = ship(order, "WH-C1", [(1, 1)], carrier="COLISSIMO")
    second = ship(order, "WH-C2", [(2, 1)], carrier="COLISSIMO")

    # 0013 at 17,99 (TVA 20 %: 3,00 within it) and Standard delivery 5,95 (0,99 within it);
    # then 0015 at 9,99 (TVA 5,5 %: 0,52). Tax is within the amounts, never added on top.
    assert [
        (
            i.currency,
            i.prices_include_tax,
            i.tax_jurisdiction,
            i.subtotal,
            i.delivery_amount,
            i.delivery_tax_amount,
            i.tax_amount,
            i.total,
        )
        for i in (first, second)
    ] == [
        (
            "EUR",
            True,
            "France",
            Decimal("17.99"),
            Decimal("5.95"),
            Decimal("0.99"),
            Decimal("3.99"),
            Decimal("23.94"),
        ),
        (
            "EUR",
            True,
            "France",
            Decimal("9.99"),
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("0.52"),
            Decimal("9.99"),
        ),
    ]
    assert [(line.tax_rate, line.tax_amount, line.gross_amount) for line in first.lines.all()] == [
        (Decimal("20.0000"), Decimal("3.00"), Decimal("17.99"))
    ]
    assert first.total + second.total == order.total == Decimal("33.93")


def test_the_payment_applied_is_the_shipments_charge_and_leaves_nothing_to_pay(
    child_order, carriers
):
    """Needs the hook that names a child order's charge (continuity's
    child_order_charges): the shipment's charge pays its invoices, so that the order
    completes when it is all shipped."""
    order = released(child_order())
    charge = order.parent.payments.get(occurrence__isnull=True)
    assert charge.amount == order.total == Decimal("27.98")

    first = ship(order, "WH-D1", [(1, 1)])
    second = ship(order, "WH-D2", [(2, 1)])
    order.refresh_from_db()

    assert [(i.payment_id, i.total, i.payment_applied, i.balance) for i in (first, second)] == [
        (charge.pk, Decimal("17.99"), Decimal("17.99"), Decimal("0.00")),
        (charge.pk, Decimal("9.99"), Decimal("9.99"), Decimal("0.00")),
    ]
    assert order.status == SalesOrderStatus.COMPLETED


# --- The invoice page -----------------------------------------------------------------------


def test_the_invoice_page_shows_what_the_shipment_billed_in_english(client, child_order, carriers):
    order = released(child_order())
    invoice = ship(order, "WH-E1", [(1, 1)], tracking="1Z999AA10123456784")
    sign_in(client, "agent")

    response = client.get(reverse("orders:invoice", args=[invoice.number]))

    assert response.status_code == 200
    page = response.content.decode()
    assert f"data-invoice-number>{invoice.number}<" in page
    assert f'href="/orders/{order.number}/" data-order-link>{order.number}<' in page
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"' in page
    assert "Karen Berg" in page and "1420 Pine Street, Seattle, WA 98101, US" in page
    assert '<tr data-line="1">' in page and '<tr data-line="2">' not in page
    assert f"data-invoice-date>{invoice.invoice_date:%m/%d/%Y}<" in page
    assert 'data-total="total">17.99 USD<' in page
    assert 'data-total="balance">' in page and "Payment applied" in page
    assert "css/invoice.css" in page and "data-print" in page


def test_the_invoice_page_speaks_french_with_vat_included(client, laurent, child_order, carriers):
    order = released(child_order(customer=laurent))
    invoice = ship(order, "WH-F1", [(1, 1)], carrier="COLISSIMO", tracking="6A12345678901")
    sign_in(client, "agent", language="fr")

    page = client.get(reverse("orders:invoice", args=[invoice.number])).content.decode()

    assert "<h1>Facture " in page
    assert f"data-invoice-date>{invoice.invoice_date:%d/%m/%Y}<" in page
    assert 'data-total="total">23,94 EUR<' in page
    assert 'data-total="tax">3,99 EUR<' in page
    assert "Total TTC" in page or "TTC" in page
    assert "Prix TVA comprise." in page
    assert "Transporteur" in page and "Numéro de suivi" in page and "Imprimer" in page
    assert "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901" in page


def test_the_invoice_page_is_for_order_takers_only(client, child_order, carriers):
    order = released(child_order())
    invoice = ship(order, "WH-G1", [(1, 1)])
    url = reverse("orders:invoice", args=[invoice.number])

    assert client.get(url).status_code == 302  # to sign in
    no_role = get_user_model().objects.create_user("no-role", password=DEMO_PASSWORD)
    assert no_role.groups.count() == 0
    sign_in(client, "no-role")
    assert client.get(url).status_code == 403
    sign_in(client, "agent")
    assert client.get(reverse("orders:invoice", args=["INV-999999"])).status_code == 404


# --- The API ------------------------------------------------------------------------------


def test_the_api_gives_an_invoice_and_lists_an_orders_invoices_and_shipments(child_order, carriers):
    order = released(child_order())
    invoice = ship(order, "WH-H1", [(1, 1)], tracking="1ZH1")
    api = token_client(get_user_model().objects.get(username="agent"))

    body = api.get(f"/api/v1/invoices/{invoice.number}/").json()

    shipment = {
        "warehouse_shipment_id": "WH-H1",
        "carrier": "UPS",
        "carrier_name": "UPS",
        "tracking_number": "1ZH1",
        "tracking_url": "https://www.ups.com/track?tracknum=1ZH1",
        "shipped_date": invoice.invoice_date.isoformat(),
        "invoice": invoice.number,
        "lines": [{"line_number": 1, "item_number": "0013", "quantity": 1}],
    }
    assert {
        key: value
        for key, value in body.items()
        if key not in {"created_at", "payment", "payment_applied", "balance"}
    } == {
        "number": invoice.number,
        "invoice_date": invoice.invoice_date.isoformat(),
        "order": order.number,
        "customer": {"account_number": "004021", "full_name": "Karen Berg"},
        "currency": "USD",
        "prices_include_tax": False,
        "subtotal": "17.99",
        "delivery": {"amount": "0.00", "tax_rate": "0.0000", "tax": "0.00"},
        "tax": "0.00",
        "total": "17.99",
        "tax_jurisdiction": "",
        "shipment": shipment,
        "lines": [
            {
                "line_number": 1,
                "order_line": 1,
                "item_number": "0013",
                "item_name": "Daily vitamins, 30 tablets",
                "quantity": 1,
                "unit_price": "17.99",
                "amount": "17.99",
                "tax_rate": "0.0000",
                "tax": "0.00",
                "total": "17.99",
            }
        ],
    }
    assert Decimal(body["balance"]) == Decimal("17.99") - Decimal(body["payment_applied"])

    detail = api.get(f"/api/v1/sales-orders/{order.number}/").json()
    assert detail["status"] == "partially_shipped"
    assert detail["released_at"] is not None
    assert [line["shipped_quantity"] for line in detail["lines"]] == [1, 0]
    assert detail["warehouse_shipments"] == [shipment]
    assert detail["invoices"] == [
        {
            "number": invoice.number,
            "invoice_date": invoice.invoice_date.isoformat(),
            "currency": "USD",
            "total": "17.99",
            "payment_applied": body["payment_applied"],
            "balance": body["balance"],
        }
    ]


def test_the_invoice_api_answers_404_for_an_unknown_number_and_403_without_a_role(demo):
    from tests.factories import UserFactory

    agent = token_client(get_user_model().objects.get(username="agent"))
    response = agent.get("/api/v1/invoices/INV-424242/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (
        token_client(UserFactory(username="nobody")).get("/api/v1/invoices/INV-424242/").status_code
        == 403
    )


# --- The email ----------------------------------------------------------------------------


def test_the_shipped_email_gives_the_tracking_link_the_lines_and_the_invoice(child_order, carriers):
    order = released(child_order())
    invoice = ship(order, "WH-I1", [(1, 1)], tracking="1Z999AA1")
    mail.outbox.clear()

    notifications_send()

    (email,) = [message for message in mail.outbox if "has shipped" in message.subject]
    assert email.to == ["karen.berg@example.com"]
    assert email.subject == f"Your order {order.number} has shipped"
    assert (
        f"Your order {order.number} shipped on {invoice.invoice_date:%m/%d/%Y} with UPS."
        in email.body
    )
    assert "Tracking number: 1Z999AA1" in email.body
    assert "Follow your parcel: https://www.ups.com/track?tracknum=1Z999AA1" in email.body
    assert "- 1 \N{MULTIPLICATION SIGN} 0013 Daily vitamins, 30 tablets" in email.body
    assert f"Invoice {invoice.number}: 17.99 USD" in email.body
    assert "The rest of your order follows in another parcel" in email.body

    ship(order, "WH-I2", [(2, 1)])
    mail.outbox.clear()
    notifications_send()
    (last,) = mail.outbox
    assert "The rest of your order follows" not in last.body
    assert Notification.objects.filter(kind="order_shipped", status="sent").count() == 2


def test_the_shipped_email_is_in_french_for_a_french_customer(laurent, child_order, carriers):
    order = released(child_order(customer=laurent))
    invoice = ship(order, "WH-J1", [(1, 1)], carrier="COLISSIMO", tracking="6AJ1")
    mail.outbox.clear()

    notifications_send()

    (email,) = [message for message in mail.outbox if "expédiée" in message.subject]
    assert email.to == ["karen.laurent@example.fr"]
    assert email.subject == f"Votre commande {order.number} a été expédiée"
    assert "Bonjour Karen Laurent," in email.body
    assert (
        f"Votre commande {order.number} a été expédiée le {invoice.invoice_date:%d/%m/%Y} "
        "par Colissimo." in email.body
    )
    assert "Numéro de suivi\N{NO-BREAK SPACE}: 6AJ1" in email.body
    assert "https://www.laposte.fr/outils/suivre-vos-envois?code=6AJ1" in email.body
    assert f"Facture {invoice.number}\N{NO-BREAK SPACE}: 23,94 EUR" in email.body
    assert "Le reste de votre commande suit dans un autre colis" in email.body


# --- The order page and the Release button ---------------------------------------------------


def test_the_order_page_shows_shipped_quantities_shipments_and_invoices(
    client, child_order, carriers
):
    order = released(child_order())
    invoice = ship(order, "WH-K1", [(1, 1)], tracking="1ZK1")
    sign_in(client, "agent")

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert "data-fulfilment-status>Partially shipped<" in page
    assert re.search(r'<tr data-line="1">.*?<td class="num" data-shipped>1</td>', page, re.S)
    assert re.search(r'<tr data-line="2">.*?<td class="num" data-shipped>0</td>', page, re.S)
    assert '<tr data-shipment="WH-K1">' in page
    assert 'href="https://www.ups.com/track?tracknum=1ZK1"' in page
    assert f'href="/orders/invoices/{invoice.number}/"' in page
    assert "data-release-form" not in page


def test_a_supervisor_releases_a_submitted_child_order_from_its_page(
    client, by_supervisor, child_order
):
    order = child_order()
    assert order.status == SalesOrderStatus.SUBMITTED
    sign_in(client, "supervisor")
    assert (
        "data-release-form"
        in client.get(reverse("orders:detail", args=[order.number])).content.decode()
    )

    response = client.post(reverse("orders:release", args=[order.number]))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.RELEASED and order.released_at is not None
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Sales order {order.number} is released to the warehouse."
    ]
    assert (
        AuditEntry.objects.filter(
            object_id=str(order.pk), action="status_change", to_status="released"
        ).count()
        == 1
    )
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "data-release-form" not in page

    # Again: refused with the reason, nothing written.
    response = client.post(reverse("orders:release", args=[order.number]), follow=True)
    assert "cannot be released: its status is Released." in response.content.decode()
    assert AuditEntry.objects.filter(object_id=str(order.pk), to_status="released").count() == 1


def test_an_agent_neither_sees_nor_may_post_the_release(client, by_supervisor, child_order):
    order = child_order()
    audit_rows = AuditEntry.objects.count()
    sign_in(client, "agent")

    assert (
        "data-release-form"
        not in client.get(reverse("orders:detail", args=[order.number])).content.decode()
    )
    assert client.post(reverse("orders:release", args=[order.number])).status_code == 403
    order.refresh_from_db()
    assert (order.status, order.released_at) == (SalesOrderStatus.SUBMITTED, None)
    assert AuditEntry.objects.count() == audit_rows


def test_a_parent_order_is_not_released(client, by_supervisor, child_order):
    parent = child_order().parent
    sign_in(client, "supervisor")

    response = client.post(reverse("orders:release", args=[parent.number]), follow=True)

    assert "is not shipped by the warehouse itself" in response.content.decode()
    parent.refresh_from_db()
    assert (parent.status, parent.released_at) == (SalesOrderStatus.SUBMITTED, None)


# --- The admin ------------------------------------------------------------------------------


def test_the_admin_action_releases_submitted_child_orders_and_names_those_refused(
    client, by_supervisor, child_order
):
    child = child_order()
    parent = child.parent
    sign_in(client, "supervisor", staff=True)

    response = client.post(
        reverse("admin:orders_salesorder_changelist"),
        {"action": "release_to_warehouse", "_selected_action": [child.pk, parent.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "Sales orders released to the warehouse: 1.",
        f"Sales order {parent.number} is not shipped by the warehouse itself.",
    ]
    child.refresh_from_db()
    parent.refresh_from_db()
    assert (child.status, parent.status) == (SalesOrderStatus.RELEASED, SalesOrderStatus.SUBMITTED)


def test_the_admin_action_is_not_offered_to_agents(client, child_order):
    sign_in(client, "agent", staff=True)
    response = client.get(reverse("admin:orders_salesorder_changelist"))
    assert response.status_code == 200
    assert "release_to_warehouse" not in response.content.decode()


def test_the_admin_shows_shipments_and_invoices_read_only(client, child_order, carriers):
    order = released(child_order())
    invoice = ship(order, "WH-L1", [(1, 1)], tracking="1ZL1")
    shipment = WarehouseShipment.objects.get(warehouse_reference="WH-L1")
    sign_in(client, "admin")

    for url in (
        reverse("admin:orders_invoice_changelist") + f"?q={order.number}",
        reverse("admin:orders_invoice_change", args=[invoice.pk]),
        reverse("admin:orders_warehouseshipment_changelist") + "?q=1ZL1",
        reverse("admin:orders_warehouseshipment_change", args=[shipment.pk]),
        reverse("admin:orders_carrier_changelist"),
        reverse("admin:orders_salesorder_change", args=[order.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert (
        invoice.number
        in client.get(
            reverse("admin:orders_invoice_changelist") + f"?q={order.number}"
        ).content.decode()
    )
    assert (
        client.post(reverse("admin:orders_invoice_change", args=[invoice.pk]), {}).status_code
        == 403
    )
    assert Invoice.objects.get(pk=invoice.pk).total == invoice.total
