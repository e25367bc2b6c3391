"""What an agent does for a customer who calls about a subscription (skip a shipment,
change its date, pause and resume, change the card or the ship-to address, cancel,
reactivate), and what a supervisor does about a payment hold: one module per family,
each action declared once in the registry of `base` (which says how to add one).

Every agent's action has a preview (what will be charged, refunded or shipped, and when;
nothing written) and the action itself, which takes a reason code from the list kept in
the admin and writes its audit entries through the status services, in one transaction.
Money moves (refunds, the retry of a new card) happen after that commit, with their keys
committed first, as everywhere.

Importing the package declares every action, in the order the subscription page lists
them.
"""

# Each family module declares its actions when imported; the import order is the order
# the subscription page lists them in, so it is not left to the import sorter.
# isort: off
from continuity.subscription_actions import shipments  # noqa: F401
from continuity.subscription_actions import pause  # noqa: F401
from continuity.subscription_actions import card_and_ship_to  # noqa: F401
from continuity.subscription_actions import cancel  # noqa: F401
from continuity.subscription_actions import holds  # noqa: F401

# isort: on
from continuity.subscription_actions.base import (
    Argument,
    Effect,
    Preview,
    SubscriptionAction,
    UnknownAction,
    action_get,
    action_register,
    actions_all,
)

__all__ = [
    "Argument",
    "Effect",
    "Preview",
    "SubscriptionAction",
    "UnknownAction",
    "action_get",
    "action_register",
    "actions_all",
]
