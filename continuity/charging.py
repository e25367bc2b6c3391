"""Charging shipments: the payment job's work, "retry now", a card change's retry, and the
settling of a charge whose answer was never recorded.

A charge is three steps, and only the first and the last hold locks:

1. prepare (charges_prepare): under the subscription's and the shipment's row locks,
   commit a pending sale with its idempotency key and move the shipment to `charging`;
   or pick up the sale an earlier attempt left in flight, claiming its key for sending.
2. send (charge_send): the gateway call, outside any transaction.
3. record (charges_record): under the same locks, record the answer and what follows
   from it: paid (with the sale's allocation to the shipment), declined (with the next
   attempt, or a hold), unknown.

While the shipment is `charging` or `payment_unknown`, no agent, supervisor or other run
can skip, cancel or move it (docs/money.md): only the answer to its sale moves it on.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction
from django.utils.translation import gettext_lazy as _

from continuity.locks import subscriptions_lock
from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    OCCURRENCE_STATUS,
    ContinuityParameters,
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    PaymentAllocation,
    SubscriptionStatus,
)
from continuity.services import occurrence_move, subscription_set_status
from core.actors import Actor
from core.dates import business_date
from core.models import AuditEntry, NotificationKind
from core.notifications import NotificationEvent, notifications_add
from core.services import audit_entries_insert, audit_entry_build
from payments.gateways.base import DeclineCode, GatewayResult
from payments.models import (
    LIVE_SALE_STATUSES,
    UNANSWERED_STATUSES,
    DeclineClass,
    Payment,
    PaymentOperation,
    PaymentStatus,
)
from payments.services import (
    payment_claim_for_sending,
    payment_record_answer,
    payment_sale_create,
    payment_sale_send,
)


class ChargeOutcome(models.TextChoices):
    PAID = "paid", _("Paid")
    DECLINED = "declined", _("Declined, will be retried")
    ON_HOLD = "on_hold", _("Subscription put on hold")
    CARD_EXPIRED = "card_expired", _("Card expired")
    UNKNOWN = "unknown", _("Outcome unknown")
    SKIPPED = "skipped", _("Already handled")
    ERROR = "error", _("Error")


@dataclass(frozen=True)
class PreparedCharge:
    """A sale committed with its idempotency key, waiting for the gateway."""

    occurrence_id: int
    payment: Payment
    fresh: bool  # False: a sale from an earlier attempt, looked up before anything else


@dataclass(frozen=True)
class ChargeResult:
    occurrence_id: int
    outcome: str
    detail: str = ""
    retry_on: datetime.date | None = None


@dataclass(frozen=True)
class ChargePreparation:
    prepared: list[PreparedCharge]
    results: list[ChargeResult]
    # Shipments whose rows another transaction holds (another run, an agent's action, or
    # a task that died with its transaction still open), or whose key a supervisor is
    # settling: not charged here; the chunk tries them again.
    locked_elsewhere: list[int]


def _put_on_hold(occurrence: Occurrence, *, hold_reason: str, detail: str, actor: Actor) -> None:
    subscription = occurrence.subscription
    occurrence.decline_reason = detail[:255]
    occurrence.next_payment_attempt_on = None
    occurrence_move(
        occurrence,
        to_status=OccurrenceStatus.PAYMENT_DECLINED,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=hold_reason,
        update_fields=("decline_reason", "next_payment_attempt_on", "payment_attempts"),
    )
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription_set_status(
            subscription=subscription,
            to_status=SubscriptionStatus.ON_HOLD,
            hold_reason=hold_reason,
            actor=actor,
            reason=detail[:255],
        )


# --- 1. Prepare -------------------------------------------------------------------------


def charges_prepare(
    *,
    occurrence_ids: list[int],
    run_date: datetime.date,
    actor: Actor,
    check_due: bool = True,
    settle_only: bool = False,
    skip_locked: bool = True,
) -> ChargePreparation:
    """Step 1 of charging, in one transaction: for each shipment still due, a pending sale
    and its key are committed and the shipment becomes `charging`; a shipment already in
    flight has its sale picked up (claimed for sending, looked up before it is sent
    again), whatever its subscription's state, since settling a charge is not a new one.

    `skip_locked` (the batch job): shipments whose subscription or row another
    transaction holds are listed, not waited for. Each shipment has its own savepoint; one
    that raises is reported as an error and the others go on. `check_due=False` charges
    whatever the dunning calendar says (a person asked for it: retry now, a new card).
    `settle_only`: only pick up charges in flight, start none.
    """
    prepared: list[PreparedCharge] = []
    results: list[ChargeResult] = []
    locked_elsewhere: list[int] = []
    parameters = ContinuityParameters.load()
    with transaction.atomic():
        occurrences = Occurrence.objects.select_related(
            "subscription__card", "subscription__payment_method", "subscription__parent_order"
        ).order_by("pk")
        if skip_locked:
            # The subscription's row first, as every writer of a shipment takes it
            # (continuity.locks): one query, both rows, nothing waited for.
            occurrences = occurrences.select_for_update(
                skip_locked=True, of=("self", "subscription")
            )
            locked = list(occurrences.filter(pk__in=occurrence_ids))
        else:
            subscriptions_lock(
                Occurrence.objects.filter(pk__in=occurrence_ids).values("subscription_id")
            )
            locked = list(occurrences.select_for_update(of=("self",)).filter(pk__in=occurrence_ids))
        locked_ids = {occurrence.pk for occurrence in locked}
        # The sale each shipment may have in flight (or approved and not yet recorded on
        # it): at most one per shipment, a database constraint. Locked after the
        # shipments, as everywhere.
        live_sales = {
            sale.occurrence_id: sale
            for sale in Payment.objects.select_for_update(of=("self",))
            .filter(
                occurrence__in=locked_ids,
                operation=PaymentOperation.SALE,
                status__in=LIVE_SALE_STATUSES,
            )
            .select_related("card")
            .order_by("pk")
        }
        for occurrence in locked:
            try:
                with transaction.atomic():
                    item = _charge_prepare_one(
                        occurrence,
                        live=live_sales.get(occurrence.pk),
                        run_date=run_date,
                        actor=actor,
                        parameters=parameters if check_due else None,
                        settle_only=settle_only,
                    )
            except (DatabaseError, ValidationError) as error:
                results.append(
                    ChargeResult(
                        occurrence.pk, ChargeOutcome.ERROR, f"{type(error).__name__}: {error}"
                    )
                )
                continue
            if item is None:
                locked_elsewhere.append(occurrence.pk)
            elif isinstance(item, PreparedCharge):
                prepared.append(item)
            else:
                results.append(item)
        by_pk = {occurrence.pk: occurrence for occurrence in locked}
        notifications_add(
            [
                _charge_notification(by_pk[result.occurrence_id], result, payment=None)
                for result in results
                if result.outcome == ChargeOutcome.CARD_EXPIRED
            ]
        )
    locked_elsewhere += [pk for pk in occurrence_ids if pk not in locked_ids]
    return ChargePreparation(prepared, results, locked_elsewhere)


def _move_to_charging(occurrence: Occurrence, *, actor: Actor, reason: str = "") -> None:
    occurrence_move(
        occurrence,
        to_status=OccurrenceStatus.CHARGING,
        actor=actor,
        customer_id=occurrence.subscription.customer_id,
        reason=reason,
    )


def _charge_prepare_one(
    occurrence: Occurrence,
    *,
    live: Payment | None,
    run_date: datetime.date,
    actor: Actor,
    parameters: ContinuityParameters | None,
    settle_only: bool,
) -> PreparedCharge | ChargeResult | None:
    """`live`: the shipment's sale that is pending, unknown or approved. `parameters`:
    check that the shipment is still due. None: the key is being settled by a supervisor
    right now; try again later."""
    subscription = occurrence.subscription
    if live is not None and live.status in UNANSWERED_STATUSES:
        if occurrence.status not in CHARGE_IN_FLIGHT:
            # Written before shipments showed their charges in flight: show it now.
            _move_to_charging(occurrence, actor=actor, reason="sale in flight")
        if not payment_claim_for_sending(live):
            return None
        return PreparedCharge(occurrence.pk, live, fresh=False)
    if occurrence.status in CHARGE_IN_FLIGHT:
        if live is not None:
            # Approved, its answer recorded on the payment but not on the shipment.
            return PreparedCharge(occurrence.pk, live, fresh=False)
        return ChargeResult(
            occurrence.pk, ChargeOutcome.ERROR, "The shipment is charging but has no sale."
        )
    if (
        settle_only
        or occurrence.status not in AWAITING_CHARGE
        or subscription.status != SubscriptionStatus.ACTIVE
        # A person's "charge now" (retry now, a new card) retries a declined charge; a
        # shipment never tried waits for its due date, or it would be charged early.
        or (parameters is None and occurrence.status != OccurrenceStatus.PAYMENT_DECLINED)
    ):
        return ChargeResult(occurrence.pk, ChargeOutcome.SKIPPED, occurrence.status)
    # Still due? The run was planned before this lock; another run may have recorded a
    # decline since, with its retry on a later day.
    if parameters is not None and (
        occurrence.ship_date > run_date + datetime.timedelta(days=parameters.payment_lead_days)
        or (occurrence.next_payment_attempt_on and occurrence.next_payment_attempt_on > run_date)
    ):
        return ChargeResult(occurrence.pk, ChargeOutcome.SKIPPED, "not due")
    card = subscription.card
    if card.is_expired_on(run_date):
        _put_on_hold(
            occurrence,
            hold_reason=HoldReason.CARD_EXPIRED,
            detail=DeclineCode.EXPIRED_CARD.reason,
            actor=actor,
        )
        return ChargeResult(
            occurrence.pk, ChargeOutcome.CARD_EXPIRED, DeclineCode.EXPIRED_CARD.reason
        )
    payment = payment_sale_create(
        sales_order=subscription.parent_order,
        occurrence=occurrence,
        method=subscription.payment_method,
        card=card,
        amount=occurrence.amount,
        actor=actor,
    )
    _move_to_charging(occurrence, actor=actor)
    return PreparedCharge(occurrence.pk, payment, fresh=True)


# --- 2. Send ----------------------------------------------------------------------------


def charge_send(charge: PreparedCharge) -> GatewayResult | None:
    """Step 2, outside any transaction: the gateway's answer, or None if none came. A sale
    whose approval is recorded already (but not on its shipment) needs no call."""
    if charge.payment.status == PaymentStatus.APPROVED:
        return None
    return payment_sale_send(charge.payment, fresh=charge.fresh)


# --- 3. Record --------------------------------------------------------------------------


def charges_record(
    *,
    answers: list[tuple[PreparedCharge, GatewayResult | None]],
    run_date: datetime.date,
    actor: Actor,
) -> list[ChargeResult]:
    """Step 3 of charging: record each gateway answer and what follows from it (paid,
    retry on a later date, on hold, unknown), one savepoint per shipment.

    Safe to call twice with the same answers (another run, a chunk delivered again): the
    first call moves the shipment out of flight, and the second finds it settled
    (`skipped`). An approved sale is allocated to its shipment whatever the shipment's
    state, so that money taken is never lost from the books: a shipment that could not
    take it shows as a refund owed.
    """
    results = []
    if not answers:
        return results
    parameters = ContinuityParameters.load()
    occurrence_ids = [charge.occurrence_id for charge, _answer in answers]
    # Audit entries and allocations of the shipments that were paid, written together at
    # the end (same transaction): one statement each instead of one per shipment.
    paid_entries: list[AuditEntry] = []
    allocations: list[PaymentAllocation] = []
    with transaction.atomic():
        subscriptions_lock(
            Occurrence.objects.filter(pk__in=occurrence_ids).values("subscription_id")
        )
        locked = {
            occurrence.pk: occurrence
            for occurrence in Occurrence.objects.select_for_update(of=("self",))
            .select_related("subscription__parent_order")
            .filter(pk__in=occurrence_ids)
            .order_by("pk")
        }
        # Answers recorded before ours (another run, another delivery of this chunk, a
        # settling supervisor), read once for all.
        answered_before = dict(
            Payment.objects.filter(pk__in=[charge.payment.pk for charge, _answer in answers])
            .exclude(status__in=UNANSWERED_STATUSES)
            .values_list("pk", "status")
        )
        for charge, answer in answers:
            try:
                with transaction.atomic():
                    result, entry, allocation = _charge_record_one(
                        charge,
                        answer,
                        occurrence=locked[charge.occurrence_id],
                        run_date=run_date,
                        actor=actor,
                        parameters=parameters,
                        answered_before=answered_before.get(charge.payment.pk),
                    )
            except (DatabaseError, ValidationError) as error:
                result = ChargeResult(
                    charge.occurrence_id, ChargeOutcome.ERROR, f"{type(error).__name__}: {error}"
                )
                entry = allocation = None
            results.append(result)
            if entry is not None:
                paid_entries.append(entry)
            if allocation is not None:
                allocations.append(allocation)
        # ignore_conflicts: the allocation of a sale recorded twice is written once (the
        # unique constraint allocation_once_per_shipment_and_sale).
        PaymentAllocation.objects.bulk_create(allocations, ignore_conflicts=True)
        audit_entries_insert(paid_entries)
        notifications_add(
            [
                _charge_notification(locked[charge.occurrence_id], result, payment=charge.payment)
                for (charge, _answer), result in zip(answers, results, strict=True)
                if result.outcome in NOTIFIED_CHARGE_OUTCOMES
            ]
        )
    return results


def _charge_record_one(
    charge: PreparedCharge,
    answer: GatewayResult | None,
    *,
    occurrence: Occurrence,
    run_date: datetime.date,
    actor: Actor,
    parameters: ContinuityParameters,
    answered_before: str | None,
) -> tuple[ChargeResult, AuditEntry | None, PaymentAllocation | None]:
    """Record one answer for `occurrence` (locked by the caller). Returns the result and,
    for an approved sale, its allocation and the audit entry of the shipment's status
    change, for the caller to write. `answered_before`: the payment's status if its
    answer was recorded before this call."""
    payment = payment_record_answer(payment_id=charge.payment.pk, result=answer, actor=actor)
    allocation = None
    if payment.status == PaymentStatus.APPROVED:
        allocation = PaymentAllocation(
            occurrence_id=occurrence.pk, payment_id=payment.pk, amount=payment.amount
        )
    customer_id = occurrence.subscription.customer_id
    if occurrence.status not in CHARGE_IN_FLIGHT or (
        answered_before is not None and answered_before != PaymentStatus.APPROVED
    ):
        # Recorded before us: the shipment has moved on (or this is an earlier attempt's
        # decline, which says nothing about the sale in flight now).
        return (
            ChargeResult(occurrence.pk, ChargeOutcome.SKIPPED, occurrence.status),
            None,
            allocation,
        )
    if payment.status == PaymentStatus.APPROVED:
        # occurrence_set_status, with the audit entry handed back instead of saved.
        from_status = occurrence.status
        OCCURRENCE_STATUS.check(occurrence, OccurrenceStatus.PAID)
        occurrence.status = OccurrenceStatus.PAID
        occurrence.payment = payment
        occurrence.payment_attempts += 1
        occurrence.decline_reason = ""
        occurrence.next_payment_attempt_on = None
        occurrence.save(
            update_fields=[
                "status",
                "payment",
                "payment_attempts",
                "decline_reason",
                "next_payment_attempt_on",
            ]
        )
        entry = audit_entry_build(
            actor=actor,
            action="status_change",
            obj=occurrence,
            customer_id=customer_id,
            from_status=from_status,
            to_status=OccurrenceStatus.PAID,
        )
        return ChargeResult(occurrence.pk, ChargeOutcome.PAID), entry, allocation
    if payment.status in UNANSWERED_STATUSES:
        occurrence_move(
            occurrence,
            to_status=OccurrenceStatus.PAYMENT_UNKNOWN,
            actor=actor,
            customer_id=customer_id,
        )
        return (
            ChargeResult(occurrence.pk, ChargeOutcome.UNKNOWN, payment.idempotency_key),
            None,
            None,
        )
    return (
        _record_decline(occurrence, payment, run_date=run_date, actor=actor, parameters=parameters),
        None,
        None,
    )


def _record_decline(
    occurrence: Occurrence,
    payment: Payment,
    *,
    run_date: datetime.date,
    actor: Actor,
    parameters: ContinuityParameters,
) -> ChargeResult:
    """Dunning: a soft decline is tried again after the retry interval, until the
    reauthorization limit or the ship date; a hard one holds the subscription."""
    occurrence.payment_attempts += 1
    reason = payment.decline_reason
    if payment.decline_class == DeclineClass.HARD:
        expired = payment.decline_code == DeclineCode.EXPIRED_CARD
        _put_on_hold(
            occurrence,
            hold_reason=HoldReason.CARD_EXPIRED if expired else HoldReason.PAYMENT,
            detail=reason,
            actor=actor,
        )
        outcome = ChargeOutcome.CARD_EXPIRED if expired else ChargeOutcome.ON_HOLD
        return ChargeResult(occurrence.pk, outcome, reason)
    retry_on = max(run_date, business_date()) + datetime.timedelta(
        days=parameters.retry_interval_days
    )
    if (
        occurrence.payment_attempts >= parameters.reauthorization_limit
        or retry_on >= occurrence.ship_date
    ):
        # Dunning ends before the ship date: the customer is called, not charged again.
        _put_on_hold(occurrence, hold_reason=HoldReason.PAYMENT, detail=reason, actor=actor)
        return ChargeResult(occurrence.pk, ChargeOutcome.ON_HOLD, reason)
    occurrence.decline_reason = reason[:255]
    occurrence.next_payment_attempt_on = retry_on
    occurrence_move(
        occurrence,
        to_status=OccurrenceStatus.PAYMENT_DECLINED,
        actor=actor,
        customer_id=occurrence.subscription.customer_id,
        reason=payment.decline_code,
        update_fields=("payment_attempts", "decline_reason", "next_payment_attempt_on"),
    )
    return ChargeResult(occurrence.pk, ChargeOutcome.DECLINED, reason, retry_on)


# --- Notifications ----------------------------------------------------------------------

# The outcomes of a charge the customer is told about by email.
NOTIFIED_CHARGE_OUTCOMES = (
    ChargeOutcome.PAID,
    ChargeOutcome.DECLINED,
    ChargeOutcome.ON_HOLD,
    ChargeOutcome.CARD_EXPIRED,
)


def _charge_notification(
    occurrence: Occurrence, result: ChargeResult, *, payment: Payment | None
) -> NotificationEvent:
    """The email owed for one charge's outcome: keyed by the payment (or, for a card that
    expired before any charge, by the shipment), so it is owed once."""
    subscription = occurrence.subscription
    context = {
        "order": subscription.parent_order.number,
        "program": subscription.plan.get("name", ""),
        "amount": str(occurrence.amount),
        "currency": occurrence.currency,
        "card": str(payment.card if payment else subscription.card),
        "ship_date": occurrence.ship_date.isoformat(),
    }
    if result.outcome == ChargeOutcome.PAID:
        return NotificationEvent(
            NotificationKind.CHARGED,
            f"charged:payment:{payment.pk}",
            subscription.customer_id,
            context,
        )
    key = (
        f"payment_failed:payment:{payment.pk}"
        if payment
        else f"payment_failed:occurrence:{occurrence.pk}:{result.outcome}"
    )
    context |= {
        "reason": result.detail,
        "retry_on": result.retry_on.isoformat() if result.retry_on else "",
    }
    return NotificationEvent(
        NotificationKind.PAYMENT_FAILED, key, subscription.customer_id, context
    )


# --- Whole charges, for people and for reconciliation -----------------------------------


def occurrences_charge_now(*, occurrence_ids: list[int], actor: Actor) -> list[ChargeResult]:
    """Charge these shipments at once (outside the batch run), with the same rules and
    steps: the key committed first, a sale in flight looked up before anything is sent
    again. Waits for the rows another transaction holds instead of skipping them."""
    today = business_date()
    # Due now, whatever the dunning calendar says: a person asked for it.
    preparation = charges_prepare(
        occurrence_ids=occurrence_ids,
        run_date=today,
        actor=actor,
        check_due=False,
        skip_locked=False,
    )
    answers = [(charge, charge_send(charge)) for charge in preparation.prepared]
    busy = [
        ChargeResult(pk, ChargeOutcome.SKIPPED, "being settled")
        for pk in preparation.locked_elsewhere
    ]
    return preparation.results + busy + charges_record(answers=answers, run_date=today, actor=actor)


def occurrence_charge_settle(*, payment_id: int, actor: Actor) -> Payment:
    """Settle the shipment's sale `payment_id` whose answer was never recorded: look its
    key up, send it again under the same key only if the gateway never saw it, and record
    the answer on the shipment as the payment job would, whatever the subscription's
    state (a paused or on-hold subscription's charge in flight is settled too). The
    payments settler of shipment sales (continuity.apps)."""
    occurrence_id = Payment.objects.values_list("occurrence_id", flat=True).get(pk=payment_id)
    today = business_date()
    preparation = charges_prepare(
        occurrence_ids=[occurrence_id],
        run_date=today,
        actor=actor,
        settle_only=True,
        skip_locked=False,
    )
    answers = [
        (charge, charge_send(charge))
        for charge in preparation.prepared
        if charge.payment.pk == payment_id
    ]
    charges_record(answers=answers, run_date=today, actor=actor)
    return Payment.objects.get(pk=payment_id)


def is_shipment_sale(payment: Payment) -> bool:
    return payment.operation == PaymentOperation.SALE and payment.occurrence_id is not None
