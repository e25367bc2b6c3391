"""Attacks on exactly-once money: two actors on one subscription at once, the same request
twice, roles that must not act, and bad input. Each test asserts the safe outcome: a
refusal with nothing written or charged, or exact gateway ledger counts, and a money
audit that finds nothing.

Races meet at the gateway call (tests.gated_gateway): one thread's call is held "on the
wire" while another thread, with its own database connection, acts.
"""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from batch.models import BatchChunk, BatchJob, BatchRun
from batch.services import batch_chunk_execute, batch_run_plan, batch_run_request
from continuity.dunning import (
    occurrence_retry_now,
    payment_unknown_mark_declined,
    subscription_release_hold,
)
from continuity.models import (
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    Subscription,
    SubscriptionStatus,
)
from continuity.subscription_actions.cancel import subscription_cancel, subscription_reactivate
from continuity.subscription_actions.card_and_ship_to import subscription_change_card_with_reason
from continuity.subscription_actions.pause import subscription_pause
from continuity.subscription_actions.shipments import (
    subscription_reschedule_shipment,
    subscription_skip_shipment,
)
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.models import AuditEntry
from orders.models import SalesOrder
from orders.services import sales_order_submit
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentOperation, PaymentStatus
from payments.services import payment_refund
from tests.continuity.test_money_findings import (
    audit_findings,
    gateway_sales,
    give_card,
    in_thread,
    run_payments,
    second_due_today,
    shipments,
)
from tests.gated_gateway import gateway_gate
from tests.payments.support import (
    APPROVE,
    SOFT_DECLINE,
    TIMEOUT_AFTER_CHARGE,
    TIMEOUT_BEFORE_CHARGE,
    ledger_sales,
    order_ready,
)

ACTOR = Actor.job("test")
SUPERVISOR = Actor.job("supervisor")

race = pytest.mark.django_db(transaction=True)


def ledger(operation: str) -> int:
    return SimulatedTransaction.objects.using("gateway").filter(operation=operation).count()


def refunds_at_gateway_for(occurrence) -> list[bool]:
    return list(
        SimulatedTransaction.objects.using("gateway")
        .filter(
            operation="refund",
            idempotency_key__in=list(
                Payment.objects.filter(
                    occurrence=occurrence, operation=PaymentOperation.REFUND
                ).values_list("idempotency_key", flat=True)
            ),
        )
        .values_list("approved", flat=True)
    )


def pay_second(order) -> Occurrence:
    """Shipment 2 charged by a payment run (it is due today)."""
    second_due_today()
    run_payments()
    second = shipments(order)[1]
    assert second.status == OccurrenceStatus.PAID
    return second


def decline_second(order, card_number=SOFT_DECLINE) -> Occurrence:
    second_due_today()
    give_card(shipments(order)[1].subscription, card_number)
    run_payments()
    return shipments(order)[1]


def writes_since(entry_id: int) -> int:
    return AuditEntry.objects.filter(pk__gt=entry_id).count()


def last_entry_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- Replays: the same request twice, at once ------------------------------------------


@race
def test_two_submits_of_one_order_meet_at_the_gateway_and_charge_once(demo, gated_gateway):
    """A double click: the second submit finds the first's sale in flight, sends the same
    key, and the gateway charges once; one order, one subscription."""
    order = order_ready(ACTOR, APPROVE)
    with gateway_gate("sale") as gate:
        first, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        second = sales_order_submit(order_id=order.pk, actor=ACTOR)  # same key, sent again
        gate.release()
        first.join(30)
    assert "error" not in outcome, outcome
    assert second.status == "submitted"
    assert [row.approved for row in ledger_sales(order)] == [True]
    assert Payment.objects.filter(sales_order=order, operation="sale").count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1
    assert audit_findings() == []


@race
def test_a_reconcile_during_a_submit_settles_the_same_sale_once(demo, gated_gateway):
    order = order_ready(ACTOR, APPROVE)
    with gateway_gate("sale") as gate:
        submit, outcome = in_thread(lambda: sales_order_submit(order_id=order.pk, actor=ACTOR))
        assert gate.reached.wait(10)
        call_command("reconcile_payments", "--older-than", "0", stdout=io.StringIO())
        gate.release()
        submit.join(30)
    assert "error" not in outcome, outcome
    order.refresh_from_db()
    assert order.status == "submitted"
    assert [row.approved for row in ledger_sales(order)] == [True]
    assert Payment.objects.filter(sales_order=order, operation="sale").count() == 1
    assert Subscription.objects.filter(parent_order=order).count() == 1
    assert audit_findings() == []


