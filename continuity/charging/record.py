"""Step 3 of a charge: under the same locks as step 1, record the gateway's answer and
what follows from it: paid (with the sale's allocation to the shipment), declined (with
the next attempt, or a hold), unknown."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from continuity.charging.outcomes import (
    NOTIFIED_CHARGE_OUTCOMES,
    ChargeOutcome,
    ChargeResult,
    PreparedCharge,
    charge_notification,
    put_on_hold,
)
from continuity.locks import subscriptions_lock
from continuity.models import (
    CHARGE_IN_FLIGHT,
    OCCURRENCE_STATUS,
    ContinuityParameters,
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    PaymentAllocation,
    ShipmentProblem,
)
from continuity.services import occurrence_move
from core.actors import Actor
from core.dates import business_date
from core.errors import ServiceError
from core.models import AuditEntry
from core.notifications import notifications_add
from core.services import audit_entries_insert, audit_entry_build
from core.sql_arrays import array_literal
from payments.gateways.base import DeclineCode, GatewayResult
from payments.models import UNANSWERED_STATUSES, DeclineClass, Payment, PaymentStatus
from payments.services import payment_record_answer, payments_record_approvals


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
        # The sales' rows, after the shipments' (continuity.locks), in one query: the
        # answers recorded before ours (another run, another delivery of this chunk, a
        # settling supervisor) are read under their locks.
        sales = {
            sale.pk: sale
            for sale in Payment.objects.select_for_update(of=("self",))
            .filter(pk__in=[charge.payment.pk for charge, _answer in answers])
            .order_by("pk")
        }
        answered_before = {
            pk: sale.status for pk, sale in sales.items() if sale.status not in UNANSWERED_STATUSES
        }
        together = _approvals_record(answers, locked=locked, sales=sales, actor=actor)
        for index, (charge, answer) in enumerate(answers):
            if index in together:
                result, entry, allocation = together[index]
                results.append(result)
                paid_entries.append(entry)
                allocations.append(allocation)
                continue
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
            except (DatabaseError, ValidationError, ServiceError) as error:
                result = ChargeResult(
                    charge.occurrence_id, ShipmentProblem.ERROR, f"{type(error).__name__}: {error}"
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
                charge_notification(
                    locked[charge.occurrence_id],
                    result,
                    payment=charge.payment,
                    decline_code=answer.decline_code if answer else None,
                )
                for (charge, answer), result in zip(answers, results, strict=True)
                if result.outcome in NOTIFIED_CHARGE_OUTCOMES
            ]
        )
    return results


def _approvals_record(
    answers: list[tuple[PreparedCharge, GatewayResult | None]],
    *,
    locked: dict[int, Occurrence],
    sales: dict[int, Payment],
    actor: Actor,
) -> dict[int, tuple[ChargeResult, AuditEntry, PaymentAllocation]]:
    """The common case of a batch's answers, recorded together on PostgreSQL: a sale
    approved whose answer was not recorded before, for a shipment still in flight. The
    same rows as _charge_record_one writes for each (the payment's answer and audit
    entry, the shipment paid, its entry and its allocation for the caller to write), in
    a few statements instead of a dozen a shipment. Returns them by their index in
    `answers`; anything else, and all of them if a statement fails (in its own
    savepoint), is left to _charge_record_one, one savepoint each."""
    if connection.vendor != "postgresql":
        return {}
    chosen = []
    for index, (charge, answer) in enumerate(answers):
        sale = sales.get(charge.payment.pk)
        occurrence = locked[charge.occurrence_id]
        if (
            answer is not None
            and answer.approved
            and sale is not None
            and sale.status in UNANSWERED_STATUSES
            and occurrence.status in CHARGE_IN_FLIGHT
            and OCCURRENCE_STATUS.can(occurrence.status, OccurrenceStatus.PAID)
        ):
            chosen.append((index, sale, answer, occurrence))
    if not chosen:
        return {}
    try:
        with transaction.atomic():
            payments_record_approvals(
                [(sale, answer) for _i, sale, answer, _o in chosen], actor=actor
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    UPDATE {Occurrence._meta.db_table} AS occurrence
                    SET status = %s, payment_id = paid.payment_id,
                        payment_attempts = occurrence.payment_attempts + 1,
                        decline_reason = '', next_payment_attempt_on = NULL
                    FROM unnest(%s::bigint[], %s::bigint[]) AS paid(id, payment_id)
                    WHERE occurrence.id = paid.id
                    """,
                    [
                        OccurrenceStatus.PAID.value,
                        array_literal(occurrence.pk for _i, _s, _a, occurrence in chosen),
                        array_literal(sale.pk for _i, sale, _a, _o in chosen),
                    ],
                )
    except (DatabaseError, ValidationError, ServiceError):
        # Rolled back to the savepoint; one by one, the shipment that fails is reported.
        return {}
    recorded = {}
    for index, sale, _answer, occurrence in chosen:
        from_status = occurrence.status
        occurrence.status = OccurrenceStatus.PAID
        occurrence.payment = sale
        occurrence.payment_attempts += 1
        occurrence.decline_reason = ""
        occurrence.next_payment_attempt_on = None
        entry = audit_entry_build(
            actor=actor,
            action="status_change",
            obj=occurrence,
            customer_id=occurrence.subscription.customer_id,
            from_status=from_status,
            to_status=OccurrenceStatus.PAID,
        )
        allocation = PaymentAllocation(
            occurrence_id=occurrence.pk, payment_id=sale.pk, amount=sale.amount
        )
        recorded[index] = (ChargeResult(occurrence.pk, ChargeOutcome.PAID), entry, allocation)
    return recorded


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
            ChargeResult(occurrence.pk, ShipmentProblem.UNKNOWN, payment.idempotency_key),
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
        put_on_hold(
            occurrence,
            hold_reason=HoldReason.CARD_EXPIRED if expired else HoldReason.PAYMENT,
            detail=reason,
            actor=actor,
        )
        outcome = ShipmentProblem.CARD_EXPIRED if expired else ShipmentProblem.ON_HOLD
        return ChargeResult(occurrence.pk, outcome, reason)
    retry_on = max(run_date, business_date()) + datetime.timedelta(
        days=parameters.retry_interval_days
    )
    if (
        occurrence.payment_attempts >= parameters.reauthorization_limit
        or retry_on >= occurrence.ship_date
    ):
        # Dunning ends before the ship date: the customer is called, not charged again.
        put_on_hold(occurrence, hold_reason=HoldReason.PAYMENT, detail=reason, actor=actor)
        return ChargeResult(occurrence.pk, ShipmentProblem.ON_HOLD, reason)
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
    return ChargeResult(occurrence.pk, ShipmentProblem.DECLINED, reason, retry_on)
