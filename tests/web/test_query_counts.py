"""No page's number of queries grows with the data it shows (no N+1): each page is read
with one subscription, then with four."""

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext

from continuity.models import Subscription
from devdata.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_pages_read_a_fixed_number_of_queries(demo, client, sell, monkeypatch):
    client.login(request=HttpRequest(), username="supervisor", password=DEMO_PASSWORD)
    # The session is renewed (written) at most once a minute (core.sessions): once here,
    # then never during the test, so that no count depends on the clock.
    monkeypatch.setattr("core.sessions.RENEW_EVERY_SECONDS", 10**6)
    client.get("/customers/004021/")
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    urls = [
        "/customers/004021/",
        f"/orders/{order.number}/",
        f"/continuity/subscriptions/{subscription.pk}/",
        "/payments/exceptions/",
        "/continuity/forecast/",
        "/batch/runs/",
    ]
    before = {url: queries(client, url) for url in urls}
    for _ in range(3):
        sell()

    assert {url: queries(client, url) for url in urls} == before
