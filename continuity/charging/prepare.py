"""Step 1 of a charge: under the subscription's and the shipment's row locks, commit a
pending sale with its idempotency key and move the shipment to `charging`, or pick up the
sale an earlier attempt left in flight."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from continuity.charging.outcomes import (
    ChargeOutcome,
    ChargePreparation,
    ChargeResult,
    PreparedCharge,
    charge_notification,
    put_on_hold,
)
from continuity.locks import subscriptions_lock
from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    OCCURRENCE_STATUS,
    ContinuityParameters,
    HoldReason,
    Occurrence,
    OccurrenceStatus,
    ShipmentProblem,
    SubscriptionStatus,
)
from continuity.pricing import (
    RepricedShipments,
    occurrence_price_again,
    repriced_shipments_write,
)
from continuity.services import occurrence_move
from core.actors import Actor
from core.errors import ServiceError
from core.notifications import notifications_add
from core.services import audit_entries_insert, audit_entry_build
from orders.tax.selectors import tax_tables_read_once
from payments.gateways.base import DeclineCode
from payments.models import LIVE_SALE_STATUSES, UNANSWERED_STATUSES, Payment, PaymentOperation
from payments.services import payment_claim_for_sending, payment_sale_create, payment_sales_create


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
    transaction holds are listed, not waited for. A shipment that raises is reported as an
    error and the others go on (the slice is then prepared again, each shipment in its own
    savepoint). `check_due=False` charges
    whatever the dunning calendar says (a person asked for it: retry now, a new card).
    `settle_only`: only pick up charges in flight, start none.
    """
    parameters = ContinuityParameters.load()
    steps = {
        "run_date": run_date,
        "actor": actor,
        "parameters": parameters if check_due else None,
        "settle_only": settle_only,
    }
    # Shipments are taxed again before their charge: the tables are read once a chunk.
    with transaction.atomic(), tax_tables_read_once():
        locked, live_sales = _lock(occurrence_ids, skip_locked=skip_locked)
        locked_ids = [occurrence.pk for occurrence in locked]
        try:
            # The slice in one savepoint, the common case: nothing raises.
            with transaction.atomic():
                prepared, results, claimed_elsewhere = _prepare_locked(
                    locked, live_sales, alone=False, **steps
                )
        except (DatabaseError, ValidationError, ServiceError):
            # Undone: again from fresh rows (ours already, so the same ones come back),
            # each shipment in a savepoint of its own, so that the one that raises is
            # reported as an error and the others are charged.
            locked, live_sales = _lock(locked_ids, skip_locked=skip_locked)
            prepared, results, claimed_elsewhere = _prepare_locked(
                locked, live_sales, alone=True, **steps
            )
        by_pk = {occurrence.pk: occurrence for occurrence in locked}
        notifications_add(
            [
                charge_notification(
                    by_pk[result.occurrence_id],
                    result,
                    payment=None,
                    decline_code=DeclineCode.EXPIRED_CARD,
                )
                for result in results
                if result.outcome == ShipmentProblem.CARD_EXPIRED
            ]
        )
    held = set(locked_ids)
    locked_elsewhere = claimed_elsewhere + [pk for pk in occurrence_ids if pk not in held]
    return ChargePreparation(prepared, results, locked_elsewhere)


def _lock(occurrence_ids, *, skip_locked: bool) -> tuple[list[Occurrence], dict[int, Payment]]:
    """The shipments (with what their charge reads) under their subscriptions' and their
    own row locks, and the sale each may have in flight under its lock."""
    occurrences = Occurrence.objects.select_related(
        "subscription__card",
        "subscription__payment_method",
        "subscription__parent_order",
        "subscription__ship_to",
    ).order_by("pk")
    # Each shipment is taxed again from its lines: one query for the chunk's lines.
    occurrences = occurrences.prefetch_related("lines")
    if skip_locked:
        # The subscription's row first, as every writer of a shipment takes it
        # (continuity.locks): one query, both rows, nothing waited for.
        occurrences = occurrences.select_for_update(skip_locked=True, of=("self", "subscription"))
        locked = list(occurrences.filter(pk__in=occurrence_ids))
    else:
        subscriptions_lock(
            Occurrence.objects.filter(pk__in=occurrence_ids).values("subscription_id")
        )
        locked = list(occurrences.select_for_update(of=("self",)).filter(pk__in=occurrence_ids))
    # The sale each shipment may have in flight (or approved and not yet recorded on it):
    # at most one per shipment, a database constraint. Locked after the shipments, as
    # everywhere.
    live_sales = {
        sale.occurrence_id: sale
        for sale in Payment.objects.select_for_update(of=("self",))
        .filter(
            occurrence__in=[occurrence.pk for occurrence in locked],
            operation=PaymentOperation.SALE,
            status__in=LIVE_SALE_STATUSES,
        )
        .select_related("card")
        .order_by("pk")
    }
    return locked, live_sales


