"""The subscription page, its actions (form, preview, confirmation), the customer's
timeline, the forecast and the admin's program change, through Django's test client."""

import re

import pytest
from django.http import HttpRequest
from django.urls import reverse

from continuity.models import Occurrence, Subscription
from continuity.subscription_actions.pause import subscription_pause
from core.actors import Actor
from core.models import AuditEntry
from devdata.demo import DEMO_PASSWORD
from orders.models import Item
from tests.batch.conftest import days
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


def html(response) -> str:
    return response.content.decode()


def test_the_customer_page_links_each_subscription_and_shows_the_timeline(agent_client, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)

    page = html(agent_client.get(reverse("customers:detail", args=["004021"])))

    assert f'data-manage-subscription="{subscription.pk}"' in page
    assert "data-timeline" in page
    assert f"Sales order {order.number}: Open → Submitted" in page
    assert f"Shipment 1 · {order.number}: Paid" not in page  # created paid: no change
    assert "Card Visa •••• 4242: card added (Visa •••• 4242)" in page


def test_skip_shows_a_preview_then_skips_on_confirmation(agent_client, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    third = Occurrence.objects.get(subscription=subscription, sequence=3)
    url = reverse("continuity:action", args=[subscription.pk, "skip"])

    form_page = html(agent_client.get(url))
    assert '<label for="id_reason_code">Reason</label>' in form_page

    preview = agent_client.post(
        url, {"occurrence": third.pk, "reason_code": "TRAVEL", "step": "preview"}
    )
    assert preview.status_code == 200
    assert "is not charged and not sent." in html(preview)
    third.refresh_from_db()
    assert third.status == "scheduled"  # a preview writes nothing

    done = agent_client.post(
        url, {"occurrence": third.pk, "reason_code": "TRAVEL", "step": "confirm"}
    )
    assert done.url == reverse("continuity:subscription", args=[subscription.pk])
    third.refresh_from_db()
    assert third.status == "skipped"


def test_the_preview_shows_the_values_previewed(agent_client, sell):
    """The fields, disabled under the preview, show what the agent chose: the third
    shipment and TRAVEL, not the first shipment and an empty reason."""
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    third = Occurrence.objects.get(subscription=subscription, sequence=3)
    url = reverse("continuity:action", args=[subscription.pk, "skip"])

    preview = html(
        agent_client.post(url, {"occurrence": third.pk, "reason_code": "TRAVEL", "step": "preview"})
    )

    reason = re.search(r'<input[^>]*id="id_reason_code"[^>]*>', preview).group()
    assert 'value="TRAVEL"' in reason and "disabled" in reason
    assert re.search(rf'<option value="{third.pk}" selected>', preview)


def test_the_reason_and_card_fields_are_type_ahead_lookups_with_the_same_checks(agent_client, sell):
    """Reason and Card are text fields the browser turns into lists (lookup.js): the
    reason's list is the action's, the card's the customer's, shown by its label; a card
    or a reason not offered is refused as before, and nothing changes."""
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    url = reverse("continuity:action", args=[subscription.pk, "change_card"])

    form_page = html(agent_client.get(url))
    reason = re.search(r'<input[^>]*id="id_reason_code"[^>]*>', form_page).group()
    assert 'data-lookup="/api/v1/lookups/reason-codes/"' in reason
    assert 'data-lookup-params="action=change_card"' in reason
    card = re.search(r'<input[^>]*id="id_card"[^>]*>', form_page).group()
    assert 'data-lookup="/api/v1/lookups/cards/"' in card
    assert 'data-lookup-params="customer=004021"' in card
    assert 'data-lookup-show="label"' in card

    other_customer_card = CardFactory()
    card_before, audit_before = subscription.card_id, AuditEntry.objects.count()
    refused = agent_client.post(
        url, {"card": other_customer_card.pk, "reason_code": "NEWCARD", "step": "confirm"}
    )
    assert refused.status_code == 400
    refused = agent_client.post(
        url, {"card": subscription.card_id, "reason_code": "TRAVEL", "step": "confirm"}
    )
    assert refused.status_code == 400  # TRAVEL is not a reason for a card change
    subscription.refresh_from_db()
    assert subscription.card_id == card_before
    assert AuditEntry.objects.count() == audit_before


def test_an_action_without_reason_is_refused_on_the_page(agent_client, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    response = agent_client.post(
        reverse("continuity:action", args=[subscription.pk, "cancel"]), {"step": "confirm"}
    )
    assert response.status_code == 400
    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_cancel_from_the_page_previews_the_refund(agent_client, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    url = reverse("continuity:action", args=[subscription.pk, "cancel"])

    preview = html(agent_client.post(url, {"reason_code": "PRICE", "step": "preview"}))
    assert (
        "27.98 USD paid for shipment 1 is refunded to the card: goods 27.98 USD, "
        "delivery 0.00 USD, tax 0.00 USD." in preview
    )
    assert preview.count("is cancelled.") == 6

    agent_client.post(url, {"reason_code": "PRICE", "step": "confirm"})
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    page = html(agent_client.get(reverse("continuity:subscription", args=[subscription.pk])))
    assert ">Reactivate<" in page and ">Cancel<" not in page


def test_the_forecast_is_for_supervisors_and_counts_charges_and_shipments(demo, client, sell):
    order = sell()
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    assert client.get(reverse("continuity:forecast")).status_code == 403

    client.login(request=HttpRequest(), username="supervisor", password=DEMO_PASSWORD)
    page = html(client.get(reverse("continuity:forecast"), {"item": "88000"}))

    assert page.count("<rect") == 120  # two charts of 60 days, no chart library
    charge_day = (second.ship_date - days(5)).isoformat()
    row = re.search(rf'<tr data-day="{charge_day}">(.*?)</tr>', page, re.S).group(1)
    assert '<td class="num">1</td>' in row  # one charge that day
    ship_row = re.search(rf'<tr data-day="{second.ship_date.isoformat()}">(.*?)</tr>', page, re.S)
    assert ship_row.group(1).strip().endswith('<td class="num">1</td>')  # one shipment


def test_the_admin_applies_a_program_change_after_a_preview(demo, client, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    client.login(request=HttpRequest(), username="admin", password=DEMO_PASSWORD)
    tea, protein = Item.objects.get(item_number="0015"), Item.objects.get(item_number="0014")
    url = reverse("admin:continuity_subscription_change_future") + f"?ids={subscription.pk}"
    data = {
        "ids": [subscription.pk],
        "substitute_item": tea.pk,
        "replacement_item": protein.pk,
        "shift_days": 0,
        "reason": "Tea out of stock",
    }

    preview = client.post(url, {**data, "step": "preview"})
    assert html(preview).count("data-change=") == 5
    assert not Occurrence.objects.filter(subscription=subscription, lines__item=protein).exists()

    client.post(url, {**data, "step": "apply"})
    assert Occurrence.objects.filter(subscription=subscription, lines__item=protein).count() == 5
    assert (
        AuditEntry.objects.filter(
            action="occurrence_program_change", reason="Tea out of stock"
        ).count()
        == 5
    )


def test_agents_cannot_reach_the_program_change(agent_client, sell):
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    url = reverse("admin:continuity_subscription_change_future") + f"?ids={subscription.pk}"
    assert agent_client.get(url).status_code == 302  # to the admin login


def test_the_subscription_page_offers_the_declared_actions_its_state_allows(agent_client, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    url = reverse("continuity:subscription", args=[subscription.pk])
    button = rf'<a class="button( danger)?" href="[^"]*/{subscription.pk}/(\w+)/">([^<]+)</a>'

    def buttons():
        return re.findall(button, html(agent_client.get(url)))

    assert buttons() == [
        ("", "skip", "Skip a shipment"),
        ("", "reschedule", "Change a shipment&#x27;s date"),
        ("", "pause", "Pause"),
        ("", "change_card", "Change the card"),
        ("", "change_ship_to", "Change the ship-to address"),
        (" danger", "cancel", "Cancel"),
    ]
    subscription_pause(
        subscription_id=subscription.pk, actor=Actor.job("agent-test"), reason_code="TRAVEL"
    )
    assert [name for _, name, _ in buttons()] == [
        "skip",
        "reschedule",
        "resume",
        "change_card",
        "change_ship_to",
        "cancel",
        "reactivate",
    ]
