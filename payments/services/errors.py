"""What a payment service raises when money did not move as asked."""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.errors import ServiceError
from payments.gateways.base import DeclineCode
from payments.models import Payment, PaymentOperation


class PaymentDeclined(ServiceError):
    """402 in the API, with the gateway's decline code; the order stays open."""

    code = "payment_declined"
    http_status = 402

    def __init__(self, payment: Payment):
        super().__init__(payment_decline_reason(payment))
        self.payment = payment

    def error_details(self) -> dict:
        return {"decline_code": self.payment.decline_code}


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
    """503 in the API: the gateway did not answer (nothing was stored); try again in a
    few seconds."""

    code = "gateway_unavailable"
    http_status = 503
    retry_after = 5


def payment_decline_reason(payment: Payment) -> str:
    try:
        return DeclineCode(payment.decline_code).reason
    except ValueError:
        return payment.message or _("The charge was declined.")


class ReversalDeclined(PaymentDeclined):
    code = "reversal_declined"

    def __init__(self, payment: Payment):
        ServiceError.__init__(
            self,
            _refused_reversal(payment.operation)
            % {"detail": payment.message or payment_decline_reason(payment)},
        )
        self.payment = payment


class ReversalOutcomeUnknown(PaymentOutcomeUnknown):
    code = "reversal_unknown"

    def __init__(self, payment: Payment):
        ServiceError.__init__(
            self,
            _unconfirmed_reversal(payment.operation),
        )
        self.payment = payment


# One whole sentence per operation, not an operation's label lowercased into a sentence:
# "le remboursement" and "l'invalidation" take their own article and gender in French.
def _refused_reversal(operation: str) -> str:
    if operation == PaymentOperation.VOID:
        return _("The payment service refused the void: %(detail)s")
    return _("The payment service refused the refund: %(detail)s")


def _unconfirmed_reversal(operation: str) -> str:
    if operation == PaymentOperation.VOID:
        return _(
            "The payment service did not confirm the void. Nothing more will be sent: ask "
            "for the same void again, or reconcile the payment, to check the outcome."
        )
    return _(
        "The payment service did not confirm the refund. Nothing more will be sent: ask "
        "for the same refund again, or reconcile the payment, to check the outcome."
    )