@race
def test_one_chunk_delivered_twice_at_once_charges_and_counts_once(sell, gated_gateway):
    """A chunk's first delivery holds its charge on the wire; a second delivery of the
    same chunk runs meanwhile (a worker thought dead): one charge, counted once."""
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    [number] = batch_run_plan(run_id=run.pk)
    with gateway_gate("sale") as gate:
        first, outcome = in_thread(lambda: batch_chunk_execute(run_id=run.pk, chunk_number=number))
        assert gate.reached.wait(10)
        second_outcome = {}
        try:
            batch_chunk_execute(run_id=run.pk, chunk_number=number)
        except Exception as error:  # the second delivery may be told to come back
            second_outcome["error"] = error
        gate.release()
        first.join(30)
    assert "error" not in outcome, outcome
    run.refresh_from_db()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert gateway_sales(second) == [True]
    assert (run.processed_count, run.succeeded_count) == (1, 1)
    assert BatchChunk.objects.get(run=run, number=number).status == BatchChunk.Status.DONE
    assert audit_findings() == []


@race
def test_retry_now_while_the_run_charges_the_same_shipment_sends_the_same_key(sell, gated_gateway):
    order = sell()
    second = decline_second(order)
    assert second.status == OccurrenceStatus.PAYMENT_DECLINED
    give_card(second.subscription, APPROVE)
    # Due again today (as after a released hold).
    Occurrence.objects.filter(pk=second.pk).update(next_payment_attempt_on=business_date())
    with gateway_gate("sale") as gate:
        worker, outcome = in_thread(run_payments)
        assert gate.reached.wait(10)
        occurrence_retry_now(occurrence_id=second.pk, actor=SUPERVISOR, reason="customer paid")
        gate.release()
        worker.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert gateway_sales(second) == [False, True]
    assert Payment.objects.filter(occurrence=second, operation="sale").count() == 2
    assert audit_findings() == []


# --- An agent during a charge on the wire ----------------------------------------------


@race
@pytest.mark.parametrize("action", ["reschedule", "change_card", "pause_then_cancel"])
def test_agent_changes_during_a_charge_on_the_wire_are_refused_or_harmless(
    sell, gated_gateway, action
):
    second_due_today()
    order = sell()
    second = shipments(order)[1]
    subscription = second.subscription
    other = None
    if action == "change_card":
        other = give_card(subscription, APPROVE)
        Subscription.objects.filter(pk=subscription.pk).update(card=subscription.card)
    with gateway_gate("sale") as gate:
        worker, outcome = in_thread(run_payments)
        assert gate.reached.wait(10)
        before = last_entry_id()
        if action == "reschedule":
            with pytest.raises(Conflict):
                subscription_reschedule_shipment(
                    subscription_id=subscription.pk,
                    occurrence_id=second.pk,
                    new_date=second.ship_date + datetime.timedelta(days=3),
                    actor=ACTOR,
                    reason_code="CUSTOMER",
                )
            assert writes_since(before) == 0
        elif action == "change_card":
            with pytest.raises(Conflict):
                subscription_change_card_with_reason(
                    subscription_id=subscription.pk,
                    card_id=other.pk,
                    actor=ACTOR,
                    reason_code="CUSTOMER",
                )
            assert writes_since(before) == 0
        else:
            # A pause is allowed (nothing of the charge changes), a cancel is not.
            subscription_pause(subscription_id=subscription.pk, actor=ACTOR, reason_code="TRAVEL")
            with pytest.raises(Conflict):
                subscription_cancel(
                    subscription_id=subscription.pk, actor=ACTOR, reason_code="CUSTOMER"
                )
        gate.release()
        worker.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    subscription.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert gateway_sales(second) == [True]
    if action == "change_card":
        assert subscription.card_id != other.pk
    assert audit_findings() == []


