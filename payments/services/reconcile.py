"""Settling a payment whose answer was never recorded."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import Conflict, NotFound
from payments.models import UNANSWERED_STATUSES, Payment, PaymentOperation
from payments.services.reversals import reversal_record_answer, reversal_send
from payments.services.sales import payment_sale_send
from payments.services.sending import payment_claim_for_sending, payment_record_answer
from payments.settlement import settler_for


def payment_reconcile(*, payment_id: int, actor: Actor) -> Payment:
    """Settle a payment whose answer was never recorded (pending: the process died;
    unknown: the gateway did not answer): look its key up, send it again under the same
    key only if the gateway never saw it, and record the answer with what follows from
    it. Settling is not a new charge: it happens whatever became of the order or the
    subscription since.

    A sale made for an order or a shipment is settled by the app that made it (a settler
    registered in payments.settlement: the order's submit, the shipment's charge), so
    that an approved sale submits its order or pays its shipment in the same
    transaction. A refund or void is settled here. A key the gateway did not answer about
    leaves the payment unknown. A payment already answered is returned as it is.
    """
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(_("Payment %(id)s does not exist.") % {"id": payment_id})
    if payment.status not in UNANSWERED_STATUSES:
        return payment
    settler = settler_for(payment)
    if settler is not None:
        return settler.settle(payment_id=payment.pk, actor=actor)
    return payment_settle(payment_id=payment.pk, actor=actor)


def payment_settle(*, payment_id: int, actor: Actor) -> Payment:
    """Settle the payment by itself: claim its key, look it up, send it again only if the
    gateway never saw it, record the answer (a reversal with its effect on the sale)."""
    with transaction.atomic():
        original_id = Payment.objects.values_list("original_id", flat=True).get(pk=payment_id)
        if original_id is not None:
            # Lock order: the sale, then its reversal.
            Payment.objects.select_for_update().get(pk=original_id)
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("original", "card")
            .get(pk=payment_id)
        )
        if payment.status not in UNANSWERED_STATUSES:
            return payment
        if not payment_claim_for_sending(payment):
            raise Conflict(_("A supervisor is settling this payment right now."))
    if payment.operation == PaymentOperation.SALE:
        answer = payment_sale_send(payment, fresh=False)
        return payment_record_answer(payment_id=payment.pk, result=answer, actor=actor)
    answer = reversal_send(payment, fresh=False)
    return reversal_record_answer(reversal_id=payment.pk, result=answer, actor=actor)
