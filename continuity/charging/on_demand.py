"""Whole charges, the three steps in one call: for people (retry now, a new card) and
for settling a shipment's sale whose answer was never recorded."""

from __future__ import annotations

from django.utils.translation import gettext as _

from continuity.charging.outcomes import ChargeOutcome, ChargeResult
from continuity.charging.prepare import charges_prepare
from continuity.charging.record import charges_record
from continuity.charging.send import charge_send
from continuity.models import ShipmentProblem
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from payments.models import Payment, PaymentOperation


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
    # A shipment another transaction holds (a run, a supervisor settling it) is left to
    # it: the payment comes back as it stands. One the state machine refuses is a
    # refusal, so that reconcile counts it as failed, not as still unknown.
    for result in preparation.results:
        if result.occurrence_id == occurrence_id and result.outcome == ShipmentProblem.ERROR:
            raise Conflict(
                _("The sale of shipment %(id)s cannot be settled: %(detail)s")
                % {"id": occurrence_id, "detail": result.detail}
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