def _prepare_locked(
    locked: list[Occurrence], live_sales: dict[int, Payment], *, alone: bool, **steps
) -> tuple[list[PreparedCharge], list[ChargeResult], list[int]]:
    """Step 1 for the locked shipments: the charges prepared, the results found without a
    charge, and the shipments whose sale another process is settling. `alone`: each
    shipment in its own savepoint (one that raises is an error, the others go on);
    otherwise the first that raises stops them all (the caller's savepoint)."""
    prepared: list[PreparedCharge] = []
    results: list[ChargeResult] = []
    claimed_elsewhere: list[int] = []
    # Shipments whose new sale is all that is left to write: made together below.
    together: list[Occurrence] = []
    # In the slice's savepoint, the new prices of its shipments are written together too;
    # each shipment in a savepoint of its own writes its own at once.
    repriced = None if alone else RepricedShipments()

    def prepare_one(occurrence: Occurrence, *, defer: list[Occurrence] | None) -> None:
        def one():
            return _charge_prepare_one(
                occurrence,
                live=live_sales.get(occurrence.pk),
                defer=defer,
                repriced=repriced,
                **steps,
            )

        if not alone:
            item = one()
        else:
            try:
                with transaction.atomic():
                    item = one()
            except (DatabaseError, ValidationError, ServiceError) as error:
                results.append(
                    ChargeResult(
                        occurrence.pk, ShipmentProblem.ERROR, f"{type(error).__name__}: {error}"
                    )
                )
                return
        if item is None:
            claimed_elsewhere.append(occurrence.pk)
        elif isinstance(item, PreparedCharge):
            prepared.append(item)
        elif item is not _DEFERRED:
            results.append(item)

    for occurrence in locked:
        prepare_one(occurrence, defer=together)
    if not alone:
        repriced_shipments_write(repriced)
        prepared.extend(_fresh_sales_create(together, actor=steps["actor"]))
        return prepared, results, claimed_elsewhere
    try:
        with transaction.atomic():
            prepared.extend(_fresh_sales_create(together, actor=steps["actor"]))
    except (DatabaseError, ValidationError, ServiceError):
        # Rolled back to the savepoint: one by one, so that the shipment that fails is
        # reported and the others are charged.
        for occurrence in together:
            prepare_one(occurrence, defer=None)
    return prepared, results, claimed_elsewhere


# What _charge_prepare_one answers for a shipment it left to _fresh_sales_create.
_DEFERRED = object()


def _fresh_sales_create(occurrences: list[Occurrence], *, actor: Actor) -> list[PreparedCharge]:
    """What _charge_prepare_one writes for each of these shipments (locked, due, priced,
    nothing else to write), for all of them together: their pending sales with their keys
    (payment_sales_create), their move to `charging` in one UPDATE and its audit entries
    (with their outbound events) in one INSERT. The caller's savepoint undoes all of it
    if a statement fails."""
    if not occurrences:
        return []
    for occurrence in occurrences:
        OCCURRENCE_STATUS.check(occurrence, OccurrenceStatus.CHARGING)
    payments = payment_sales_create(
        sales=[
            {
                "sales_order": occurrence.subscription.parent_order,
                "occurrence": occurrence,
                "method": occurrence.subscription.payment_method,
                "card": occurrence.subscription.card,
                "amount": occurrence.amount,
            }
            for occurrence in occurrences
        ],
        actor=actor,
    )
    Occurrence.objects.filter(pk__in=[occurrence.pk for occurrence in occurrences]).update(
        status=OccurrenceStatus.CHARGING
    )
    audit_entries_insert(
        [
            audit_entry_build(
                actor=actor,
                action="status_change",
                obj=occurrence,
                customer_id=occurrence.subscription.customer_id,
                from_status=occurrence.status,
                to_status=OccurrenceStatus.CHARGING,
            )
            for occurrence in occurrences
        ]
    )
    # Only once all is written: on a failure the caller prepares them again one by one.
    for occurrence in occurrences:
        occurrence.status = OccurrenceStatus.CHARGING
    return [
        PreparedCharge(occurrence.pk, payment, fresh=True)
        for occurrence, payment in zip(occurrences, payments, strict=True)
    ]


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
    defer: list[Occurrence] | None = None,
    repriced: RepricedShipments | None = None,
) -> PreparedCharge | ChargeResult | object | None:
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
            occurrence.pk, ShipmentProblem.ERROR, "The shipment is charging but has no sale."
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
        put_on_hold(
            occurrence,
            hold_reason=HoldReason.CARD_EXPIRED,
            detail=DeclineCode.EXPIRED_CARD.reason,
            actor=actor,
        )
        return ChargeResult(
            occurrence.pk, ShipmentProblem.CARD_EXPIRED, DeclineCode.EXPIRED_CARD.reason
        )
    # Taxed again for where it ships now and the rates of its ship date: the charge is
    # what the shipment costs today, and the shipment keeps the parts it was charged for.
    # `repriced` (the slice's savepoint): the new price is written with the others' before
    # their sales; it is in memory now, and the sale below charges it.
    occurrence_price_again(occurrence, subscription=subscription, actor=actor, together=repriced)
    if defer is not None:
        # Its new price, if any, is written (in this savepoint); its sale and its move to
        # charging are made with the others' (_fresh_sales_create), or here again if
        # that fails.
        defer.append(occurrence)
        return _DEFERRED
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