@race
def test_reactivate_while_the_cancel_refund_is_on_the_wire_is_refused(sell, gated_gateway):
    order = sell()
    second = pay_second(order)
    subscription_id = second.subscription_id
    with gateway_gate("refund") as gate:
        canceller, outcome = in_thread(
            lambda: subscription_cancel(
                subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
            )
        )
        assert gate.reached.wait(10)
        with pytest.raises(Conflict, match="refund"):
            subscription_reactivate(
                subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
            )
        gate.release()
        canceller.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.CANCELLED
    assert Subscription.objects.get(pk=subscription_id).status == SubscriptionStatus.CANCELLED
    assert refunds_at_gateway_for(second) == [True]
    assert audit_findings() == []


@race
def test_a_cancel_while_the_skip_refund_is_on_the_wire_refunds_the_shipment_once(
    sell, gated_gateway
):
    """The skip's refund of shipment 2 is on the wire; the cancel's refund pass finds the
    same allocation owed, picks up the refund in flight (same key): one refund."""
    order = sell()
    second = pay_second(order)
    subscription_id = second.subscription_id
    with gateway_gate("refund") as gate:
        skipper, outcome = in_thread(
            lambda: subscription_skip_shipment(
                subscription_id=subscription_id,
                occurrence_id=second.pk,
                actor=ACTOR,
                reason_code="TRAVEL",
            )
        )
        assert gate.reached.wait(10)
        subscription_cancel(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
        run_payments()  # and a payment run's refund pass too
        gate.release()
        skipper.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.SKIPPED
    assert refunds_at_gateway_for(second) == [True]
    refunds = Payment.objects.filter(occurrence=second, operation=PaymentOperation.REFUND)
    assert [(r.status, r.amount) for r in refunds] == [(PaymentStatus.APPROVED, second.amount)]
    assert audit_findings() == []


@race
def test_the_child_order_job_during_a_skip_refund_makes_no_child_order(sell, gated_gateway):
    from batch.services import batch_run_inline

    order = sell()
    second = pay_second(order)
    with gateway_gate("refund") as gate:
        skipper, outcome = in_thread(
            lambda: subscription_skip_shipment(
                subscription_id=second.subscription_id,
                occurrence_id=second.pk,
                actor=ACTOR,
                reason_code="TRAVEL",
            )
        )
        assert gate.reached.wait(10)
        from continuity.models import ContinuityParameters

        ContinuityParameters.objects.update(child_order_lead_days=60)
        run = batch_run_request(
            job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date()
        )
        batch_run_inline(run)
        gate.release()
        skipper.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert (second.status, second.child_order_id) == (OccurrenceStatus.SKIPPED, None)
    assert refunds_at_gateway_for(second) == [True]
    assert audit_findings() == []


# --- A supervisor against a sender -----------------------------------------------------


@race
def test_mark_declined_while_reconcile_looks_the_key_up_is_refused(sell, gated_gateway):
    import time_machine

    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, TIMEOUT_AFTER_CHARGE)  # charged, answer lost
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=600)
    with time_machine.travel(later, tick=True), gateway_gate("lookup") as gate:
        reconcile, outcome = in_thread(
            lambda: call_command("reconcile_payments", "--older-than", "0", stdout=io.StringIO())
        )
        assert gate.reached.wait(10)
        with pytest.raises(Conflict):
            payment_unknown_mark_declined(
                occurrence_id=second.pk, actor=SUPERVISOR, reason="bank says no"
            )
        gate.release()
        reconcile.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert gateway_sales(second) == [True]
    assert audit_findings() == []


