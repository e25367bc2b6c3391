"""Step 2 of a charge: the gateway call, outside any transaction."""

from __future__ import annotations

from continuity.charging.outcomes import PreparedCharge
from payments.gateways.base import GatewayResult
from payments.models import PaymentStatus
from payments.services import payment_sale_send


def charge_send(charge: PreparedCharge) -> GatewayResult | None:
    """Step 2, outside any transaction: the gateway's answer, or None if none came. A sale
    whose approval is recorded already (but not on its shipment) needs no call."""
    if charge.payment.status == PaymentStatus.APPROVED:
        return None
    return payment_sale_send(charge.payment, fresh=charge.fresh)
