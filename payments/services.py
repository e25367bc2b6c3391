"""Cards and money movement.

The one rule every function here keeps: a gateway call is made with an idempotency key
that is already committed in a Payment row, and never inside an open transaction. A
process that dies after the gateway answered leaves that row pending; the next attempt
looks the key up instead of charging again.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

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
from orders.models import SalesOrderStatus
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
    """A pending sale with its idempotency key. The caller holds the transaction and the
    lock on the order or occurrence, and calls the gateway only after it commits."""
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
    with the same key, so the gateway itself can never charge it twice.
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


def _gateway_lookup(payment: Payment) -> tuple[bool, GatewayResult | None]:
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
        answered, result = _gateway_lookup(payment)
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

    Idempotent: a payment whose answer is already recorded is returned as it is.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN):
            return payment
        if result is None:
            if payment.status == PaymentStatus.PENDING:
                payment_set_status(payment=payment, to_status=PaymentStatus.UNKNOWN, actor=actor)
            return payment
        payment.gateway_reference = result.reference
        payment.answered_at = timezone.now()
        payment.message = result.message[:255]
        fields = ("gateway_reference", "answered_at", "message")
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


def _refunded_total(sale: Payment) -> Decimal:
    total = sale.reversals.filter(
        operation=PaymentOperation.REFUND, status=PaymentStatus.APPROVED
    ).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def _reversal_create(
    *,
    sale: Payment,
    operation: str,
    amount: Decimal,
    actor: Actor,
    reason: str,
    occurrence_id: int | None = None,
) -> Payment:
    """A pending refund or void of `sale` with its key (caller holds the sale's lock).
    `occurrence_id`: the shipment a refund is for, when the sale paid several (the sale
    taken at submit, or a program billed up front)."""
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


def _reversal_record_answer(
    *, reversal_id: int, result: GatewayResult | None, actor: Actor, reason: str = ""
) -> Payment:
    """Record the gateway's answer to a refund or void and, once the sale is wholly
    refunded or voided, move the sale there: both in one transaction."""
    with transaction.atomic():
        original_id = Payment.objects.values_list("original_id", flat=True).get(pk=reversal_id)
        # Lock order everywhere: the sale, then its reversal.
        sale = Payment.objects.select_for_update().get(pk=original_id)
        reversal = payment_record_answer(payment_id=reversal_id, result=result, actor=actor)
        if reversal.status != PaymentStatus.APPROVED or sale.status != PaymentStatus.APPROVED:
            return reversal
        if reversal.operation == PaymentOperation.VOID:
            to_status = PaymentStatus.VOIDED
        elif _refunded_total(sale) >= sale.amount:
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


def _reversal_outcome(reversal: Payment) -> Payment:
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
    sale still being confirmed (Conflict). `occurrence_id` records which shipment the
    refund is for, when the sale paid several.
    """
    requested = _reversal_amount(amount)
    with transaction.atomic():
        sale = _lock_sale_to_reverse(payment_id, operation=PaymentOperation.REFUND)
        left = sale.amount - _refunded_total(sale)
        wanted = left if requested is None else requested
        in_flight = sale.reversals.filter(status__in=UNANSWERED_STATUSES).first()
        if in_flight is not None:
            # The same request again is a retry of the refund in flight: it reuses its key.
            if in_flight.operation != PaymentOperation.REFUND or in_flight.amount != wanted:
                raise _in_flight_conflict(sale, in_flight)
            refund, fresh = in_flight, False
        else:
            if not ZERO < wanted <= left:
                raise ValidationError(
                    {
                        "amount": _(
                            "At most %(left)s %(currency)s of this payment can still be refunded."
                        )
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
            fresh = True
    answer = _gateway_send(
        refund,
        fresh=fresh,
        request=lambda gateway: gateway.refund(
            reference=sale.gateway_reference,
            amount=refund.amount,
            currency=refund.currency,
            idempotency_key=refund.idempotency_key,
        ),
    )
    refund = _reversal_record_answer(
        reversal_id=refund.pk, result=answer, actor=actor, reason=reason
    )
    return _reversal_outcome(refund)


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
            if in_flight.operation != PaymentOperation.VOID:
                raise _in_flight_conflict(sale, in_flight)
            void, fresh = in_flight, False
        else:
            if _refunded_total(sale) > ZERO:
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
    answer = _gateway_send(
        void,
        fresh=fresh,
        request=lambda gateway: gateway.void(
            reference=sale.gateway_reference, idempotency_key=void.idempotency_key
        ),
    )
    void = _reversal_record_answer(reversal_id=void.pk, result=answer, actor=actor, reason=reason)
    return _reversal_outcome(void)


# --- Reconciliation -----------------------------------------------------------------------


def payment_reconcile(*, payment_id: int, actor: Actor) -> Payment:
    """Settle a payment whose answer was never recorded (pending: the process died;
    unknown: the gateway did not answer) from what the gateway says about its key.

    The sale taken when an order is submitted is finished by the order's own submit, which
    looks the key up, sends it again under the same key only if the gateway never saw it,
    and on approval submits the order and starts its subscriptions in the same
    transaction. Any other payment is only looked up: the answer is recorded with what
    follows from it (a shipment's charge through the payment job's own recording step, so
    the shipment becomes paid, or declined with its retry date, as if the job had got the
    answer; a refund or void with its effect on the sale). A key the gateway never saw, or
    a look-up without an answer, leaves the payment unknown. A payment already answered
    is returned as it is.
    """
    payment = Payment.objects.select_related("sales_order").filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(_("Payment %(id)s does not exist.") % {"id": payment_id})
    if payment.status not in UNANSWERED_STATUSES:
        return payment
    if (
        payment.operation == PaymentOperation.SALE
        and payment.occurrence_id is None
        and payment.sales_order.status == SalesOrderStatus.OPEN
    ):
        # orders.services imports this module; importing it here keeps the cycle out of
        # import time. The order's submit owns "approved sale => submitted order".
        from orders.services import sales_order_submit

        # A decline or a missing answer is recorded on the payment returned below.
        with contextlib.suppress(PaymentDeclined, PaymentOutcomeUnknown):
            sales_order_submit(order_id=payment.sales_order_id, actor=actor)
        payment.refresh_from_db()
        return payment
    _answered, result = _gateway_lookup(payment)
    if payment.operation != PaymentOperation.SALE:
        return _reversal_record_answer(reversal_id=payment.pk, result=result, actor=actor)
    if payment.occurrence_id is None:
        return payment_record_answer(payment_id=payment.pk, result=result, actor=actor)
    # Recorded alone, an approved charge would leave its shipment waiting for an answer
    # that already came; continuity.services imports this module, hence the late import.
    from continuity.services import PreparedCharge, occurrences_charge_record

    [recorded] = occurrences_charge_record(
        answers=[(PreparedCharge(payment.occurrence_id, payment, fresh=False), result)],
        run_date=business_date(),
        actor=actor,
    )
    if recorded.outcome == "error":
        raise Conflict(
            _("The answer to payment %(id)s could not be recorded: %(detail)s")
            % {"id": payment.pk, "detail": recorded.detail}
        )
    payment.refresh_from_db()
    return payment
