"""Charging shipments: the payment job's work, "retry now", a card change's retry, and the
settling of a charge whose answer was never recorded.

A charge is three steps, and only the first and the last hold locks:

1. prepare (charges_prepare): under the subscription's and the shipment's row locks,
   commit a pending sale with its idempotency key and move the shipment to `charging`;
   or pick up the sale an earlier attempt left in flight, claiming its key for sending.
2. send (charge_send): the gateway call, outside any transaction.
3. record (charges_record): under the same locks, record the answer and what follows
   from it: paid (with the sale's allocation to the shipment), declined (with the next
   attempt, or a hold), unknown.

While the shipment is `charging` or `payment_unknown`, no agent, supervisor or other run
can skip, cancel or move it (docs/money.md): only the answer to its sale moves it on.
"""

from continuity.charging.on_demand import (
    is_shipment_sale,
    occurrence_charge_settle,
    occurrences_charge_now,
)
from continuity.charging.outcomes import (
    ChargeOutcome,
    ChargePreparation,
    ChargeResult,
    PreparedCharge,
)
from continuity.charging.prepare import charges_prepare
from continuity.charging.record import charges_record
from continuity.charging.send import charge_send

__all__ = [
    "ChargeOutcome",
    "ChargePreparation",
    "ChargeResult",
    "PreparedCharge",
    "charge_send",
    "charges_prepare",
    "charges_record",
    "is_shipment_sale",
    "occurrence_charge_settle",
    "occurrences_charge_now",
]
