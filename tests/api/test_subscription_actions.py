"""The subscription actions through the API: preview, then do, with a reason code."""

import pytest
from django.http import HttpRequest

from continuity.models import Occurrence, Subscription
from devdata.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


def post(api, subscription, action, body):
    return api.post(
        f"/api/v1/subscriptions/{subscription.pk}/{action}/", body, content_type="application/json"
    )


def test_a_skip_previewed_then_done(api, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    third = Occurrence.objects.get(subscription=subscription, sequence=3)

    preview = post(
        api,
        subscription,
        "skip",
        {"reason_code": "TRAVEL", "preview": True, "occurrence": third.pk},
    )
    assert preview.status_code == 200
    assert preview.json()["previewed_only"] is True
    assert [e["what"] for e in preview.json()["effects"]] == ["skip"]
    third.refresh_from_db()
    assert third.status == "scheduled"

    done = post(api, subscription, "skip", {"reason_code": "TRAVEL", "occurrence": third.pk})
    assert done.status_code == 200
    third.refresh_from_db()
    assert third.status == "skipped"


def test_cancel_then_cancel_again_is_a_409_and_changes_nothing(api, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    assert post(api, subscription, "cancel", {"reason_code": "PRICE"}).status_code == 200
    again = post(api, subscription, "cancel", {"reason_code": "PRICE"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert order.payments.filter(operation="refund").count() == 1


def test_a_bad_reason_code_is_a_400_on_its_field(api, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    response = post(api, subscription, "pause", {"reason_code": "NOPE"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason_code": ["Choose a reason from the list."]}
    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_an_unknown_action_is_a_404(api, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    assert post(api, subscription, "teleport", {"reason_code": "TRAVEL"}).status_code == 404
