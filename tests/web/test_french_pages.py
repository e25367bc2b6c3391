"""Pages in French show dates and amounts the French way, and name statuses by their
label (docs/glossary.md), never an ISO date or a lowercased English word."""

import datetime
import html
import re

import pytest
from django.http import HttpRequest
from django.urls import reverse

from continuity.models import Occurrence, Subscription
from continuity.reason_codes import reason_codes_for
from continuity.subscription_actions.shipments import subscription_reschedule_shipment
from core.actors import Actor
from devdata.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@pytest.fixture
def french_agent(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    return client


def visible_text(response) -> str:
    """What a reader sees: the page without its tags, scripts and attributes (a date
    input's value is ISO by the HTML standard, and not text), every run of spaces (the
    no-break ones French puts before a colon too) as one space."""
    page = response.content.decode()
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_skip_form_lists_shipments_with_french_dates_and_amounts(french_agent, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    third = Occurrence.objects.get(subscription=subscription, sequence=3)

    text = visible_text(
        french_agent.get(reverse("continuity:action", args=[subscription.pk, "skip"]))
    )

    amount = f"{third.amount:.2f}".replace(".", ",")
    assert f"3 · {third.ship_date:%d/%m/%Y} · {amount} USD · Planifiée" in text
    assert ISO_DATE.findall(text) == []


def test_the_cancel_preview_speaks_french_dates_and_amounts(french_agent, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    second = Occurrence.objects.get(subscription=subscription, sequence=2)
    url = reverse("continuity:action", args=[subscription.pk, "cancel"])

    text = visible_text(french_agent.post(url, {"reason_code": "PRICE", "step": "preview"}))

    assert (
        "Le montant de 27,98 USD payé pour l'expédition 1 est remboursé sur la carte : "
        "marchandises 27,98 USD, livraison 0,00 USD, taxe 0,00 USD." in text
    )
    assert f"L'expédition 2 du {second.ship_date:%d/%m/%Y} est annulée." in text
    assert ISO_DATE.findall(text) == []


def test_a_refusal_names_the_status_by_its_label(french_agent, sell):
    order = sell()  # submitted
    lines = order.lines.count()

    response = french_agent.post(
        reverse("orders:line_add", args=[order.number]), {"quantity": 1, "item_number": "0014"}
    )

    assert response.status_code == 400
    assert (
        f"La commande client {order.number} ne peut plus être modifiée : son statut est "
        "« Soumise »." in visible_text(response)
    )
    assert order.lines.count() == lines


def test_the_timeline_tells_a_date_change_in_french_dates(french_agent, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    third = Occurrence.objects.get(subscription=subscription, sequence=3)
    before, after = third.ship_date, third.ship_date + datetime.timedelta(days=2)
    subscription_reschedule_shipment(
        subscription_id=subscription.pk,
        occurrence_id=third.pk,
        new_date=after,
        actor=Actor.job("test"),
        reason_code=reason_codes_for("reschedule")[0].code,
    )

    text = visible_text(french_agent.get(reverse("customers:detail", args=["004021"])))

    assert f"date modifiée ({before:%d/%m/%Y} → {after:%d/%m/%Y})" in text
    assert ISO_DATE.findall(text) == []
