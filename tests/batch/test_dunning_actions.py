"""Payment exceptions: retry now, change card then retry, settle an unknown outcome,
release a hold, and the supervisors' page that offers them."""

import pytest
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from continuity.dunning import (
    occurrences_charge_now,
    payment_unknown_mark_declined,
    subscription_change_card,
    subscription_release_hold,
)
from continuity.models import Occurrence, Subscription
from core.actors import Actor
from core.errors import Conflict
from core.models import AuditEntry
from devdata.demo import DEMO_PASSWORD
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment
from payments.services import card_add
from tests.batch.conftest import days, on_day
from tests.batch.test_process_payments import give_card
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("test")


def second_shipment(order):
    return Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[1]


def charge_second(order, card):
    give_card(order, card)
    occurrence = second_shipment(order)
    run_date = occurrence.ship_date - days(5)
    with on_day(run_date):
        run = batch_run_request(
            job=BatchJob.PROCESS_PAYMENTS,
            actor=ACTOR,
            run_date=run_date,
            order_number=order.number,
        )
        batch_run_inline(run)
    occurrence.refresh_from_db()
    return occurrence


def the_day_after_its_run(occurrence):
    """When a supervisor settles a charge left unknown by charge_second's run: a run's
    claim on the key it sent outlives an unknown answer (PAYMENT_GATEWAY_CLAIM_SECONDS),
    and settling is refused while it runs, so the supervisor acts once it has ended."""
    return occurrence.ship_date - days(4)


def new_card(order, number="5555 5555 5555 4444"):
    subscription = Subscription.objects.get(parent_order=order)
    return card_add(
        customer=subscription.customer,
        card_number=number,
        expiry_month=10,
        expiry_year=2031,
        security_code="737",
        name_on_card="Karen Berg",
        actor=ACTOR,
    )


def approved_sales(occurrence):
    return (
        SimulatedTransaction.objects.using("gateway")
        .filter(idempotency_key__startswith=f"occurrence-{occurrence.pk}-", approved=True)
        .count()
    )


