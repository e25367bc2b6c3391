"""The agent's pages through Django's test client: every step of the seed procedure,
each refusal shown on the page with nothing written or charged, and access rules."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from continuity.models import Subscription
from devdata.demo import DEMO_PASSWORD
from orders.models import SalesOrder, SalesOrderLine, SalesOrderStatus
from payments.gateways.simulator.models import SimulatedCard
from payments.models import Card, Payment, PaymentStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


@pytest.fixture
def agent_client(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


@pytest.fixture
def order(agent_client):
    response = agent_client.post(reverse("customers:order_new", args=["004021"]))
    number = response.url.rstrip("/").rsplit("/", 1)[-1]
    return SalesOrder.objects.get(number=number)


def text(response) -> str:
    return response.content.decode()


def add_card(client, order, number="4111 1111 1111 1111", code="737"):
    return client.post(
        reverse("orders:card_add", args=[order.number]),
        {
            "card_number": number,
            "name_on_card": "Karen Berg",
            "expiry_month": "12",
            "expiry_year": "2030",
            "security_code": code,
            "method": "Visa",
        },
    )


def completed(client, order, item="88000"):
    client.post(
        reverse("orders:line_add", args=[order.number]), {"quantity": 1, "item_number": item}
    )
    client.post(reverse("orders:complete", args=[order.number]))
    return order


# --- Access ---------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/"


def test_the_login_page_has_labelled_fields(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert re.search(r'<label for="id_username">', text(response))
    assert re.search(r'<label for="id_password">', text(response))


def test_a_user_without_a_role_is_refused(demo, client):
    UserFactory(username="nobody")
    client.login(request=HttpRequest(), username="nobody", password="secret-password")
    assert client.get("/").status_code == 403
    assert client.post(reverse("customers:order_new", args=["004021"])).status_code == 403
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize("username", ["agent", "supervisor", "admin"])
def test_every_role_can_take_orders(demo, client, username):
    client.login(request=HttpRequest(), username=username, password=DEMO_PASSWORD)
    assert client.get("/").status_code == 200


# --- Step 1: search -------------------------------------------------------------------


def test_the_search_field_has_its_label(agent_client):
    html = text(agent_client.get("/"))
    assert '<label for="id_q">Search</label>' in html


def test_search_returns_the_results_dialog(agent_client):
    response = agent_client.get("/", {"q": "Karen"}, **FETCH)

    assert response.status_code == 200
    html = text(response)
    assert re.findall(r'data-account="(\d+)"', html) == [
        "004021",
        "004022",
        "004025",
        "004023",
        "004024",
    ]
    assert html.count("Karen Berg") == 2  # the row's name cell and its radio's label
    assert "Seattle" in html
    assert ">Select<" in html


def test_a_search_without_script_shows_the_dialog_in_the_page(agent_client):
    response = agent_client.get("/", {"q": "Karen"})
    assert response.status_code == 200
    assert '<dialog id="search-dialog" aria-labelledby="search-dialog-title" open>' in text(
        response
    )


def test_a_query_under_two_characters_gets_a_message(agent_client):
    response = agent_client.get("/", {"q": "k"}, **FETCH)
    assert response.status_code == 400
    assert "Enter at least 2 characters to search." in text(response)


def test_a_search_of_two_letters_gets_a_message_and_searches_nothing(agent_client):
    with CaptureQueriesContext(connection) as queries:
        response = agent_client.get("/", {"q": "ka"}, **FETCH)
    assert response.status_code == 400
    assert "Enter a word of at least 3 characters to search." in text(response)
    assert [q["sql"] for q in queries.captured_queries if "customers_customer" in q["sql"]] == []


def test_select_opens_the_customer_page(agent_client):
    response = agent_client.get(reverse("customers:select"), {"account": "004021"})
    assert response.url == reverse("customers:detail", args=["004021"])
    page = text(agent_client.get(response.url))
    assert "Karen Berg" in page
    assert "1420 Pine Street" in page
    assert ">New sales order<" in page


# --- Step 2: new sales order ----------------------------------------------------------


def test_new_sales_order_shows_its_number(agent_client, order):
    response = agent_client.get(reverse("orders:detail", args=[order.number]))
    assert f'data-order-number="{order.number}">{order.number}</h1>' in text(response)
    assert order.customer.account_number == "004021"


# --- Step 3: item number --------------------------------------------------------------


def test_a_continuity_line_shows_the_program_and_planned_shipments(agent_client, order):
    response = agent_client.post(
        reverse("orders:line_add", args=[order.number]),
        {"quantity": 1, "item_number": "88000"},
        **FETCH,
    )
    assert response.status_code == 200
    html = text(response)
    assert "Continuity program WELLNESS6" in html
    assert html.count('<td class="num">27.98 <span class="currency">USD</span></td>') == 6
    assert order.lines.count() == 1


def test_an_unknown_item_gives_an_inline_error_and_adds_nothing(agent_client, order):
    response = agent_client.post(
        reverse("orders:line_add", args=[order.number]),
        {"quantity": 1, "item_number": "99999"},
        **FETCH,
    )
    assert response.status_code == 400
    assert (
        '<p class="error" id="item-number-error" role="alert">Item number 99999 does not exist.</p>'
        in text(response)
    )
    assert not SalesOrderLine.objects.filter(order=order).exists()


# --- Steps 4 to 6: complete, card, payment --------------------------------------------


def test_complete_opens_the_summary_with_the_amount_due(agent_client, order):
    agent_client.post(
        reverse("orders:line_add", args=[order.number]), {"quantity": 1, "item_number": "88000"}
    )
    response = agent_client.post(reverse("orders:complete", args=[order.number]))
    assert response.url == reverse("orders:summary", args=[order.number])
    html = text(agent_client.get(response.url))
    assert '<dd class="due" data-amount-due>27.98 USD</dd>' in html
    assert ">Add credit card<" in html


def test_a_card_form_shown_again_never_echoes_the_number_or_code(agent_client, order):
    completed(agent_client, order)
    response = add_card(agent_client, order, number="4111 1111 1111 1112", code="918")

    assert response.status_code == 400
    html = text(response)
    assert "This card number is not valid. Check the digits." in html
    assert "4111 1111 1111 1112" not in html
    assert "4111111111111112" not in html
    assert 'value="918"' not in html
    assert not Card.objects.exists()
    assert not SimulatedCard.objects.using("gateway").exists()


def test_a_card_is_added_and_shown_as_brand_and_last_four(agent_client, order):
    completed(agent_client, order)
    response = add_card(agent_client, order)
    card = Card.objects.get()
    assert (
        response.url
        == reverse("orders:summary", args=[order.number]) + f"?method=Visa&card={card.pk}"
    )
    html = text(agent_client.get(response.url))
    assert f'<option value="{card.pk}" selected>Visa •••• 1111</option>' in html
    assert "4111111111111111" not in html


def test_a_bad_payment_line_is_refused_next_to_its_field(agent_client, order):
    completed(agent_client, order)
    response = agent_client.post(
        reverse("orders:payment_set", args=[order.number]), {"method": "Diners"}
    )
    assert response.status_code == 400
    assert "Method of payment Diners does not exist." in text(response)
    order.refresh_from_db()
    assert order.payment_method is None


# --- Step 7: submit -------------------------------------------------------------------


def test_submit_charges_once_and_shows_the_schedule(agent_client, order):
    completed(agent_client, order)
    add_card(agent_client, order)
    card = Card.objects.get()
    agent_client.post(
        reverse("orders:payment_set", args=[order.number]), {"method": "visa", "card": card.pk}
    )

    response = agent_client.post(reverse("orders:submit", args=[order.number]))

    assert response.url == reverse("orders:detail", args=[order.number])
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.SUBMITTED
    assert list(Payment.objects.filter(sales_order=order).values_list("status", "amount")) == [
        (PaymentStatus.APPROVED, Decimal("27.98"))
    ]
    html = text(agent_client.get(response.url))
    assert html.count('<span class="badge status-scheduled">Scheduled</span>') == 5
    assert html.count('<span class="badge status-paid">Paid</span>') == 1
    assert "Continuity sales order" in html

    again = agent_client.post(reverse("orders:submit", args=[order.number]))
    assert again.url == reverse("orders:detail", args=[order.number])
    assert Payment.objects.filter(sales_order=order).count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1


def test_a_declined_card_shows_the_reason_and_keeps_the_order_open(agent_client, order):
    completed(agent_client, order)
    add_card(agent_client, order, number="4000 0000 0000 0002")
    card = Card.objects.get()
    agent_client.post(
        reverse("orders:payment_set", args=[order.number]), {"method": "Visa", "card": card.pk}
    )

    response = agent_client.post(reverse("orders:submit", args=[order.number]))

    assert response.status_code == 400
    assert (
        "The card was declined: The bank declined the charge. Try again later or use another card."
        in text(response)
    )
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.OPEN
    assert not Subscription.objects.exists()
    assert list(Payment.objects.values_list("status", flat=True)) == [PaymentStatus.DECLINED]


def test_a_submitted_order_refuses_new_lines_with_a_message(agent_client, order):
    completed(agent_client, order, item="0013")
    agent_client.post(reverse("orders:payment_set", args=[order.number]), {"method": "OnAccount"})
    agent_client.post(reverse("orders:submit", args=[order.number]))

    response = agent_client.post(
        reverse("orders:line_add", args=[order.number]), {"quantity": 1, "item_number": "0014"}
    )

    assert response.status_code == 400
    assert f"Sales order {order.number} can no longer be changed: its status is Submitted." in text(
        response
    )
    assert order.lines.count() == 1


def test_an_unknown_order_is_404(agent_client):
    assert agent_client.get(reverse("orders:detail", args=["SO-999999"])).status_code == 404


def test_every_visible_form_field_has_a_label(agent_client, order):
    completed(agent_client, order)
    html = text(agent_client.get(reverse("orders:summary", args=[order.number])))
    ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html))
    hidden = set(re.findall(r'<input type="hidden"[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    assert ids - hidden - labelled == set()


def test_users_of_the_admin_only_are_not_agents(demo, client):
    get_user_model().objects.create_user("clerk", password="pw-123456")
    client.login(request=HttpRequest(), username="clerk", password="pw-123456")
    assert client.get(reverse("customers:detail", args=["004021"])).status_code == 403
