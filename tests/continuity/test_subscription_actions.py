"""The agent's actions on a subscription: each one previewed, done with a reason
code, audited; each refusal leaves everything as it was and charges nothing."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from continuity.models import Occurrence, Subscription
from continuity.program_changes import future_shipments_change, future_shipments_change_preview
from continuity.serializers import SubscriptionActionSerializer
from continuity.subscription_actions import action_get, action_register, actions_all
from continuity.subscription_actions.cancel import (
    cancel_preview,
    reactivate_preview,
    subscription_cancel,
    subscription_reactivate,
)
from continuity.subscription_actions.card_and_ship_to import (
    change_card_preview,
    subscription_change_card_with_reason,
    subscription_change_ship_to,
)
from continuity.subscription_actions.holds import RELEASE_HOLD
from continuity.subscription_actions.pause import (
    pause_preview,
    resume_preview,
    subscription_pause,
    subscription_resume,
)
from continuity.subscription_actions.shipments import (
    reschedule_preview,
    skip_preview,
    subscription_reschedule_shipment,
    subscription_skip_shipment,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.models import AuditEntry, Notification
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment
from tests.batch.conftest import days, on_day

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("agent-test")


def shipments(order):
    return list(Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence"))


def subscription_of(order):
    return Subscription.objects.get(parent_order=order)


def snapshot(order):
    subscription = subscription_of(order)
    return (
        subscription.status,
        subscription.hold_reason,
        subscription.card_id,
        subscription.ship_to_id,
        [(o.status, o.ship_date, o.payment_id, o.child_order_id) for o in shipments(order)],
        Payment.objects.count(),
        SimulatedTransaction.objects.using("gateway").count(),
    )


def refunds_for(occurrence):
    return list(
        Payment.objects.filter(occurrence=occurrence, operation="refund").values_list(
            "status", "amount"
        )
    )


def run_child_orders(run_date):
    with on_day(run_date):
        run = batch_run_request(job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=run_date)
        return batch_run_inline(run)


def run_payments(run_date):
    with on_day(run_date):
        run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date)
        return batch_run_inline(run)


# --- Skip --------------------------------------------------------------------------------


def test_skip_the_next_shipment_previews_then_skips_it_with_its_reason(sell):
    order = sell()
    subscription = subscription_of(order)
    first, second = shipments(order)[:2]

    preview = skip_preview(subscription_id=subscription.pk)
    # The next shipment not yet sent is the first (paid at submit, due today): refunded.
    assert [(e.what, e.occurrence.pk, e.amount) for e in preview.effects] == [
        ("skip", first.pk, None),
        ("refund", first.pk, Decimal("27.98")),
    ]

    subscription_skip_shipment(subscription_id=subscription.pk, actor=ACTOR, reason_code="TRAVEL")

    first.refresh_from_db()
    assert first.status == "skipped"
    assert refunds_for(first) == [("approved", Decimal("27.98"))]
    entry = AuditEntry.objects.get(object_id=str(first.pk), to_status="skipped")
    assert (entry.from_status, entry.reason, entry.actor_label) == (
        "paid",
        "TRAVEL: Customer away",
        "agent-test",
    )
    second.refresh_from_db()
    assert second.status == "scheduled"


def test_skip_a_chosen_scheduled_shipment_charges_and_refunds_nothing(sell):
    order = sell()
    third = shipments(order)[2]
    ledger = SimulatedTransaction.objects.using("gateway").count()

    subscription_skip_shipment(
        subscription_id=third.subscription_id,
        occurrence_id=third.pk,
        actor=ACTOR,
        reason_code="STOCK",
    )

    third.refresh_from_db()
    assert third.status == "skipped"
    assert refunds_for(third) == []
    assert SimulatedTransaction.objects.using("gateway").count() == ledger
    # The payment job never charges it.
    run = run_payments(third.ship_date)
    third.refresh_from_db()
    assert third.status == "skipped"
    assert not Payment.objects.filter(occurrence=third).exists()
    assert run.summary["paid"] == 1  # the second shipment only


def test_skipping_a_shipment_whose_child_order_exists_is_refused(sell, today):
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    before = snapshot(order)

    with pytest.raises(Conflict) as excinfo:
        subscription_skip_shipment(
            subscription_id=first.subscription_id,
            occurrence_id=first.pk,
            actor=ACTOR,
            reason_code="TRAVEL",
        )

    assert "has its child order" in excinfo.value.message
    assert snapshot(order) == before


@pytest.mark.parametrize("code", ["", "NOPE", "MOVED"])  # MOVED does not fit a skip
def test_an_action_without_a_fitting_reason_code_is_refused(sell, code):
    order = sell()
    before = snapshot(order)
    with pytest.raises(ValidationError) as excinfo:
        subscription_skip_shipment(
            subscription_id=subscription_of(order).pk, actor=ACTOR, reason_code=code
        )
    assert excinfo.value.message_dict == {"reason_code": ["Choose a reason from the list."]}
    assert snapshot(order) == before


# --- Change a shipment's date ------------------------------------------------------------


def test_a_shipment_moves_to_a_new_date_between_its_neighbours(sell):
    order = sell()
    second, _third = shipments(order)[1:3]
    new_date = second.ship_date + days(10)

    preview = reschedule_preview(
        subscription_id=second.subscription_id, occurrence_id=second.pk, new_date=new_date
    )
    assert [(e.what, e.day) for e in preview.effects] == [("move", new_date)]
    subscription_reschedule_shipment(
        subscription_id=second.subscription_id,
        occurrence_id=second.pk,
        new_date=new_date,
        actor=ACTOR,
        reason_code="TRAVEL",
    )

    second.refresh_from_db()
    assert second.ship_date == new_date
    entry = AuditEntry.objects.get(action="occurrence_rescheduled", object_id=str(second.pk))
    assert entry.details == {
        "before": (new_date - days(10)).isoformat(),
        "after": new_date.isoformat(),
    }


@pytest.mark.parametrize(
    ("when", "field"),
    [("past", "new_date"), ("after_next", "new_date"), ("none", "new_date")],
)
def test_a_date_in_the_past_or_beyond_the_next_shipment_is_refused(sell, today, when, field):
    order = sell()
    second, third = shipments(order)[1:3]
    new_date = {
        "past": today - days(1),
        "after_next": third.ship_date + days(1),
        "none": None,
    }[when]
    before = snapshot(order)
    with pytest.raises(ValidationError) as excinfo:
        subscription_reschedule_shipment(
            subscription_id=second.subscription_id,
            occurrence_id=second.pk,
            new_date=new_date,
            actor=ACTOR,
            reason_code="TRAVEL",
        )
    assert list(excinfo.value.message_dict) == [field]
    assert snapshot(order) == before


# --- Pause and resume --------------------------------------------------------------------


def test_a_paused_subscription_is_neither_charged_nor_shipped(sell):
    order = sell()
    subscription = subscription_of(order)
    second = shipments(order)[1]
    until = second.ship_date + days(3)

    preview = pause_preview(subscription_id=subscription.pk, until=until)
    assert ("skip", second.pk) in [(e.what, e.occurrence.pk) for e in preview.effects]
    subscription_pause(
        subscription_id=subscription.pk, until=until, actor=ACTOR, reason_code="TRAVEL"
    )
    subscription.refresh_from_db()
    assert (subscription.status, subscription.hold_reason, subscription.paused_until) == (
        "on_hold",
        "agent",
        until,
    )

    paid_run = run_payments(second.ship_date - days(5))
    child_run = run_child_orders(second.ship_date)

    assert paid_run.selected_count == 0
    assert child_run.summary["not_processed"].get("on_hold", 0) >= 1
    second.refresh_from_db()
    assert second.status == "scheduled"

    # The pause ends on its date: the jobs resume it, and the shipment whose date passed
    # during the pause is skipped; the next one is charged as usual.
    third = shipments(order)[2]
    run_payments(third.ship_date - days(5))
    subscription.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert (subscription.status, subscription.paused_until) == ("active", None)
    assert second.status == "skipped"
    assert third.status == "paid"


def test_resume_skips_what_passed_and_ships_what_was_paid(sell, today):
    order = sell()
    subscription = subscription_of(order)
    subscription_pause(subscription_id=subscription.pk, actor=ACTOR, reason_code="TRAVEL")
    second = shipments(order)[1]
    resumed_on = second.ship_date + days(1)

    # The agent resumes it on that day: what is due is computed from today.
    with on_day(resumed_on):
        preview = resume_preview(subscription_id=subscription.pk)
        effects = {e.occurrence.sequence: e.what for e in preview.effects}
        assert effects[1] == "ship"  # paid at submit: ships once resumed
        assert effects[2] == "skip"  # its date passed during the pause
        assert effects[3] == "charge"

        subscription_resume(subscription_id=subscription.pk, actor=ACTOR, reason_code="WINBACK")
    assert [o.status for o in shipments(order)][:3] == ["paid", "skipped", "scheduled"]
    assert subscription_of(order).status == "active"


def test_pausing_a_paused_or_cancelled_subscription_is_refused(sell):
    order = sell()
    subscription = subscription_of(order)
    subscription_pause(subscription_id=subscription.pk, actor=ACTOR, reason_code="TRAVEL")
    before = snapshot(order)
    with pytest.raises(Conflict):
        subscription_pause(subscription_id=subscription.pk, actor=ACTOR, reason_code="TRAVEL")
    assert snapshot(order) == before


# --- Change the card, change the ship-to ---------------------------------------------------


def test_changing_the_card_with_a_reason_retries_a_declined_shipment_at_once(sell):
    from tests.batch.test_dunning_actions import new_card
    from tests.batch.test_process_payments import give_card

    order = sell()
    give_card(order, "4000 0000 0000 9987")
    second = shipments(order)[1]
    run_payments(second.ship_date - days(5))
    card = new_card(order, "4242 4242 4242 4242")

    preview = change_card_preview(subscription_id=second.subscription_id, card_id=card.pk)
    assert next((e.what, e.occurrence.pk) for e in preview.effects) == ("charge_now", second.pk)
    subscription, results = subscription_change_card_with_reason(
        subscription_id=second.subscription_id,
        card_id=card.pk,
        actor=ACTOR,
        reason_code="NEWCARD",
    )

    assert [r.outcome for r in results] == ["paid"]
    assert subscription.status == "active"
    assert AuditEntry.objects.filter(
        action="subscription_card_changed", reason="NEWCARD: New card given"
    ).exists()


def test_a_card_change_refused_by_the_action_is_refused_by_its_preview(sell):
    from tests.batch.test_dunning_actions import new_card
    from tests.batch.test_process_payments import give_card

    order = sell()
    subscription = subscription_of(order)
    # The same card: no new card to retry with (nor to release a hold by).
    with pytest.raises(ValidationError) as excinfo:
        change_card_preview(subscription_id=subscription.pk, card_id=subscription.card_id)
    assert excinfo.value.message_dict == {
        "card": ["This is the subscription's card already: choose another one."]
    }
    # A charge in flight (its answer lost): its outcome may still come, nothing is
    # previewed as charged now, and the change itself is refused with nothing written.
    give_card(order, "4000 0000 0000 0259")
    second = shipments(order)[1]
    run_payments(second.ship_date - days(5))
    assert shipments(order)[1].status == "payment_unknown"
    card = new_card(order)
    before = snapshot(order)
    with pytest.raises(Conflict):
        change_card_preview(subscription_id=subscription.pk, card_id=card.pk)
    with pytest.raises(Conflict):
        subscription_change_card_with_reason(
            subscription_id=subscription.pk, card_id=card.pk, actor=ACTOR, reason_code="NEWCARD"
        )
    assert snapshot(order) == before


def test_the_ship_to_changes_for_shipments_not_yet_ordered(sell, today):
    from customers.services import address_add

    order = sell()
    subscription = subscription_of(order)
    run_child_orders(today)
    first_child = shipments(order)[0].child_order
    new_address = address_add(
        customer=subscription.customer,
        kind="shipping",
        street="9 New Road",
        city="Tacoma",
        postal_code="98402",
        is_default=False,
        actor=ACTOR,
    )

    subscription_change_ship_to(
        subscription_id=subscription.pk,
        address_id=new_address.pk,
        actor=ACTOR,
        reason_code="MOVED",
    )

    first_child.refresh_from_db()
    assert first_child.ship_to_id != new_address.pk  # already ordered: untouched
    second = shipments(order)[1]
    run_payments(second.ship_date - days(5))
    run_child_orders(second.ship_date)
    assert shipments(order)[1].child_order.ship_to_id == new_address.pk


def test_another_customers_address_is_refused(sell):
    from tests.factories import AddressFactory

    order = sell()
    stranger = AddressFactory()
    before = snapshot(order)
    with pytest.raises(ValidationError) as excinfo:
        subscription_change_ship_to(
            subscription_id=subscription_of(order).pk,
            address_id=stranger.pk,
            actor=ACTOR,
            reason_code="MOVED",
        )
    assert list(excinfo.value.message_dict) == ["address"]
    assert snapshot(order) == before


# --- Cancel and reactivate ---------------------------------------------------------------


def test_cancel_cancels_the_future_refunds_paid_unshipped_and_keeps_child_orders(sell, today):
    order = sell()
    run_child_orders(today)  # the first shipment ships
    second, third = shipments(order)[1:3]
    run_payments(second.ship_date - days(5))  # the second is paid, not yet shipped
    second.refresh_from_db()
    subscription = subscription_of(order)

    preview = cancel_preview(subscription_id=subscription.pk)
    assert [(e.what, e.occurrence.sequence) for e in preview.effects][:4] == [
        ("keep", 1),
        ("cancel", 2),
        ("refund", 2),
        ("cancel", 3),
    ]
    assert preview.refund_total == Decimal("27.98")

    subscription_cancel(subscription_id=subscription.pk, actor=ACTOR, reason_code="PRICE")

    statuses = [o.status for o in shipments(order)]
    assert statuses == ["child_created"] + ["cancelled"] * 5
    assert refunds_for(second) == [("approved", Decimal("27.98"))]
    assert Payment.objects.get(pk=second.payment_id).status == "refunded"
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    assert Notification.objects.filter(kind="subscription_cancelled").count() == 1
    # Nothing more is charged or created.
    assert run_payments(third.ship_date).selected_count == 0
    assert run_child_orders(third.ship_date).selected_count == 0


def test_cancelling_a_cancelled_subscription_is_refused(sell):
    order = sell()
    subscription = subscription_of(order)
    subscription_cancel(subscription_id=subscription.pk, actor=ACTOR, reason_code="PRICE")
    before = snapshot(order)
    with pytest.raises(Conflict):
        subscription_cancel(subscription_id=subscription.pk, actor=ACTOR, reason_code="PRICE")
    assert snapshot(order) == before
    assert Payment.objects.filter(operation="refund").count() == 1


def test_a_refund_interrupted_after_cancel_is_made_by_the_next_payment_run(sell, monkeypatch):
    import continuity.subscription_actions.cancel as module

    order = sell()
    first = shipments(order)[0]
    monkeypatch.setattr(module, "occurrences_refund_due", lambda **kwargs: [])
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="PRICE")
    monkeypatch.undo()
    assert refunds_for(first) == []

    run_payments(business_date())
    run_payments(business_date())

    assert refunds_for(first) == [("approved", Decimal("27.98"))]


def test_reactivating_a_cancelled_subscription_schedules_its_future_again(sell):
    order = sell()
    subscription = subscription_of(order)
    subscription_cancel(subscription_id=subscription.pk, actor=ACTOR, reason_code="PRICE")

    preview = reactivate_preview(subscription_id=subscription.pk)
    assert {e.what for e in preview.effects} == {"charge"}
    subscription_reactivate(subscription_id=subscription.pk, actor=ACTOR, reason_code="WINBACK")

    subscription.refresh_from_db()
    assert subscription.status == "active"
    first, second = shipments(order)[:2]
    # The first was refunded at cancel: it is charged again, like every future one.
    assert (first.status, first.payment_id) == ("scheduled", None)
    assert second.status == "scheduled"
    run_payments(first.ship_date)
    first.refresh_from_db()
    assert first.status == "paid"


def test_reactivating_an_active_subscription_is_refused(sell):
    order = sell()
    before = snapshot(order)
    with pytest.raises(Conflict):
        subscription_reactivate(
            subscription_id=subscription_of(order).pk, actor=ACTOR, reason_code="WINBACK"
        )
    assert snapshot(order) == before


# --- Program changes (admin) -------------------------------------------------------------


def test_a_program_change_substitutes_an_item_and_shifts_future_shipments_only(sell):
    from orders.models import Item

    order = sell()
    subscription = subscription_of(order)
    first, second = shipments(order)[:2]
    old, new = Item.objects.get(item_number="0015"), Item.objects.get(item_number="0014")

    preview = future_shipments_change_preview(
        subscription_ids=[subscription.pk],
        substitute_item_id=old.pk,
        replacement_item_id=new.pk,
        shift_days=2,
    )
    assert [c.occurrence.sequence for c in preview] == [2, 3, 4, 5, 6]  # the paid one stays
    assert preview[0].items_after == ("0013", "0014")

    future_shipments_change(
        subscription_ids=[subscription.pk],
        substitute_item_id=old.pk,
        replacement_item_id=new.pk,
        shift_days=2,
        actor=ACTOR,
        reason="Tea out of stock",
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert [line.item.item_number for line in first.lines.all()] == ["0013", "0015"]
    assert [line.item.item_number for line in second.lines.all()] == ["0013", "0014"]
    assert second.lines.get(item=new).unit_price == Decimal("9.99")  # the price sold
    assert second.ship_date == preview[0].occurrence.ship_date + datetime.timedelta(days=2)


def test_editing_a_program_never_changes_a_submitted_subscription(sell):
    from continuity.models import ProgramEventLine

    order = sell("88002", start_date=business_date())
    ProgramEventLine.objects.filter(event__program__code="PROTEINMONTHLY").update(
        unit_price=Decimal("99.00")
    )
    later = business_date() + days(200)

    run_child_orders(later)  # plans further shipments from the plan sold

    assert set(
        Occurrence.objects.filter(subscription__parent_order=order).values_list("amount", flat=True)
    ) == {Decimal("22.00")}


# --- The registry: each action declared once, read by the pages, the API and the admin ---


AGENT_ACTIONS = [
    "skip",
    "reschedule",
    "pause",
    "resume",
    "change_card",
    "change_ship_to",
    "cancel",
    "reactivate",
]


def test_the_agents_actions_are_declared_in_the_subscription_pages_order():
    assert [action.name for action in actions_all() if action.previewed] == AGENT_ACTIONS
    assert [action.name for action in actions_all() if not action.previewed] == ["release_hold"]


def test_every_declared_argument_is_a_field_of_its_form_and_of_the_api_request():
    api_fields = set(SubscriptionActionSerializer().fields)
    for action in actions_all():
        form_fields = set(action.form.base_fields)
        assert action.reason_keyword in form_fields, action.name
        for argument in action.arguments:
            assert argument.field in form_fields, (action.name, argument.field)
            assert argument.field in api_fields, (action.name, argument.field)


def test_an_api_request_without_a_required_argument_is_refused_on_that_field():
    with pytest.raises(ValidationError) as refused:
        action_get("reschedule").arguments_from({"occurrence": 7})
    assert refused.value.message_dict == {"new_date": ["Enter the new ship date."]}
    assert action_get("skip").arguments_from({}) == {"occurrence_id": None}


def test_declaring_an_action_twice_is_refused():
    with pytest.raises(ImproperlyConfigured):
        action_register(action_get("skip"))


def test_releasing_a_hold_is_declared_for_supervisors_only(demo):
    users = get_user_model().objects
    assert not RELEASE_HOLD.allowed(users.get(username="agent"))
    assert RELEASE_HOLD.allowed(users.get(username="supervisor"))
