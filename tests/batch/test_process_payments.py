"""Process continuity payments on PostgreSQL, run in-process."""

from decimal import Decimal

import pytest

from batch.models import BatchJob, BatchRun, BatchRunProblem, BatchRunStatus
from batch.presenters import batch_run_summary_line
from batch.services import batch_run_inline, batch_run_request
from continuity.models import ContinuityParameters, Occurrence, Subscription
from core.actors import Actor
from core.dates import business_date
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment
from payments.services import card_add
from tests.batch.conftest import days, on_day

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("test")


def run_payments(run_date, **kwargs):
    with on_day(run_date):
        run = batch_run_request(
            job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date, **kwargs
        )
        return batch_run_inline(run)


def occurrences(order):
    return list(Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence"))


def occurrence_sales(occurrence):
    return SimulatedTransaction.objects.using("gateway").filter(
        idempotency_key__startswith=f"occurrence-{occurrence.pk}-", operation="sale"
    )


def give_card(order, number):
    """Point the subscription at another tokenized card (test set-up for what the
    change-card action will do)."""
    subscription = Subscription.objects.get(parent_order=order)
    card = card_add(
        customer=subscription.customer,
        card_number=number,
        expiry_month=12,
        expiry_year=business_date().year + 3,
        security_code="737",
        name_on_card="Karen Berg",
        actor=ACTOR,
    )
    Subscription.objects.filter(pk=subscription.pk).update(card=card)
    return card


def test_a_shipment_is_charged_once_its_payment_lead_days_have_come(sell, today):
    order = sell()
    second = occurrences(order)[1]  # one month after the order date
    lead = ContinuityParameters.load().payment_lead_days

    early = run_payments(second.ship_date - days(lead + 1))
    assert early.summary["not_processed"] == {}
    assert early.selected_count == 0

    run = run_payments(second.ship_date - days(lead))

    second.refresh_from_db()
    assert second.status == "paid"
    assert second.payment.amount == Decimal("27.98")
    assert second.payment.idempotency_key == f"occurrence-{second.pk}-sale-1"
    assert occurrence_sales(second).get().approved is True
    assert (run.status, run.selected_count, run.processed_count, run.succeeded_count) == (
        BatchRunStatus.SUCCEEDED,
        1,
        1,
        1,
    )
    assert run.summary["paid"] == 1
    assert run.summary["amount_charged"] == "27.98"
    assert batch_run_summary_line(run).startswith("Shipments charged: 1 (27.98 USD).")


def test_a_second_run_charges_nothing_more(sell):
    order = sell()
    run_date = occurrences(order)[2].ship_date
    run_payments(run_date)
    charged = SimulatedTransaction.objects.using("gateway").count()

    again = run_payments(run_date)

    assert again.selected_count == 0
    assert SimulatedTransaction.objects.using("gateway").count() == charged
    assert [o.status for o in occurrences(order)][:3] == ["paid", "paid", "paid"]


def test_a_soft_decline_is_retried_after_the_interval_until_it_is_approved(sell):
    order = sell()
    give_card(order, "4000 0000 0000 0309")  # declines twice, then approves
    second = occurrences(order)[1]
    first_try = second.ship_date - days(5)

    run = run_payments(first_try)
    second.refresh_from_db()
    assert (second.status, second.payment_attempts, second.next_payment_attempt_on) == (
        "payment_declined",
        1,
        first_try + days(2),
    )
    assert run.summary["declined"] == 1
    problem = BatchRunProblem.objects.get(run=run)
    assert problem.reason == "declined"
    # The date as the run's language writes it (English: month/day/year), never ISO.
    retry_on = first_try + days(2)
    assert problem.detail.endswith(f"Next attempt on {retry_on:%m/%d/%Y}.")

    # Not due again before the retry date.
    assert run_payments(first_try + days(1)).selected_count == 0

    run_payments(first_try + days(2))
    second.refresh_from_db()
    assert (second.status, second.payment_attempts) == ("payment_declined", 2)

    run_payments(first_try + days(4))
    second.refresh_from_db()
    assert (second.status, second.payment_attempts, second.next_payment_attempt_on) == (
        "paid",
        3,
        None,
    )
    assert [t.approved for t in occurrence_sales(second).order_by("id")] == [False, False, True]
    assert Subscription.objects.get(parent_order=order).status == "active"


def test_retries_end_before_the_ship_date_and_the_subscription_goes_on_hold(sell):
    order = sell()
    give_card(order, "4000 0000 0000 0002")  # always a soft decline
    second = occurrences(order)[1]

    run_payments(second.ship_date - days(1))  # next retry would fall on or after the ship date

    second.refresh_from_db()
    subscription = Subscription.objects.get(parent_order=order)
    assert (subscription.status, subscription.hold_reason) == ("on_hold", "payment")
    assert (second.status, second.next_payment_attempt_on) == ("payment_declined", None)


def test_the_reauthorization_limit_puts_the_subscription_on_hold(sell):
    ContinuityParameters.objects.update(reauthorization_limit=2, payment_lead_days=10)
    order = sell()
    give_card(order, "4000 0000 0000 9995")  # insufficient funds, soft
    second = occurrences(order)[1]
    first_try = second.ship_date - days(10)

    run_payments(first_try)
    run = run_payments(first_try + days(2))

    second.refresh_from_db()
    assert second.payment_attempts == 2
    assert Subscription.objects.get(parent_order=order).status == "on_hold"
    assert run.summary["on_hold"] == 1
    assert occurrence_sales(second).count() == 2
    # On hold: no more attempts.
    assert run_payments(first_try + days(4)).selected_count == 0
    assert occurrence_sales(second).count() == 2


@pytest.mark.parametrize(
    ("card", "hold_reason", "outcome"),
    [
        ("4000 0000 0000 9987", "payment", "on_hold"),
        ("4000 0000 0000 9979", "payment", "on_hold"),
        ("4000 0000 0000 0069", "card_expired", "card_expired"),
    ],
)
def test_a_hard_decline_is_not_retried_and_holds_the_subscription(sell, card, hold_reason, outcome):
    order = sell()
    give_card(order, card)
    second = occurrences(order)[1]

    run = run_payments(second.ship_date - days(5))

    subscription = Subscription.objects.get(parent_order=order)
    assert (subscription.status, subscription.hold_reason) == ("on_hold", hold_reason)
    second.refresh_from_db()
    assert (second.status, second.payment_attempts, second.next_payment_attempt_on) == (
        "payment_declined",
        1,
        None,
    )
    assert run.summary[outcome] == 1
    assert occurrence_sales(second).count() == 1


def test_a_card_expired_by_the_run_date_holds_the_subscription_without_a_gateway_call(sell, today):
    # Valid this month, expired by the time the second shipment is charged.
    order = sell(expiry_year=today.year, expiry_month=today.month)
    second = occurrences(order)[1]
    ledger_before = SimulatedTransaction.objects.using("gateway").count()

    run = run_payments(second.ship_date - days(2))

    subscription = Subscription.objects.get(parent_order=order)
    assert (subscription.status, subscription.hold_reason) == ("on_hold", "card_expired")
    assert SimulatedTransaction.objects.using("gateway").count() == ledger_before
    assert not Payment.objects.filter(occurrence=second).exists()
    assert run.summary["card_expired"] == 1


def test_an_unknown_outcome_is_looked_up_by_the_next_run_and_never_charged_twice(sell):
    order = sell()
    give_card(order, "4000 0000 0000 0259")  # charged, but the answer times out
    second = occurrences(order)[1]
    run_date = second.ship_date - days(5)

    first = run_payments(run_date)
    second.refresh_from_db()
    assert second.status == "payment_unknown"
    assert first.summary["unknown"] == 1
    assert Payment.objects.get(occurrence=second).status == "unknown"

    run_payments(run_date)

    second.refresh_from_db()
    assert second.status == "paid"
    assert [t.approved for t in occurrence_sales(second)] == [True]
    assert Payment.objects.filter(occurrence=second).count() == 1


def test_item_and_order_filters_limit_what_is_charged(sell):
    wellness = sell("88000")
    other = sell("88000")
    run_date = occurrences(wellness)[1].ship_date

    run = run_payments(run_date, order_number=wellness.number)

    assert run.selected_count == 1
    assert occurrences(wellness)[1].status == "paid"
    assert occurrences(other)[1].status == "scheduled"
    assert run_payments(run_date, item_number="88001").selected_count == 0


def test_a_dry_run_reports_and_changes_nothing(sell):
    order = sell()
    run_date = occurrences(order)[2].ship_date
    payments_before = Payment.objects.count()

    run = run_payments(run_date, dry_run=True)

    assert run.status == BatchRunStatus.SUCCEEDED
    assert run.summary["would"] == {"charge": 2}
    assert run.summary["would_charge_amount"] == "55.96"
    assert Payment.objects.count() == payments_before
    assert [o.status for o in occurrences(order)][1:3] == ["scheduled", "scheduled"]
    assert batch_run_summary_line(run).startswith("Dry run. Shipments to charge: 2 (55.96 USD).")


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"item_number": "99999"}, "item_number", "Item number 99999 does not exist."),
        ({"item_number": "0013"}, "item_number", "Item 0013 is not a continuity item."),
        ({"order_number": "SO-999999"}, "sales_order", "Sales order SO-999999 does not exist."),
    ],
)
def test_bad_parameters_are_refused_and_no_run_is_recorded(demo, kwargs, field, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, **kwargs)
    assert excinfo.value.message_dict == {field: [message]}
    assert not BatchRun.objects.exists()


