"""Deterministic test cards of the simulator. Any other valid number is approved, so the
usual demo numbers (4111 1111 1111 1111, 4242 4242 4242 4242, 5555 5555 5555 4444)
behave like a customer's good card. docs/simulator.md shows this table."""

import enum


class Behaviour(enum.StrEnum):
    APPROVE = "approve"
    SOFT_DECLINE = "soft_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    EXPIRED_CARD = "expired_card"
    PROCESSING_ERROR = "processing_error"
    TIMEOUT_AFTER_CHARGE = "timeout_after_charge"
    TIMEOUT_BEFORE_CHARGE = "timeout_before_charge"
    APPROVE_AFTER_DECLINES = "approve_after_declines"


# How many sales an APPROVE_AFTER_DECLINES card declines before it approves.
DECLINES_BEFORE_APPROVAL = 2

TEST_CARDS: dict[str, tuple[Behaviour, str]] = {
    "4000000000000002": (Behaviour.SOFT_DECLINE, "Declined, do not honor (soft: retried)"),
    "4000000000009995": (Behaviour.INSUFFICIENT_FUNDS, "Declined, insufficient funds (soft)"),
    "4000000000009987": (Behaviour.LOST_CARD, "Declined, lost card (hard: subscription on hold)"),
    "4000000000009979": (Behaviour.STOLEN_CARD, "Declined, stolen card (hard)"),
    "4000000000000069": (Behaviour.EXPIRED_CARD, "Declined, expired card (hard)"),
    "4000000000000119": (Behaviour.PROCESSING_ERROR, "Declined, processing error (soft)"),
    "4000000000000259": (
        Behaviour.TIMEOUT_AFTER_CHARGE,
        "Charged, but the answer times out: outcome unknown until looked up "
        "(refunds and voids of its sales too)",
    ),
    "4000000000000267": (
        Behaviour.TIMEOUT_BEFORE_CHARGE,
        "Times out before charging; the next request with the same key goes through "
        "(refunds and voids of its sales too)",
    ),
    "4000000000000309": (
        Behaviour.APPROVE_AFTER_DECLINES,
        f"Declines {DECLINES_BEFORE_APPROVAL} sales (soft), then approves",
    ),
}


def behaviour_of(number: str) -> Behaviour:
    return TEST_CARDS.get(number, (Behaviour.APPROVE, ""))[0]
