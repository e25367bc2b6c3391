"""The customer page is made of the sections that payments, orders and continuity
register: the page, the API and the actions they add read the registry."""

import pytest
from django.http import HttpRequest
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import AuditEntry
from customers.models import Customer
from customers.page_sections import customer_page_sections
from devdata.demo import DEMO_PASSWORD
from orders.models import SalesOrder

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


def test_cards_orders_and_subscriptions_are_registered_in_page_order():
    assert [section.name for section in customer_page_sections()] == [
        "cards",
        "recent_orders",
        "subscriptions",
    ]


def test_the_api_carries_one_field_per_section_after_the_addresses(agent):
    api = APIClient()
    api.force_authenticate(agent)

    data = api.get("/api/v1/customers/004021/").json()

    assert list(data)[-4:] == ["addresses", "cards", "recent_orders", "subscriptions"]
    assert data["cards"] == []
    assert data["recent_orders"] == []


def test_new_order_from_the_customer_page_is_served_by_orders_at_the_same_url(agent_client):
    assert reverse("customers:order_new", args=["004021"]) == "/customers/004021/orders/new/"

    response = agent_client.post("/customers/004021/orders/new/")

    order = SalesOrder.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("orders:detail", args=[order.number])


def test_a_blocked_customer_gets_the_page_again_with_the_refusal_and_no_order(agent_client):
    Customer.objects.filter(account_number="004021").update(blocked=True)
    audit_rows = AuditEntry.objects.count()

    response = agent_client.post("/customers/004021/orders/new/")

    assert response.status_code == 400
    page = response.content.decode()
    assert "Customer 004021 is blocked and cannot place orders." in page
    assert 'id="new-sales-order"' in page
    for heading in ("Cards", "Subscriptions", "Timeline", "Sales orders"):
        assert f"<h2>{heading}</h2>" in page or f'id="timeline-title">{heading}' in page
    assert not SalesOrder.objects.exists()
    assert AuditEntry.objects.count() == audit_rows


def test_a_new_order_for_an_unknown_customer_is_a_404(agent_client):
    assert agent_client.post("/customers/999999/orders/new/").status_code == 404
    assert not SalesOrder.objects.exists()
