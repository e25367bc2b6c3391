"""Which delivery mode a shipment goes by: its program event's, when the event names
one, otherwise its order's (docs/delivery.md)."""

from __future__ import annotations

from continuity.models import ProgramEvent
from orders.delivery import DeliveryMode


def delivery_mode_for(event: ProgramEvent, order_mode: DeliveryMode | None) -> DeliveryMode | None:
    """The event's own mode overrides the order's for that event's shipments.

    order_mode is the order's mode as it stands (None: the order names none, and the
    default mode applies, orders.delivery.delivery_mode_default)."""
    if event.delivery_mode_id is not None:
        return event.delivery_mode
    return order_mode
