"""Cards and money movement.

The one rule every function here keeps: a gateway call is made with an idempotency key
that is already committed in a Payment row, and never inside an open transaction. A
process that dies after the gateway answered leaves that row pending; the next attempt
looks the key up instead of charging again.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict, NotFound, ServiceError
from core.money import CENT, ZERO
from core.services import audit_record, status_change
from payments.gateways import cardnumbers, get_gateway
from payments.gateways.base import (
    CardDetails,
    CardRejected,
    DeclineCode,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    PaymentGateway,
)
from payments.models import (
    PAYMENT_STATUS,
    UNANSWERED_STATUSES,
    Card,
    DeclineClass,
    Payment,
    PaymentMethod,
    PaymentOperation,
    PaymentStatus,
)
from payments.settlement import settler_for

logger = logging.getLogger(__name__)


class PaymentDeclined(ServiceError):
    code = "payment_declined"

    def __init__(self, payment: Payment):
        super().__init__(payment_decline_reason(payment))
        self.payment = payment


class PaymentOutcomeUnknown(ServiceError):
    code = "payment_unknown"

    def __init__(self, payment: Payment):
        super().__init__(
            _(
                "The payment service did not confirm the charge. Nothing more will be "
                "charged: submit again to check the outcome."
            )
        )
        self.payment = payment


class GatewayUnavailable(ServiceError):
    code = "gateway_unavailable"


def payment_decline_reason(payment: Payment) -> str:
    try:
        return DeclineCode(payment.decline_code).reason
    except ValueError:
        return payment.message or _("The charge was declined.")


# --- Cards --------------------------------------------------------------------------------


def _card_input_errors(
    *,
    number: str,
    expiry_month,
    expiry_year,
    security_code: str,
    name_on_card: str,
    today: datetime.date,
) -> tuple[dict[str, str], int | None, int | None]:
    errors: dict[str, str] = {}
    if not (number.isdigit() and 13 <= len(number) <= 19):
        errors["card_number"] = _("Enter the card number: 13 to 19 digits.")
    elif not cardnumbers.luhn_valid(number):
        errors["card_number"] = _("This card number is not valid. Check the digits.")
    elif cardnumbers.detect_brand(number) is None:
        errors["card_number"] = _("This card brand is not accepted.")
    month = year = None
    try:
        month = int(expiry_month)
        if not 1 <= month <= 12:
            raise ValueError
    except (TypeError, ValueError):
        errors["expiry_month"] = _("Enter the expiration month, 1 to 12.")
        month = None
    try:
        year = int(expiry_year)
        if 0 <= year < 100:  # "28" on the card means 2028
            year += 2000
        if not 2000 <= year <= 2199:
            raise ValueError
    except (TypeError, ValueError):
        errors["expiry_year"] = _("Enter the expiration year, for example %(year)d.") % {
            "year": today.year + 3
        }
        year = None
    if month and year and (year, month) < (today.year, today.month):
        errors["expiry_year"] = _("This card has expired.")
    expected_code_length = 4 if cardnumbers.detect_brand(number) == "amex" else 3
    if not (security_code.isdigit() and len(security_code) == expected_code_length):
        errors["security_code"] = _("Enter the %(count)d-digit security code.") % {
            "count": expected_code_length
        }
    if not name_on_card.strip():
        errors["name_on_card"] = _("Enter the name as it is printed on the card.")
    return errors, month, year


def card_add(
    *,
    customer,
    card_number: str,
    expiry_month,
    expiry_year,
    security_code: str,
    name_on_card: str,
    actor: Actor,
) -> Card:
    """Validate the card, have the gateway tokenize it, and keep only the token, brand,
    last four digits and expiry. Error messages never repeat the number or the code."""
    number = cardnumbers.normalize(card_number)
    security_code = (security_code or "").strip()
    errors, month, year = _card_input_errors(
        number=number,
        expiry_month=expiry_month,
        expiry_year=expiry_year,
        security_code=security_code,
        name_on_card=name_on_card or "",
        today=business_date(),
    )
    if errors:
        raise ValidationError(errors)
    try:
        tokenized = get_gateway().tokenize(
            CardDetails(
                number=number,
                expiry_month=month,
                expiry_year=year,
                security_code=security_code,
                name_on_card=name_on_card.strip(),
            )
        )
    except CardRejected as error:
        raise ValidationError({"card_number": str(error)}) from None
    except GatewayError:
        # `from None`: the gateway's exception must not carry the card into a traceback.
        raise GatewayUnavailable(
            _("The payment service did not answer. Try again in a moment.")
        ) from None
    with transaction.atomic():
        card = Card.objects.create(
            customer=customer,
            token=tokenized.token,
            brand=tokenized.brand,
            last4=tokenized.last4,
            expiry_month=tokenized.expiry_month,
            expiry_year=tokenized.expiry_year,
            name_on_card=name_on_card.strip(),
        )
        audit_record(
            actor=actor,
            action="card_added",
            obj=card,
            customer_id=customer.pk,
            details={"card": str(card)},
        )
    return card


# --- Payments -----------------------------------------------------------------------------


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


def _claim_end() -> datetime.datetime:
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
    until = _claim_end()
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
    payment.settling_until = _claim_end()
    payment.save(update_fields=["settling_until"])
    return payment.settling_until


def payment_settling_claim_held(payment: Payment, claim: datetime.datetime) -> bool:
    """Whether the settling claim `claim` on `payment` (locked by the caller) still runs:
    if it ran out, a sender may have sent the key since, and settling without sending
    would be a guess."""
    return payment.settling_until == claim and claim > timezone.now()


def _sale_key(*, sales_order_id: int, occurrence_id: int | None, attempt: int) -> str:
    # Deterministic keys: two processes that both decide to make attempt N of the same
    # charge collide on the unique key instead of charging twice.
    if occurrence_id is not None:
        return f"occurrence-{occurrence_id}-sale-{attempt}"
    return f"order-{sales_order_id}-sale-{attempt}"


def payment_sale_create(
    *,
    sales_order,
    occurrence=None,
    method: PaymentMethod,
    card: Card,
    amount: Decimal,
    actor: Actor,
) -> Payment:
    """A pending sale with its idempotency key, claimed for sending by its creator. The
    caller holds the transaction and the lock on the order or occurrence, and calls the
    gateway only after it commits."""
    previous = Payment.objects.filter(
        sales_order=sales_order, occurrence=occurrence, operation=PaymentOperation.SALE
    ).count()
    attempt = previous + 1
    payment = Payment.objects.create(
        sales_order=sales_order,
        occurrence=occurrence,
        customer_id=sales_order.customer_id,
        method=method,
        card=card,
        operation=PaymentOperation.SALE,
        status=PaymentStatus.PENDING,
        amount=amount,
        currency=sales_order.currency,
        attempt_number=attempt,
        idempotency_key=_sale_key(
            sales_order_id=sales_order.pk,
            occurrence_id=occurrence.pk if occurrence else None,
            attempt=attempt,
        ),
        sending_until=_claim_end(),
    )
    audit_record(
        actor=actor,
        action="payment_created",
        obj=payment,
        customer_id=payment.customer_id,
        to_status=payment.status,
        details={
            "operation": payment.operation,
            "amount": str(amount),
            "attempt": attempt,
            "key": payment.idempotency_key,
        },
    )
    return payment


def payment_sale_send(payment: Payment, *, fresh: bool) -> GatewayResult | None:
    """Ask the gateway to charge `payment`; None when the answer did not come.

    A payment that is not fresh (unknown, or pending from a process that died) is first
    looked up by its key; only a gateway that never saw the key is asked to charge, and
    with the same key, so the gateway itself can never charge it twice. The caller holds
    a sending claim (payment_claim_for_sending, or the creation of the sale).
    Must run outside any transaction.
    """
    return _gateway_send(
        payment,
        fresh=fresh,
        request=lambda gateway: gateway.sale(
            token=payment.card.token,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=payment.idempotency_key,
        ),
    )


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


def _gateway_send(
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
    *, payment_id: int, result: GatewayResult | None, actor: Actor
) -> Payment:
    """Record what the gateway said (None: no answer, so the outcome is unknown).

    Idempotent: a payment whose answer is already recorded is returned as it is. The
    claims on the key end with its answer; a payment left unknown keeps them, since
    another process may still be sending the key.
    """
    with transaction.atomic():
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


# --- Refunds and voids --------------------------------------------------------------------


class ReversalDeclined(PaymentDeclined):
    code = "reversal_declined"

    def __init__(self, payment: Payment):
        ServiceError.__init__(
            self,
            _("The payment service refused the %(operation)s: %(detail)s")
            % {
                "operation": payment.get_operation_display().lower(),
                "detail": payment.message or payment_decline_reason(payment),
            },
        )
        self.payment = payment


class ReversalOutcomeUnknown(PaymentOutcomeUnknown):
    code = "reversal_unknown"

    def __init__(self, payment: Payment):
        ServiceError.__init__(
            self,
            _(
                "The payment service did not confirm the %(operation)s. Nothing more will be "
                "sent: ask for the same %(operation)s again, or reconcile the payment, to "
                "check the outcome."
            )
            % {"operation": payment.get_operation_display().lower()},
        )
        self.payment = payment


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


def _lock_sale_to_reverse(payment_id: int, *, operation: str) -> Payment:
    """The approved sale `payment_id`, row-locked until the transaction ends. Every
    reversal of a sale is decided and recorded under this lock."""
    sale = Payment.objects.select_for_update().filter(pk=payment_id).first()
    if sale is None:
        raise NotFound(_("Payment %(id)s does not exist.") % {"id": payment_id})
    if sale.operation != PaymentOperation.SALE or sale.status != PaymentStatus.APPROVED:
        if operation == PaymentOperation.REFUND:
            message = _(
                "Only an approved sale can be refunded; payment %(id)s is a %(operation)s "
                "that is %(status)s."
            )
        else:
            message = _(
                "Only an approved sale can be voided; payment %(id)s is a %(operation)s "
                "that is %(status)s."
            )
        raise Conflict(
            message
            % {
                "id": sale.pk,
                "status": sale.get_status_display().lower(),
                "operation": sale.get_operation_display().lower(),
            }
        )
    return sale


def _in_flight_conflict(sale: Payment, in_flight: Payment) -> Conflict:
    return Conflict(
        _(
            "A %(operation)s of %(amount)s %(currency)s on payment %(id)s is being confirmed "
            "with the payment service. Reconcile it before asking for anything else."
        )
        % {
            "operation": in_flight.get_operation_display().lower(),
            "amount": in_flight.amount,
            "currency": in_flight.currency,
            "id": sale.pk,
        }
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
        sending_until=_claim_end(),
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
    sale = _lock_sale_to_reverse(sale_id, operation=PaymentOperation.REFUND)
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
                % {"left": left, "currency": sale.currency}
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

    return _gateway_send(reversal, fresh=fresh, request=request)


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


def payment_void(*, payment_id: int, actor: Actor, reason: str = "") -> Payment:
    """Void the approved sale `payment_id` as a whole and return the void, an approved
    Payment whose original is the sale; the sale becomes voided.

    Same rules as payment_refund: key committed first, ReversalOutcomeUnknown when the
    answer did not come (asking again looks it up), ReversalDeclined on a decline. Refused,
    with nothing written or sent: a payment that is not an approved sale, a sale with a
    refund (refund the rest instead), a refund of the sale still being confirmed.
    """
    with transaction.atomic():
        sale = _lock_sale_to_reverse(payment_id, operation=PaymentOperation.VOID)
        in_flight = sale.reversals.filter(status__in=UNANSWERED_STATUSES).first()
        if in_flight is not None:
            if in_flight.operation != PaymentOperation.VOID or not payment_claim_for_sending(
                in_flight
            ):
                raise _in_flight_conflict(sale, in_flight)
            void, fresh = in_flight, False
        else:
            if payment_refunded_total(sale) > ZERO:
                raise Conflict(
                    _(
                        "Payment %(id)s was partly refunded and can no longer be voided: "
                        "refund what is left instead."
                    )
                    % {"id": sale.pk}
                )
            void = _reversal_create(
                sale=sale,
                operation=PaymentOperation.VOID,
                amount=sale.amount,
                actor=actor,
                reason=reason,
            )
            fresh = True
    answer = reversal_send(void, fresh=fresh)
    void = reversal_record_answer(reversal_id=void.pk, result=answer, actor=actor, reason=reason)
    return reversal_outcome(void)


# --- Settling payments whose answer was never recorded -------------------------------------


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
