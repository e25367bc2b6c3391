"""Sending a payment's key to the gateway and recording the answer, for sales and
reversals alike: the claims on the key, the look-up, the call, the answer."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import Conflict
from core.services import audit_entries_insert, audit_entry_build, status_change
from core.sql_arrays import array_literal
from payments.gateways import get_gateway
from payments.gateways.base import (
    DeclineCode,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    PaymentGateway,
)
from payments.models import (
    PAYMENT_STATUS,
    UNANSWERED_STATUSES,
    DeclineClass,
    Payment,
    PaymentStatus,
)

logger = logging.getLogger(__name__)


def payment_set_status(
    *,
    payment: Payment,
    to_status: str,
    actor: Actor,
    reason: str = "",
    update_fields: tuple[str, ...] = (),
    details: Mapping | None = None,
) -> Payment:
    """The one way a payment changes status (caller holds the transaction and the lock)."""
    status_change(
        payment,
        machine=PAYMENT_STATUS,
        to_status=to_status,
        actor=actor,
        customer_id=payment.customer_id,
        reason=reason,
        details={
            "gateway_reference": payment.gateway_reference,
            "key": payment.idempotency_key,
            **(details or {}),
        },
        update_fields=update_fields,
    )
    return payment


def claim_end() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=settings.PAYMENT_GATEWAY_CLAIM_SECONDS)


def payment_claim_for_sending(payment: Payment) -> bool:
    """Claim the right to send `payment`'s key to the gateway (again). The caller holds
    the payment's row lock in its transaction and sends only after it commits.

    Refused (False) for a payment whose answer is recorded, or while a supervisor settles
    it without sending (its settling claim runs). Several processes may hold sending
    claims at once: the gateway answers one key once, so a key sent twice charges once.
    """
    if payment.status not in UNANSWERED_STATUSES:
        return False
    now = timezone.now()
    if payment.settling_until is not None and payment.settling_until > now:
        return False
    until = claim_end()
    if payment.sending_until is None or payment.sending_until < until:
        payment.sending_until = until
        payment.save(update_fields=["sending_until"])
    return True


def payment_claim_for_settling(payment: Payment) -> datetime.datetime:
    """Claim the right to settle `payment` without sending it (caller holds its row lock
    and commits before asking the gateway): no process may be sending the key, and none
    may start until the claim is used or runs out. Returns the claim's end, which the
    caller shows again when it records (payment_settling_claim_held)."""
    now = timezone.now()
    if payment.status not in UNANSWERED_STATUSES:
        raise Conflict(_("This payment's outcome is recorded already."))
    busy_until = max(
        (moment for moment in (payment.sending_until, payment.settling_until) if moment),
        default=None,
    )
    if busy_until is not None and busy_until > now:
        raise Conflict(
            _(
                "The payment service is being asked about this charge right now. Try again "
                "after %(time)s."
            )
            % {"time": timezone.localtime(busy_until).strftime("%H:%M:%S")}
        )
    payment.settling_until = claim_end()
    payment.save(update_fields=["settling_until"])
    return payment.settling_until


def payment_settling_claim_held(payment: Payment, claim: datetime.datetime) -> bool:
    """Whether the settling claim `claim` on `payment` (locked by the caller) still runs:
    if it ran out, a sender may have sent the key since, and settling without sending
    would be a guess."""
    return payment.settling_until == claim and claim > timezone.now()


def payment_lookup(payment: Payment) -> tuple[bool, GatewayResult | None]:
    """Ask the gateway what it answered to the payment's key: (True, its answer), (True,
    None) if it never processed the key, or (False, None) if the question got no answer.
    """
    try:
        return True, get_gateway().lookup(payment.idempotency_key)
    except GatewayError:
        # A failed look-up says nothing about the charge. Taking it for a decline would
        # free the way for a second charge; only "never seen" allows sending again.
        logger.warning(
            "Gateway look-up failed for payment %s (key %s)", payment.pk, payment.idempotency_key
        )
        return False, None


def gateway_send(
    payment: Payment,
    *,
    fresh: bool,
    request: Callable[[PaymentGateway], GatewayResult],
) -> GatewayResult | None:
    """Send `request` for `payment`, outside any transaction. A payment that is not fresh
    is looked up first, and sent again (with the same key) only if the gateway never saw
    it. None: no answer, the outcome is unknown. A request the gateway refuses is answered
    as a decline with the code gateway_error."""
    if not fresh:
        answered, result = payment_lookup(payment)
        if not answered or result is not None:
            return result
    try:
        return request(get_gateway())
    except GatewayTimeout:
        logger.warning(
            "Gateway timeout for payment %s (key %s)", payment.pk, payment.idempotency_key
        )
        return None
    except GatewayError as error:
        logger.warning("Gateway refused payment %s: %s", payment.pk, error)
        return GatewayResult(
            approved=False,
            reference="",
            decline_code=DeclineCode.GATEWAY_ERROR,
            message=str(error)[:255],
        )


def payment_record_answer(
    *, payment_id: int, result: GatewayResult | None, actor: Actor, savepoint: bool = True
) -> Payment:
    """Record what the gateway said (None: no answer, so the outcome is unknown).

    Idempotent: a payment whose answer is already recorded is returned as it is. The
    claims on the key end with its answer; a payment left unknown keeps them, since
    another process may still be sending the key. `savepoint=False`: the caller's
    transaction is undone whole on any error (submit), so no savepoint of its own.
    """
    with transaction.atomic(savepoint=savepoint):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in UNANSWERED_STATUSES:
            return payment
        if result is None:
            if payment.status == PaymentStatus.PENDING:
                payment_set_status(payment=payment, to_status=PaymentStatus.UNKNOWN, actor=actor)
            return payment
        payment.gateway_reference = result.reference
        payment.answered_at = timezone.now()
        payment.message = result.message[:255]
        payment.sending_until = payment.settling_until = None
        fields = ("gateway_reference", "answered_at", "message", "sending_until", "settling_until")
        if result.approved:
            payment_set_status(
                payment=payment,
                to_status=PaymentStatus.APPROVED,
                actor=actor,
                update_fields=fields,
            )
        else:
            payment.decline_code = result.decline_code.value
            payment.decline_class = (
                DeclineClass.HARD if result.is_hard_decline else DeclineClass.SOFT
            )
            payment_set_status(
                payment=payment,
                to_status=PaymentStatus.DECLINED,
                actor=actor,
                reason=result.decline_code.value,
                update_fields=(*fields, "decline_code", "decline_class"),
            )
    return payment


def payments_record_approvals(
    approvals: list[tuple[Payment, GatewayResult]], *, actor: Actor
) -> None:
    """Record the approvals of unanswered payments together, as payment_record_answer
    records each (the same fields, status change and audit entry with its outbound
    event), in two statements on PostgreSQL instead of four a payment. The caller holds
    the payments' row locks in its transaction and read them under those locks; a
    payment the status machine does not let move to approved raises Conflict and
    nothing is written."""
    if not approvals:
        return
    now = timezone.now()
    entries = []
    for payment, result in approvals:
        from_status = payment.status
        PAYMENT_STATUS.check(payment, PaymentStatus.APPROVED)
        payment.status = PaymentStatus.APPROVED
        payment.gateway_reference = result.reference
        payment.answered_at = now
        payment.message = result.message[:255]
        payment.sending_until = payment.settling_until = None
        entries.append(
            audit_entry_build(
                actor=actor,
                action="status_change",
                obj=payment,
                customer_id=payment.customer_id,
                from_status=from_status,
                to_status=PaymentStatus.APPROVED,
                details={
                    "gateway_reference": payment.gateway_reference,
                    "key": payment.idempotency_key,
                },
            )
        )
    payments = [payment for payment, _result in approvals]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {Payment._meta.db_table} AS payment
                SET status = %s, gateway_reference = answer.reference,
                    message = answer.message, answered_at = %s,
                    sending_until = NULL, settling_until = NULL
                FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[])
                    AS answer(id, reference, message)
                WHERE payment.id = answer.id
                """,
                [
                    PaymentStatus.APPROVED.value,
                    now,
                    array_literal(payment.pk for payment in payments),
                    array_literal(payment.gateway_reference for payment in payments),
                    array_literal(payment.message for payment in payments),
                ],
            )
    else:
        Payment.objects.bulk_update(
            payments,
            [
                "status",
                "gateway_reference",
                "message",
                "answered_at",
                "sending_until",
                "settling_until",
            ],
        )
    audit_entries_insert(entries)
