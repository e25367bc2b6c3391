"""Cards and money movement.

The one rule every function here keeps: a gateway call is made with an idempotency key
that is already committed in a Payment row, and never inside an open transaction. A
process that dies after the gateway answered leaves that row pending; the next attempt
looks the key up instead of charging again.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.dates import business_date
from core.errors import ServiceError
from core.services import audit_record, status_change
from payments.gateways import cardnumbers, get_gateway
from payments.gateways.base import (
    CardDetails,
    CardRejected,
    DeclineCode,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
)
from payments.models import (
    PAYMENT_STATUS,
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
) -> Payment:
    """The one way a payment changes status (caller holds the transaction and the lock)."""
    status_change(
        payment,
        machine=PAYMENT_STATUS,
        to_status=to_status,
        actor=actor,
        customer_id=payment.customer_id,
        reason=reason,
        details={"gateway_reference": payment.gateway_reference, "key": payment.idempotency_key},
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
    gateway = get_gateway()
    try:
        result = None if fresh else gateway.lookup(payment.idempotency_key)
        if result is None:
            result = gateway.sale(
                token=payment.card.token,
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=payment.idempotency_key,
            )
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
    return result


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