@race
def test_a_payment_run_while_a_supervisor_settles_the_key_sends_nothing(sell, gated_gateway):
    """The supervisor's settling claim is taken and the look-up is on the wire: a payment
    run must not send the key meanwhile (the gateway would approve what is about to be
    recorded declined)."""
    import time_machine

    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, TIMEOUT_BEFORE_CHARGE)  # the request is lost: unseen
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=600)
    with time_machine.travel(later, tick=True), gateway_gate("lookup") as gate:
        supervisor, outcome = in_thread(
            lambda: payment_unknown_mark_declined(
                occurrence_id=second.pk, actor=SUPERVISOR, reason="bank never saw it"
            )
        )
        assert gate.reached.wait(10)
        # One delivery of the run's chunk, its last try (batch_run_inline would wait for
        # the claim to run out, and then rightly send).
        run = batch_run_request(
            job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date()
        )
        [number] = batch_run_plan(run_id=run.pk)
        batch_chunk_execute(run_id=run.pk, chunk_number=number, final=True)
        call_command("reconcile_payments", "--older-than", "0", stdout=io.StringIO())
        assert gateway_sales(second) == []
        assert [(p.occurrence_id, p.reason) for p in run.problems.all()] == [(second.pk, "error")]
        gate.release()
        supervisor.join(30)
    assert "error" not in outcome, outcome
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_DECLINED
    assert gateway_sales(second) == []
    assert audit_findings() == []


# --- Roles: an agent calling what supervisors do ---------------------------------------


@pytest.mark.django_db
def test_an_agent_gets_403_from_every_supervisor_money_endpoint_and_nothing_moves(sell, client):
    order = sell()
    second = decline_second(order, "4000 0000 0000 9987")  # lost card: on hold
    subscription = second.subscription
    assert subscription.status == SubscriptionStatus.ON_HOLD
    sale = Payment.objects.get(sales_order=order, occurrence=None)
    run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=ACTOR, run_date=business_date())
    other_card = give_card(subscription, APPROVE)
    Subscription.objects.filter(pk=subscription.pk).update(card=subscription.card)
    client.force_login(get_user_model().objects.get(username="agent"))
    before = last_entry_id()
    sales_before = ledger("sale")
    runs_before = BatchRun.objects.count()

    posts = {
        f"/payments/exceptions/shipments/{second.pk}/retry/": {},
        f"/payments/exceptions/shipments/{second.pk}/mark-declined/": {"reason": "x"},
        f"/payments/exceptions/subscriptions/{subscription.pk}/release/": {"reason": "x"},
        f"/payments/exceptions/subscriptions/{subscription.pk}/card/": {
            "card": other_card.pk,
            "reason": "x",
        },
        f"/payments/exceptions/payments/{sale.pk}/check/": {},
        f"/batch/runs/{run.pk}/resume/": {},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    assert client.get("/payments/exceptions/").status_code == 403
    api = {
        f"/api/v1/subscriptions/{subscription.pk}/release-hold/": {"reason": "x"},
        f"/api/v1/batch-runs/{run.pk}/resume/": {},
        "/api/v1/batch-runs/": {"job": "process_payments"},
    }
    for url, data in api.items():
        assert client.post(url, data, content_type="application/json").status_code == 403, url
    assert client.get("/api/v1/payment-exceptions/").status_code == 403
    # The generic action path does not take a hold release either.
    for action in ("release_hold", "release-hold", "retry_now", "mark_declined"):
        response = client.post(
            f"/api/v1/subscriptions/{subscription.pk}/{action}/",
            {"reason_code": "CUSTOMER"},
            content_type="application/json",
        )
        assert response.status_code in (403, 404), action

    assert writes_since(before) == 0
    assert ledger("sale") == sales_before
    subscription.refresh_from_db()
    assert (subscription.status, subscription.card_id) == (
        SubscriptionStatus.ON_HOLD,
        Subscription.objects.get(pk=subscription.pk).card_id,
    )
    assert subscription.card_id != other_card.pk
    assert BatchRun.objects.count() == runs_before


@pytest.mark.django_db
def test_a_staff_agent_in_the_admin_is_not_offered_release_hold_and_cannot_post_it(sell, client):
    from django.contrib.auth.models import Group, Permission

    order = sell()
    subscription = shipments(order)[0].subscription
    Subscription.objects.filter(pk=subscription.pk).update(
        status=SubscriptionStatus.ON_HOLD, hold_reason=HoldReason.PAYMENT
    )
    user = get_user_model().objects.create_user("staff-agent", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Agent"))
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_subscription", "change_subscription"],
            content_type__app_label="continuity",
        )
    )
    client.force_login(user)
    url = "/admin/continuity/subscription/"
    page = client.get(url)
    assert page.status_code == 200
    assert "release_hold" not in page.content.decode()
    before = last_entry_id()
    client.post(
        url,
        {
            "action": "release_hold",
            "_selected_action": [subscription.pk],
            "apply": "1",
            "reason": "x",
        },
    )
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ON_HOLD
    assert writes_since(before) == 0


