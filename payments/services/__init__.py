"""Cards and money movement, one module per family (cards, sales, reversals, reconcile,
and the sending of a key that they share); the names other apps use are importable from
`payments.services`.

The one rule every function here keeps: a gateway call is made with an idempotency key
that is already committed in a Payment row, and never inside an open transaction. A
process that dies after the gateway answered leaves that row pending; the next attempt
looks the key up instead of charging again.
"""

from payments.services.cards import card_add
from payments.services.errors import (
    GatewayUnavailable,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    ReversalDeclined,
    ReversalOutcomeUnknown,
)
from payments.services.reconcile import payment_reconcile, payment_settle
from payments.services.reversals import (
    payment_refund,
    refund_prepare,
    reversal_outcome,
    reversal_record_answer,
    reversal_send,
)
from payments.services.sales import payment_sale_create, payment_sale_send, payment_sales_create
from payments.services.sending import (
    payment_claim_for_sending,
    payment_claim_for_settling,
    payment_lookup,
    payment_record_answer,
    payment_settling_claim_held,
    payments_record_approvals,
)

__all__ = [
    "GatewayUnavailable",
    "PaymentDeclined",
    "PaymentOutcomeUnknown",
    "ReversalDeclined",
    "ReversalOutcomeUnknown",
    "card_add",
    "payment_claim_for_sending",
    "payment_claim_for_settling",
    "payment_lookup",
    "payment_reconcile",
    "payment_record_answer",
    "payment_refund",
    "payment_sale_create",
    "payment_sale_send",
    "payment_sales_create",
    "payment_settle",
    "payment_settling_claim_held",
    "payments_record_approvals",
    "refund_prepare",
    "reversal_outcome",
    "reversal_record_answer",
    "reversal_send",
]
