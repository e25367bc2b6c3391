"""Refunds of an approved sale, with the same three steps as a sale: commit the refund
and its key under the sale's lock, send it, record the answer and its effect on the sale.

No service starts a void (a refund of the whole sale does the same for the customer), but
the payment model and the gateway adapters still know the operation, so a void row is
sent, recorded and settled as a void, never as a refund.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import Conflict, NotFound
from core.formatting import amount_text
from core.money import CENT, ZERO
from core.services import audit_record
from payments.gateways.base import GatewayResult
from payments.models import UNANSWERED_STATUSES, Payment, PaymentOperation, PaymentStatus
from payments.services.errors import ReversalDeclined, ReversalOutcomeUnknown
from payments.services.sending import (
    claim_end,
    gateway_send,
    payment_claim_for_sending,
    payment_record_answer,
    payment_set_status,
)


def _reversal_amount(amount) -> Decimal | None:
    """The amount asked for, in money precision; None means all that is left."""
    if amount is None:
        return None
    try:
        value = Decimal(str(amount).strip())
        if not value.is_finite():
            raise InvalidOperation
        exact = value.quantize(CENT)
    except InvalidOperation:
        raise ValidationError(
            {"amount": _("Enter the amount to refund, for example 10.00.")}
        ) from None
    if value <= 0:
        raise ValidationError({"amount": _("Enter an amount greater than zero.")})
    if exact != value:
        raise ValidationError({"amount": _("Enter the amount with at most two decimals.")})
    return exact


def _lock_sale_to_refund(payment_id: int) -> Payment:
    """The approved sale `payment_id`, row-locked until the transaction ends. Every
    reversal of a sale is decided and recorded under this lock."""
    sale = Payment.objects.select_for_update().filter(pk=payment_id).first()
    if sale is None:
        raise NotFound(_("Payment %(id)s does not exist.") % {"id": payment_id})
    if sale.operation != PaymentOperation.SALE or sale.status != PaymentStatus.APPROVED:
        raise Conflict(
            _(
                "Only an approved sale can be refunded. Payment %(id)s: operation "
                "%(operation)s, status %(status)s."
            )
            % {
                "id": sale.pk,
                "status": sale.get_status_display(),
                "operation": sale.get_operation_display(),
            }
        )
    return sale


def _in_flight_conflict(sale: Payment, in_flight: Payment) -> Conflict:
    # A whole sentence per operation: each takes its own article and gender in French.
    if in_flight.operation == PaymentOperation.VOID:
        message = _(
            "A void of %(amount)s %(currency)s on payment %(id)s is being confirmed with "
            "the payment service. Reconcile it before asking for anything else."
        )
    else:
        message = _(
            "A refund of %(amount)s %(currency)s on payment %(id)s is being confirmed with "
            "the payment service. Reconcile it before asking for anything else."
        )
    return Conflict(
        message
        % {"amount": amount_text(in_flight.amount), "currency": in_flight.currency, "id": sale.pk}
    )


def payment_refunded_total(sale: Payment, *, occurrence_id: int | None = None) -> Decimal:
    """What approved refunds of `sale` gave back (for one shipment when given)."""
    refunds = sale.reversals.filter(
        operation=PaymentOperation.REFUND, status=PaymentStatus.APPROVED
    )
    if occurrence_id is not None:
        refunds = refunds.filter(occurrence_id=occurrence_id)
    return refunds.aggregate(total=Sum("amount"))["total"] or ZERO


def _reversal_create(
    *,
    sale: Payment,
    operation: str,
    amount: Decimal,
    actor: Actor,
    reason: str,
    occurrence_id: int | None = None,
) -> Payment:
    """A pending refund or void of `sale` with its key, claimed for sending (caller holds
    the sale's lock). `occurrence_id`: the shipment a refund is for, when the sale paid
    several (the sale taken at submit, or a program billed up front)."""
    attempt = sale.reversals.filter(operation=operation).count() + 1
    reversal = Payment.objects.create(
        sales_order_id=sale.sales_order_id,
        occurrence_id=occurrence_id or sale.occurrence_id,
        customer_id=sale.customer_id,
        method_id=sale.method_id,
        card_id=sale.card_id,
        original=sale,
        operation=operation,
        status=PaymentStatus.PENDING,
        amount=amount,
        currency=sale.currency,
        attempt_number=attempt,
        # Deterministic, like a sale's key: two processes deciding the same reversal of the
        # same sale collide on it (and on the one-unanswered-reversal constraint).
        idempotency_key=f"payment-{sale.pk}-{operation}-{attempt}",
        sending_until=claim_end(),
    )
    audit_record(
        actor=actor,
        action="payment_created",
        obj=reversal,
        customer_id=reversal.customer_id,
        to_status=reversal.status,
        reason=reason[:255],
        details={
            "operation": operation,
            "amount": str(amount),
            "attempt": attempt,
            "key": reversal.idempotency_key,
            "original": sale.idempotency_key,
        },
    )
    return reversal


def refund_prepare(
    *,
    sale_id: int,
    amount: Decimal | None,
    actor: Actor,
    reason: str = "",
    occurrence_id: int | None = None,
) -> tuple[Payment, bool]:
    """Step 1 of a refund, inside the caller's transaction: lock the sale and commit a
    pending refund with its key, or pick up the refund of the same amount (and shipment)
    still in flight. Returns (refund, fresh). The caller commits, then calls
    reversal_send and reversal_record_answer.

    With `occurrence_id`, the refund is that shipment's, and a sale refunds a shipment
    once (a database constraint): asking again after an approved refund is refused.
    """
    sale = _lock_sale_to_refund(sale_id)
    left = sale.amount - payment_refunded_total(sale)
    wanted = left if amount is None else amount
    shipment = occurrence_id or sale.occurrence_id
    in_flight = sale.reversals.filter(status__in=UNANSWERED_STATUSES).first()
    if in_flight is not None:
        # The same request again is a retry of the refund in flight: it reuses its key.
        if (
            in_flight.operation != PaymentOperation.REFUND
            or in_flight.amount != wanted
            or (shipment is not None and in_flight.occurrence_id != shipment)
            or not payment_claim_for_sending(in_flight)
        ):
            raise _in_flight_conflict(sale, in_flight)
        return in_flight, False
    if shipment is not None and payment_refunded_total(sale, occurrence_id=shipment):
        raise Conflict(_("Payment %(id)s has refunded this shipment already.") % {"id": sale.pk})
    if not ZERO < wanted <= left:
        raise ValidationError(
            {
                "amount": _("At most %(left)s %(currency)s of this payment can still be refunded.")
                % {"left": amount_text(left), "currency": sale.currency}
            }
        )
    refund = _reversal_create(
        sale=sale,
        operation=PaymentOperation.REFUND,
        amount=wanted,
        actor=actor,
        reason=reason,
        occurrence_id=occurrence_id,
    )
    return refund, True


def reversal_send(reversal: Payment, *, fresh: bool) -> GatewayResult | None:
    """Step 2: ask the gateway for the refund or void (outside any transaction); a
    reversal that is not fresh is looked up first and sent again only if never seen."""
    sale = reversal.original
    if reversal.operation == PaymentOperation.VOID:

        def request(gateway):
            return gateway.void(
                reference=sale.gateway_reference, idempotency_key=reversal.idempotency_key
            )

    else:

        def request(gateway):
            return gateway.refund(
                reference=sale.gateway_reference,
                amount=reversal.amount,
                currency=reversal.currency,
                idempotency_key=reversal.idempotency_key,
            )

    return gateway_send(reversal, fresh=fresh, request=request)


def reversal_record_answer(
    *, reversal_id: int, result: GatewayResult | None, actor: Actor, reason: str = ""
) -> Payment:
    """Step 3: record the gateway's answer to a refund or void and, once the sale is
    wholly refunded or voided, move the sale there: both in one transaction."""
    with transaction.atomic():
        original_id = Payment.objects.values_list("original_id", flat=True).get(pk=reversal_id)
        # Lock order everywhere: the sale, then its reversal.
        sale = Payment.objects.select_for_update().get(pk=original_id)
        reversal = payment_record_answer(payment_id=reversal_id, result=result, actor=actor)
        if reversal.status != PaymentStatus.APPROVED or sale.status != PaymentStatus.APPROVED:
            return reversal
        if reversal.operation == PaymentOperation.VOID:
            to_status = PaymentStatus.VOIDED
        elif payment_refunded_total(sale) >= sale.amount:
            to_status = PaymentStatus.REFUNDED
        else:
            return reversal
        payment_set_status(
            payment=sale,
            to_status=to_status,
            actor=actor,
            reason=reason[:255],
            details={
                "reversal": reversal.idempotency_key,
                "reversal_reference": reversal.gateway_reference,
            },
        )
    return reversal


def reversal_outcome(reversal: Payment) -> Payment:
    """The recorded reversal, or the error that tells what became of it."""
    if reversal.status == PaymentStatus.DECLINED:
        raise ReversalDeclined(reversal)
    if reversal.status in UNANSWERED_STATUSES:
        raise ReversalOutcomeUnknown(reversal)
    return reversal


def payment_refund(
    *,
    payment_id: int,
    amount=None,
    actor: Actor,
    reason: str = "",
    occurrence_id: int | None = None,
) -> Payment:
    """Refund `amount` (default: all that is left) of the approved sale `payment_id` and
    return the refund, an approved Payment whose original is the sale. The sale becomes
    refunded once refunds add up to its amount.

    The refund and its key are committed before the gateway is called. A refund whose
    answer did not come raises ReversalOutcomeUnknown and stays unknown; asking again for
    the same amount looks it up, and sends it again under the same key only if the
    gateway never saw it. A declined refund raises ReversalDeclined. Refused, with nothing
    written or sent: a payment that is not an approved sale (Conflict), an amount not
    above zero or above what is left (ValidationError), another refund or void of the
    sale still being confirmed (Conflict), a shipment the sale has refunded already
    (Conflict). `occurrence_id` records which shipment the refund is for, when the sale
    paid several.
    """
    requested = _reversal_amount(amount)
    with transaction.atomic():
        refund, fresh = refund_prepare(
            sale_id=payment_id,
            amount=requested,
            actor=actor,
            reason=reason,
            occurrence_id=occurrence_id,
        )
    answer = reversal_send(refund, fresh=fresh)
    refund = reversal_record_answer(
        reversal_id=refund.pk, result=answer, actor=actor, reason=reason
    )
    return reversal_outcome(refund)