def test_changing_the_card_retries_at_once_and_releases_the_hold(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 9987")  # lost card: on hold
    assert Subscription.objects.get(parent_order=order).status == "on_hold"
    card = new_card(order)

    subscription, results = subscription_change_card(
        subscription_id=occurrence.subscription_id,
        card_id=card.pk,
        actor=ACTOR,
        reason="Customer gave a new card",
    )

    assert [(r.occurrence_id, r.outcome) for r in results] == [(occurrence.pk, "paid")]
    assert (subscription.status, subscription.hold_reason, subscription.card_id) == (
        "active",
        "",
        card.pk,
    )
    assert subscription.payment_method.code == "Mastercard"
    occurrence.refresh_from_db()
    assert occurrence.status == "paid"
    assert occurrence.payment.card_id == card.pk
    assert approved_sales(occurrence) == 1
    assert AuditEntry.objects.filter(
        action="subscription_card_changed",
        object_id=str(subscription.pk),
        reason="Customer gave a new card",
    ).exists()


def test_a_card_change_whose_retry_is_declined_keeps_the_hold(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 9987")
    declining = new_card(order, "4000 0000 0000 9979")  # stolen

    subscription, results = subscription_change_card(
        subscription_id=occurrence.subscription_id, card_id=declining.pk, actor=ACTOR
    )

    assert [r.outcome for r in results] == ["on_hold"]
    assert subscription.status == "on_hold"
    assert approved_sales(occurrence) == 0


def test_another_customers_card_is_refused_and_nothing_changes(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 9987")
    foreign = CardFactory()  # another customer's
    before = Subscription.objects.get(parent_order=order).card_id

    with pytest.raises(ValidationError) as excinfo:
        subscription_change_card(
            subscription_id=occurrence.subscription_id, card_id=foreign.pk, actor=ACTOR
        )

    assert excinfo.value.message_dict == {"card": ["This card does not belong to the customer."]}
    assert Subscription.objects.get(parent_order=order).card_id == before
    assert Payment.objects.filter(occurrence=occurrence).count() == 1


def test_retry_now_charges_a_declined_shipment_once(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 0309")  # declines twice, then approves
    assert occurrence.status == "payment_declined"

    first = occurrences_charge_now(occurrence_ids=[occurrence.pk], actor=ACTOR)
    second = occurrences_charge_now(occurrence_ids=[occurrence.pk], actor=ACTOR)
    third = occurrences_charge_now(occurrence_ids=[occurrence.pk], actor=ACTOR)

    assert [first[0].outcome, second[0].outcome, third[0].outcome] == [
        "declined",
        "paid",
        "skipped",
    ]
    assert approved_sales(occurrence) == 1


def test_an_unknown_outcome_charged_at_the_gateway_is_recorded_as_paid_not_declined(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 0259")  # charged, answer lost
    assert occurrence.status == "payment_unknown"

    with on_day(the_day_after_its_run(occurrence)):
        payment_unknown_mark_declined(
            occurrence_id=occurrence.pk, actor=ACTOR, reason="Bank says no charge"
        )

    occurrence.refresh_from_db()
    assert occurrence.status == "paid"
    assert approved_sales(occurrence) == 1


def test_an_unknown_outcome_the_gateway_never_saw_is_settled_as_declined(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 0267")  # timed out before charging
    assert occurrence.status == "payment_unknown"

    with on_day(the_day_after_its_run(occurrence)):
        payment_unknown_mark_declined(
            occurrence_id=occurrence.pk, actor=ACTOR, reason="Bank confirmed nothing was charged"
        )

    occurrence.refresh_from_db()
    assert occurrence.status == "payment_declined"
    assert Payment.objects.get(occurrence=occurrence).status == "declined"
    assert approved_sales(occurrence) == 0


def test_mark_declined_needs_a_reason_and_an_unknown_outcome(sell):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 0002")
    with pytest.raises(ValidationError):
        payment_unknown_mark_declined(occurrence_id=occurrence.pk, actor=ACTOR, reason=" ")
    with pytest.raises(Conflict):
        payment_unknown_mark_declined(occurrence_id=occurrence.pk, actor=ACTOR, reason="x")
    occurrence.refresh_from_db()
    assert occurrence.status == "payment_declined"


def test_releasing_a_hold_makes_the_declined_shipment_due_today(sell, today):
    order = sell()
    occurrence = charge_second(order, "4000 0000 0000 9987")

    subscription = subscription_release_hold(
        subscription_id=occurrence.subscription_id, actor=ACTOR, reason="Customer called back"
    )

    assert subscription.status == "active"
    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.payment_attempts, occurrence.next_payment_attempt_on) == (
        "payment_declined",
        0,
        today,
    )
    with pytest.raises(Conflict):
        subscription_release_hold(subscription_id=subscription.pk, actor=ACTOR, reason="again")


# --- The page ----------------------------------------------------------------------------


@pytest.fixture
def supervisor_client(demo, client):
    assert client.login(request=HttpRequest(), username="supervisor", password=DEMO_PASSWORD)
    return client


def test_agents_get_403_on_payment_exceptions(demo, client):
    client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    assert client.get(reverse("exceptions:exceptions")).status_code == 403
    assert (
        client.post(reverse("exceptions:release_hold", args=[1]), {"reason": "x"}).status_code
        == 403
    )


def test_the_page_lists_declined_unknown_and_on_hold_items(supervisor_client, sell):
    declined = charge_second(sell(), "4000 0000 0000 0002")
    unknown = charge_second(sell(), "4000 0000 0000 0259")
    held = charge_second(sell(), "4000 0000 0000 9987")

    html = supervisor_client.get(reverse("exceptions:exceptions")).content.decode()

    for occurrence in (declined, unknown, held):
        assert f'data-occurrence="{occurrence.pk}"' in html
    assert f'data-subscription="{held.subscription_id}"' in html
    assert "The bank declined the charge. Try again later or use another card." in html
    assert html.count(">Mark declined<") == 1
    assert ">Release hold<" in html and ">Retry now<" in html


def test_release_hold_from_the_page_needs_a_reason(supervisor_client, sell):
    held = charge_second(sell(), "4000 0000 0000 9987")
    url = reverse("exceptions:release_hold", args=[held.subscription_id])

    supervisor_client.post(url, {"reason": ""})
    assert Subscription.objects.get(pk=held.subscription_id).status == "on_hold"

    supervisor_client.post(url, {"reason": "Customer will pay"})
    assert Subscription.objects.get(pk=held.subscription_id).status == "active"


def test_change_card_from_the_page_retries_and_reports(supervisor_client, sell):
    held = charge_second(sell(), "4000 0000 0000 9987")
    order = held.subscription.parent_order
    card = new_card(order)

    response = supervisor_client.post(
        reverse("exceptions:change_card", args=[held.subscription_id]),
        {"card": card.pk, "reason": "New card by phone"},
    )

    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == "paid"
    page = supervisor_client.get(response.url).content.decode()
    assert "Card changed to Mastercard •••• 4444." in page


def test_retry_now_from_the_page_releases_a_hold_then_charges(supervisor_client, sell):
    held = charge_second(sell(), "4000 0000 0000 9987")  # lost card: on hold
    # The customer's bank lifted the block: the same card now approves.
    card_token = held.subscription.card.token
    from payments.gateways.simulator.models import SimulatedCard

    SimulatedCard.objects.using("gateway").filter(token=card_token).update(behaviour="approve")

    supervisor_client.post(reverse("exceptions:retry", args=[held.pk]))

    held.refresh_from_db()
    assert held.status == "paid"
    assert Subscription.objects.get(pk=held.subscription_id).status == "active"
    assert approved_sales(held) == 1