def test_an_approved_sale_not_recorded_on_its_shipment_pays_it_without_a_second_charge(sell):
    from continuity.charging import charge_send, charges_prepare
    from payments.services import payment_record_answer

    order = sell()
    second = occurrences(order)[1]
    run_date = second.ship_date - days(5)
    with on_day(run_date):
        [charge] = charges_prepare(
            occurrence_ids=[second.pk], run_date=run_date, actor=ACTOR
        ).prepared
        sale = charge.payment
        # Charged and recorded on the payment, but the process died before the shipment.
        payment_record_answer(payment_id=sale.pk, result=charge_send(charge), actor=ACTOR)
    second.refresh_from_db()
    assert second.status == "charging"

    run = run_payments(second.ship_date - days(5))

    second.refresh_from_db()
    assert (second.status, second.payment_id) == ("paid", sale.pk)
    assert run.summary["paid"] == 1
    assert [t.approved for t in occurrence_sales(second)] == [True]


def test_a_card_that_declines_is_tried_once_for_a_subscriptions_due_shipments(sell):
    ContinuityParameters.objects.update(payment_lead_days=40)
    order = sell()
    give_card(order, "4000 0000 0000 9987")  # lost card
    second, third = occurrences(order)[1:3]

    run = run_payments(second.ship_date - days(5))  # both second and third are due

    assert occurrence_sales(second).count() == 1
    assert occurrence_sales(third).count() == 0
    assert run.summary["on_hold"] == 1
    assert dict(BatchRunProblem.objects.filter(run=run).values_list("occurrence_id", "reason")) == {
        second.pk: "on_hold",
        third.pk: "deferred",
    }


def test_a_decline_recorded_by_another_run_is_not_retried_the_same_day(sell):
    order = sell()
    give_card(order, "4000 0000 0000 0002")
    second = occurrences(order)[1]
    run_date = second.ship_date - days(5)
    # Two runs planned at once: both selected the shipment before either charged it.
    from batch.services import batch_chunk_execute, batch_run_plan

    with on_day(run_date):
        first = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date)
        other = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=run_date)
        first_chunks = batch_run_plan(run_id=first.pk)
        other_chunks = batch_run_plan(run_id=other.pk)
        for number in first_chunks:
            batch_chunk_execute(run_id=first.pk, chunk_number=number)
        for number in other_chunks:
            batch_chunk_execute(run_id=other.pk, chunk_number=number)

    second.refresh_from_db()
    assert (second.status, second.payment_attempts) == ("payment_declined", 1)
    assert occurrence_sales(second).count() == 1
