"""What the agent's pages read (docs/benchmarks.md, "Second figures"): an open order's
page reads nothing of payments, invoices, shipments or subscriptions, which it does not
show; add line reads its program once; the skip and reschedule forms offer the same
shipments whether they come with the subscription's page read or not."""

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from continuity.forms import RescheduleForm, SkipForm
from continuity.models import Subscription
from continuity.selectors import subscription_page_get
from devdata.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


def statements(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def test_add_line_reads_its_program_once_and_an_open_order_no_payment(agent_client):
    response = agent_client.post(reverse("customers:order_new", args=["004021"]))
    number = response.url.rstrip("/").rsplit("/", 1)[-1]
    with CaptureQueriesContext(connection) as added:
        response = agent_client.post(
            reverse("orders:line_add", args=[number]),
            {"quantity": 1, "item_number": "88000"},
            HTTP_X_REQUESTED_WITH="fetch",
        )
    assert response.status_code == 200
    assert "88000" in response.content.decode()
    # Its price, the shipments it pays and the page's planned shipments: one read.
    program_reads = [
        sql for sql in statements(added) if 'FROM "continuity_continuityprogram"' in sql
    ]
    assert len(program_reads) == 1

    with CaptureQueriesContext(connection) as page:
        assert agent_client.get(reverse("orders:detail", args=[number])).status_code == 200
    read = " ".join(statements(page))
    for table in (
        "payments_payment",
        "orders_invoice",
        "orders_warehouseshipment",
        "continuity_subscription",
    ):
        assert f'FROM "{table}"' not in read


@pytest.mark.parametrize("form_class", [SkipForm, RescheduleForm])
def test_the_shipment_forms_offer_the_same_shipments_from_the_page_read(child_order, form_class):
    order = child_order()
    subscription = Subscription.objects.get(parent_order=order.parent)
    plain = form_class(subscription=subscription, action="skip")
    page_read = subscription_page_get(subscription_id=subscription.pk)
    with CaptureQueriesContext(connection) as captured:
        from_page = form_class(subscription=page_read, action="skip")
    assert from_page.fields["occurrence"].choices == plain.fields["occurrence"].choices
    assert plain.fields["occurrence"].choices
    # The reason codes only: the shipments come from the page's read.
    assert not any('FROM "continuity_occurrence"' in sql for sql in statements(captured))