# --- Bad input ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "date", ["2199-01-01", "9999-12-31", "2026-02-30", "tomorrow", "0001-01-01x", "+7"]
)
@pytest.mark.parametrize(
    "command", ["process_continuity_payments", "create_continuity_child_orders"]
)
def test_commands_refuse_far_ahead_or_malformed_run_dates(sell, command, date):
    second_due_today()
    order = sell()
    sales = ledger("sale")
    with pytest.raises(CommandError) as refused:
        call_command(command, "--date", date, stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert BatchRun.objects.count() == 0
    assert ledger("sale") == sales
    assert shipments(order)[1].status == OccurrenceStatus.SCHEDULED


@pytest.mark.django_db
@pytest.mark.parametrize("date", ["9999-12-31", "2199-01-01", "not a date", "", 20260101])
def test_the_api_refuses_far_ahead_or_malformed_run_dates(sell, client, date):
    client.force_login(get_user_model().objects.get(username="supervisor"))
    response = client.post(
        "/api/v1/batch-runs/",
        {"job": "process_payments", "run_date": date},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert BatchRun.objects.count() == 0


@pytest.mark.django_db
def test_a_run_date_far_in_the_past_charges_only_what_today_makes_due(sell):
    """A catch-up run dated years back: nothing charged that is not due by that date
    (shipment 2 is due only by today's date), no crash."""
    order = sell()
    sales = ledger("sale")
    out = io.StringIO()
    call_command("process_continuity_payments", "--date", "2000-01-01", stdout=out)
    call_command("create_continuity_child_orders", "--date", "2000-01-01", stdout=out)
    assert ledger("sale") == sales
    assert [s.status for s in shipments(order)][1:] == [OccurrenceStatus.SCHEDULED] * (
        len(shipments(order)) - 1
    )
    assert audit_findings() == []


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_supervisor_actions_need_a_reason(sell, reason):
    import time_machine

    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, TIMEOUT_BEFORE_CHARGE)
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    before = last_entry_id()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=600)
    with time_machine.travel(later, tick=True), pytest.raises(ValidationError):
        payment_unknown_mark_declined(occurrence_id=second.pk, actor=SUPERVISOR, reason=reason)
    Subscription.objects.filter(pk=second.subscription_id).update(
        status=SubscriptionStatus.ON_HOLD, hold_reason=HoldReason.PAYMENT
    )
    with pytest.raises(ValidationError):
        subscription_release_hold(
            subscription_id=second.subscription_id, actor=SUPERVISOR, reason=reason
        )
    assert writes_since(before) == 0
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    assert Payment.objects.get(occurrence=second).settling_until is None


@pytest.mark.django_db
def test_a_card_of_another_customer_is_refused_with_nothing_written(sell):
    from customers.models import Customer

    order = sell()
    second = decline_second(order)
    stranger = Customer.objects.exclude(account_number="004021").first()
    theirs = sell(customer=stranger)
    their_card = Subscription.objects.get(parent_order=theirs).card
    subscription = second.subscription
    before, sales = last_entry_id(), ledger("sale")
    for card_id in (their_card.pk, 0, -1, 2**62):
        with pytest.raises(ValidationError):
            subscription_change_card_with_reason(
                subscription_id=subscription.pk,
                card_id=card_id,
                actor=ACTOR,
                reason_code="CUSTOMER",
            )
    assert writes_since(before) == 0 and ledger("sale") == sales
    assert Subscription.objects.get(pk=subscription.pk).card_id == subscription.card_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amount", ["-1", "0", "0.001", "NaN", "Infinity", "1e400", "99999999999", "abc", ""]
)
def test_refund_amounts_that_are_not_money_are_refused(sell, amount):
    order = sell()
    sale = Payment.objects.get(sales_order=order, occurrence=None)
    before, refunds = last_entry_id(), ledger("refund")
    with pytest.raises(ValidationError):
        payment_refund(payment_id=sale.pk, amount=amount, actor=SUPERVISOR)
    assert writes_since(before) == 0 and ledger("refund") == refunds
    sale.refresh_from_db()
    assert sale.status == PaymentStatus.APPROVED


