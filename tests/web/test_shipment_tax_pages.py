"""Each shipment's delivery and tax on the pages: the subscription page (and what a fresh
pricing would charge instead), the action previews, the forecast and the payment
exceptions, in English and French.

Worked by hand (docs/tax.md): item 88000 ships 17.99 + 9.99 = 27.98 of goods a month to
Karen Berg, 1420 Pine Street, Seattle WA 98101, at 10.25 % (tax-exclusive, USD), with the
default Standard delivery of 5.95 (free only at or above 50.00 of goods):
    17.99 x 10.25 % = 1.843975 -> 1.84
     9.99 x 10.25 % = 1.023975 -> 1.02
     5.95 x 10.25 % = 0.609875 -> 0.61
    tax 1.84 + 1.02 + 0.61 = 3.47; total 27.98 + 5.95 + 3.47 = 37.40.
At 10.35 %: 1.861965 -> 1.86, 1.033965 -> 1.03, 0.615825 -> 0.62: tax 3.51, total 37.44.
Karen Laurent in Lyon, prices in EUR including 20 % TVA: the nets 17.99 / 1.2 = 14.9917
-> 14.99, 9.99 / 1.2 = 8.325 -> 8.33, 5.95 / 1.2 = 4.9583 -> 4.96, so the TVA inside is
3.00 + 1.66 + 0.99 = 5.65 and the total 27.98 + 5.95 = 33.93.
"""

import html as html_module
import re
from decimal import Decimal

import pytest
from django.http import HttpRequest
from django.urls import reverse

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from continuity.models import Occurrence, OccurrenceStatus, Subscription
from core.actors import Actor
from customers.models import Address, AddressKind, Customer
from devdata.demo import DEMO_PASSWORD
from orders.tax.models import TaxRate
from tests.batch.conftest import days, on_day
from tests.continuity.tax_setup import french_customer_in_euros, tax_and_delivery_set_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxed(demo):
    return tax_and_delivery_set_up()


