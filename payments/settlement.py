"""Who settles a sale whose answer was never recorded.

payments knows how to ask the gateway about a key and how to send it again; what an
approved sale means (an order submitted, a shipment paid) belongs to the app that made
the sale, which sits above payments. Each such app registers a settler here from its
AppConfig.ready(), and payment_reconcile hands it the sales it claims, instead of
payments importing the apps above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from payments.models import Payment


@dataclass(frozen=True)
class Settler:
    name: str
    # Whether this settler finishes `payment` (a pending or unknown payment).
    handles: Callable[[Payment], bool]
    # Look the key up, send it again if the gateway never saw it, record the answer and
    # what follows from it; returns the payment as recorded.
    settle: Callable[..., Payment]


_SETTLERS: dict[str, Settler] = {}


def settler_register(settler: Settler) -> None:
    """Register (or replace, on a second ready()) the settler called `settler.name`."""
    _SETTLERS[settler.name] = settler


def settler_for(payment: Payment) -> Settler | None:
    for settler in _SETTLERS.values():
        if settler.handles(payment):
            return settler
    return None