@pytest.mark.django_db
def test_retry_now_on_a_shipment_that_is_not_declined_charges_nothing(sell):
    """Retry now is for a charge that failed: on a shipment months ahead, paid, skipped or
    of another state it charges nothing early."""
    order = sell()
    first, second, third = shipments(order)[:3]
    subscription_skip_shipment(
        subscription_id=third.subscription_id,
        occurrence_id=third.pk,
        actor=ACTOR,
        reason_code="TRAVEL",
    )
    Subscription.objects.filter(pk=first.subscription_id).update(
        status=SubscriptionStatus.ON_HOLD, hold_reason=HoldReason.PAYMENT
    )
    sales, before = ledger("sale"), last_entry_id()
    for occurrence in (first, second, third):
        with pytest.raises(Conflict, match="no declined charge"):
            occurrence_retry_now(occurrence_id=occurrence.pk, actor=SUPERVISOR, reason="x")
    # Nor through a card change's "charge now" path, whatever ids it is handed.
    from continuity.charging import occurrences_charge_now

    Subscription.objects.filter(pk=first.subscription_id).update(
        status=SubscriptionStatus.ACTIVE, hold_reason=""
    )
    results = occurrences_charge_now(occurrence_ids=[second.pk], actor=SUPERVISOR)
    assert [r.outcome for r in results] == ["skipped"]
    assert ledger("sale") == sales and writes_since(before) == 0
    assert [s.status for s in shipments(order)[:3]] == [
        OccurrenceStatus.PAID,
        OccurrenceStatus.SCHEDULED,
        OccurrenceStatus.SKIPPED,
    ]
    assert audit_findings() == []


@pytest.mark.django_db
def test_a_reschedule_to_the_far_future_or_the_past_is_refused_or_harmless(sell):
    order = sell()
    last = shipments(order)[-1]
    # The past, text, nothing, and a date past the years the app plans in (core.limits).
    for bad in (
        business_date() - datetime.timedelta(days=1),
        "2030-01-01",
        None,
        datetime.date(9999, 12, 31),
    ):
        with pytest.raises(ValidationError):
            subscription_reschedule_shipment(
                subscription_id=last.subscription_id,
                occurrence_id=last.pk,
                new_date=bad,
                actor=ACTOR,
                reason_code="CUSTOMER",
            )
    subscription_reschedule_shipment(
        subscription_id=last.subscription_id,
        occurrence_id=last.pk,
        new_date=datetime.date(2199, 12, 31),
        actor=ACTOR,
        reason_code="CUSTOMER",
    )
    sales = ledger("sale")
    second_due_today()
    run_payments()
    from batch.services import batch_run_inline

    batch_run_inline(
        batch_run_request(job=BatchJob.CREATE_CHILD_ORDERS, actor=ACTOR, run_date=business_date())
    )
    last.refresh_from_db()
    assert last.status == OccurrenceStatus.SCHEDULED
    assert ledger("sale") == sales + 1  # shipment 2 only
    assert audit_findings() == []


@pytest.mark.django_db
def test_a_shipment_id_of_another_subscription_is_refused(sell):
    mine, theirs = sell(), sell()
    foreign = shipments(theirs)[1]
    subscription_id = shipments(mine)[1].subscription_id
    before = last_entry_id()
    with pytest.raises(ValidationError):
        subscription_skip_shipment(
            subscription_id=subscription_id,
            occurrence_id=foreign.pk,
            actor=ACTOR,
            reason_code="TRAVEL",
        )
    with pytest.raises(ValidationError):
        subscription_reschedule_shipment(
            subscription_id=subscription_id,
            occurrence_id=foreign.pk,
            new_date=foreign.ship_date,
            actor=ACTOR,
            reason_code="CUSTOMER",
        )
    assert writes_since(before) == 0
    assert Occurrence.objects.get(pk=foreign.pk).status == OccurrenceStatus.SCHEDULED