@pytest.fixture
def agent_client(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    return client


@pytest.fixture
def supervisor_client(demo, client):
    assert client.login(request=HttpRequest(), username="supervisor", password=DEMO_PASSWORD)
    return client


def text_of(fragment: str) -> str:
    """What a reader sees of an HTML fragment, every run of spaces as one space."""
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def shipment_rows(page: str) -> list[str]:
    """The text of each row of the schedule table, in order."""
    table = re.search(r'<table class="grid schedule">(.*?)</table>', page, re.S).group(1)
    return [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]


def fresh_notices(page: str) -> dict[int, str]:
    """The notices under shipments whose charge would not be the one shown, by sequence."""
    rows = re.findall(r'<tr [^>]*data-fresh-charge="(\d+)">(.*?)</tr>', page, re.S)
    return {int(sequence): text_of(row) for sequence, row in rows}


def subscription_page(client, subscription) -> str:
    response = client.get(reverse("continuity:subscription", args=[subscription.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_each_shipment_shows_its_goods_delivery_tax_and_whole_charge(taxed, agent_client, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    first, second = Occurrence.objects.filter(subscription=subscription).order_by("sequence")[:2]

    page = subscription_page(agent_client, subscription)
    rows = shipment_rows(page)

    assert len(rows) == 6
    assert rows[0] == (
        f"1 {first.ship_date:%m/%d/%Y} 37.40 USD Paid — 27.98 5.95 Standard 3.47 Seattle, WA"
    )
    assert rows[1] == (
        f"2 {second.ship_date:%m/%d/%Y} 37.40 USD Scheduled — 27.98 5.95 Standard 3.47 Seattle, WA"
    )
    # Priced at today's rates for today's ship-to: nothing to say.
    assert fresh_notices(page) == {}


def test_a_rate_change_before_the_charge_says_what_will_be_charged(taxed, agent_client, sell):
    tables, _standard = taxed
    subscription = Subscription.objects.get(parent_order=sell())
    TaxRate.objects.filter(jurisdiction=tables.seattle).update(rate=Decimal("10.35"))

    page = subscription_page(agent_client, subscription)

    notice = (
        "Will be charged 37.44 USD instead of 37.40 USD: the ship-to address or the tax "
        "rates changed since it was priced."
    )
    # The paid shipment keeps its charge; the next three not charged yet are priced again
    # (only those: each costs queries); the stored amounts are not changed by a page.
    assert fresh_notices(page) == {2: notice, 3: notice, 4: notice}
    assert " 37.40 USD Scheduled — " in shipment_rows(page)[1]
    assert set(
        Occurrence.objects.filter(subscription=subscription).values_list("amount", flat=True)
    ) == {Decimal("37.40")}


def test_a_shipment_that_cannot_be_taxed_says_why_instead_of_an_amount(taxed, agent_client, sell):
    tables, _standard = taxed
    subscription = Subscription.objects.get(parent_order=sell())
    second = Occurrence.objects.get(subscription=subscription, sequence=2)
    TaxRate.objects.filter(jurisdiction=tables.seattle, group=tables.delivery).delete()

    notices = fresh_notices(subscription_page(agent_client, subscription))

    assert notices[2] == (
        "Cannot be charged now: No rate of the tax group DELIVERY in Seattle, WA on "
        f"{second.ship_date:%m/%d/%Y}."
    )
    assert set(notices) == {2, 3, 4}
    assert not any("Will be charged" in notice for notice in notices.values())


def test_a_moved_ship_to_is_previewed_with_its_new_charge_in_english_and_french(
    taxed, agent_client, sell
):
    karen = Customer.objects.get(account_number="004021")
    portland = Address.objects.create(
        customer=karen,
        kind=AddressKind.SHIPPING,
        name="Karen Berg",
        street="1 Burnside Street",
        city="Portland",
        state="OR",
        postal_code="97205",
        country="US",
    )
    subscription = Subscription.objects.get(parent_order=sell())
    second = Occurrence.objects.get(subscription=subscription, sequence=2)
    url = reverse("continuity:action", args=[subscription.pk, "change_ship_to"])
    data = {"reason_code": "MOVED", "address": portland.pk, "step": "preview"}

    english = text_of(agent_client.post(url, data).content.decode())
    agent_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    french = text_of(agent_client.post(url, data).content.decode())

    # No jurisdiction taxes Oregon: 27.98 + 5.95 = 33.93.
    assert (
        f"Shipment 2 of {second.ship_date:%m/%d/%Y} ships to the new address and is charged "
        "33.93 USD instead of 37.40 USD: its tax is the new address's." in english
    )
    assert (
        f"L'expédition 2 du {second.ship_date:%d/%m/%Y} part à la nouvelle adresse et sera "
        "débitée de 33,93 USD au lieu de 37,40 USD : sa taxe est celle de la nouvelle "
        "adresse." in french
    )


def test_a_refund_preview_gives_back_goods_delivery_and_tax(taxed, agent_client, sell):
    subscription = Subscription.objects.get(parent_order=sell())
    url = reverse("continuity:action", args=[subscription.pk, "cancel"])

    preview = text_of(
        agent_client.post(url, {"reason_code": "PRICE", "step": "preview"}).content.decode()
    )

    assert (
        "37.40 USD paid for shipment 1 is refunded to the card: goods 27.98 USD, delivery "
        "5.95 USD, tax 3.47 USD." in preview
    )


def test_a_french_refund_preview_says_the_tva_is_inside(taxed, agent_client, sell):
    subscription = Subscription.objects.get(parent_order=sell(customer=french_customer_in_euros()))
    url = reverse("continuity:action", args=[subscription.pk, "cancel"])
    agent_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"

    preview = text_of(
        agent_client.post(url, {"reason_code": "PRICE", "step": "preview"}).content.decode()
    )

    assert (
        "Le montant de 33,93 EUR payé pour l'expédition 1 est remboursé sur la carte : "
        "marchandises 27,98 EUR, livraison 5,95 EUR, dont TVA 5,65 EUR." in preview
    )


def test_a_french_page_shows_the_tva_inside_each_shipment(taxed, agent_client, sell):
    subscription = Subscription.objects.get(parent_order=sell(customer=french_customer_in_euros()))
    second = Occurrence.objects.get(subscription=subscription, sequence=2)
    agent_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"

    rows = shipment_rows(subscription_page(agent_client, subscription))

    assert rows[1] == (
        f"2 {second.ship_date:%d/%m/%Y} 33,93 EUR Planifiée — 27,98 5,95 Normale dont TVA 5,65 "
        "France"
    )


def test_the_forecast_shows_whole_charges_with_their_parts_one_currency_at_a_time(
    taxed, supervisor_client, sell
):
    order = sell()
    sell(customer=french_customer_in_euros())
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    charge_day = (second.ship_date - days(5)).isoformat()
    url = reverse("continuity:forecast")

    dollars = supervisor_client.get(url).content.decode()
    euros = supervisor_client.get(url, {"currency": "EUR"}).content.decode()

    row = re.search(rf'<tr data-day="{charge_day}">(.*?)</tr>', dollars, re.S).group(1)
    # Karen Berg's shipment alone: Karen Laurent's, in euros, is not added to it.
    assert text_of(row).split()[1:] == ["1", "37.40", "USD", "5.95", "3.47", "0"]
    assert "Next 60 days. Charges: 2 (74.80 USD)." in text_of(dollars)
    assert "Delivery 11.90 USD, tax 6.94 USD." in text_of(dollars)
    row = re.search(rf'<tr data-day="{charge_day}">(.*?)</tr>', euros, re.S).group(1)
    assert text_of(row).split()[1:] == ["1", "33.93", "EUR", "5.95", "5.65", "0"]
    assert ">of which VAT</th>" in euros
    assert "Delivery 11.90 EUR, of which VAT 11.30 EUR." in text_of(euros)


def test_the_exceptions_page_shows_the_whole_charge_with_delivery_and_tax(
    taxed, supervisor_client, sell
):
    from tests.batch.test_process_payments import give_card

    order = sell()
    give_card(order, "4000 0000 0000 0002")
    second = Occurrence.objects.get(subscription__parent_order=order, sequence=2)
    run_date = second.ship_date - days(5)
    with on_day(run_date):
        batch_run_inline(
            batch_run_request(
                job=BatchJob.PROCESS_PAYMENTS, actor=Actor.job("test"), run_date=run_date
            )
        )
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_DECLINED

    page = supervisor_client.get(reverse("exceptions:exceptions")).content.decode()

    row = re.search(rf'<tr data-occurrence="{second.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "37.40 USD delivery 5.95, tax 3.47" in text_of(row)