@pytest.mark.django_db
def test_a_cancel_replayed_and_a_reactivate_replayed_move_money_once(sell):
    order = sell()
    second = pay_second(order)
    subscription_id = second.subscription_id
    subscription_cancel(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    with pytest.raises(Conflict):
        subscription_cancel(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    subscription_reactivate(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    with pytest.raises(Conflict):
        subscription_reactivate(
            subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
        )
    run_payments()
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    assert gateway_sales(second) == [True, True]
    assert refunds_at_gateway_for(second) == [True]
    payments = Payment.objects.filter(occurrence=second).order_by("pk")
    assert [(p.operation, p.status, p.amount) for p in payments] == [
        ("sale", PaymentStatus.REFUNDED, second.amount),
        ("refund", PaymentStatus.APPROVED, second.amount),
        ("sale", PaymentStatus.APPROVED, second.amount),
    ]
    assert audit_findings() == []


@pytest.mark.django_db
def test_release_hold_on_a_subscription_that_is_not_held_writes_nothing(sell):
    order = sell()
    subscription = shipments(order)[0].subscription
    before = last_entry_id()
    with pytest.raises(Conflict):
        subscription_release_hold(subscription_id=subscription.pk, actor=SUPERVISOR, reason="x")
    assert writes_since(before) == 0
    assert SalesOrder.objects.filter(pk=order.pk, status="submitted").exists()


@pytest.mark.django_db
def test_a_pause_is_not_released_as_a_payment_hold(sell, client):
    """Releasing a hold is for payment holds. A pause the customer asked for ends by
    resuming it (what fell due meanwhile is skipped); "released", the shipments of the
    pause would be charged late instead."""
    order = sell()
    second = shipments(order)[1]
    subscription_id = second.subscription_id
    subscription_pause(subscription_id=subscription_id, actor=ACTOR, reason_code="TRAVEL")
    before, sales = last_entry_id(), ledger("sale")
    with pytest.raises(Conflict, match="resume"):
        subscription_release_hold(
            subscription_id=subscription_id, actor=SUPERVISOR, reason="customer called"
        )
    client.force_login(get_user_model().objects.get(username="supervisor"))
    api = client.post(
        f"/api/v1/subscriptions/{subscription_id}/release-hold/",
        {"reason": "customer called"},
        content_type="application/json",
    )
    assert api.status_code == 409
    client.post(
        f"/payments/exceptions/subscriptions/{subscription_id}/release/",
        {"reason": "customer called"},
    )
    # Nor by "retry now" (which releases a payment hold first).
    with pytest.raises(Conflict):
        occurrence_retry_now(occurrence_id=second.pk, actor=SUPERVISOR, reason="x")
    subscription = Subscription.objects.get(pk=subscription_id)
    assert (subscription.status, subscription.hold_reason) == (
        SubscriptionStatus.ON_HOLD,
        HoldReason.AGENT,
    )
    assert writes_since(before) == 0 and ledger("sale") == sales


@pytest.mark.django_db
def test_reactivate_waits_for_a_refund_whose_answer_was_lost(sell):
    """Cancel: the refund of the paid shipment is sent and its answer lost. Reactivating
    now could charge the shipment again while the first charge's refund is unsettled:
    refused until reconcile settles the refund; then one refund, and the audit is clean."""
    import time_machine

    second_due_today()
    order = sell()
    second = shipments(order)[1]
    give_card(second.subscription, TIMEOUT_AFTER_CHARGE)  # every first answer is lost
    run_payments()
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAYMENT_UNKNOWN
    run_payments()  # looks the key up: approved
    second.refresh_from_db()
    assert second.status == OccurrenceStatus.PAID
    subscription_id = second.subscription_id
    subscription_cancel(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    refund = Payment.objects.get(occurrence=second, operation=PaymentOperation.REFUND)
    assert refund.status in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN)
    with pytest.raises(Conflict, match="refund"):
        subscription_reactivate(
            subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER"
        )
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=600)
    with time_machine.travel(later, tick=True):
        call_command("reconcile_payments", "--older-than", "0", stdout=io.StringIO())
    refund.refresh_from_db()
    assert refund.status == PaymentStatus.APPROVED
    subscription_reactivate(subscription_id=subscription_id, actor=ACTOR, reason_code="CUSTOMER")
    assert refunds_at_gateway_for(second) == [True]
    assert gateway_sales(second) == [True]
    assert audit_findings() == []
