"""The continuity app's models, one module per family; every name is importable from
`continuity.models` as before."""

from continuity.models.money_audit import MoneyAudit
from continuity.models.occurrence import (
    AWAITING_CHARGE,
    CHANGEABLE,
    CHARGE_IN_FLIGHT,
    CHARGE_KEPT,
    NOT_SENT,
    OCCURRENCE_STATUS,
    PAYMENT_JOB_STATUSES,
    SETTLED,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    PaymentAllocation,
)
from continuity.models.parameters import ChildOrderRelease, ContinuityParameters
from continuity.models.problems import ShipmentProblem
from continuity.models.program import ContinuityProgram, ProgramEvent, ProgramEventLine
from continuity.models.subscription import (
    ENDED_SUBSCRIPTIONS,
    RUNNING_SUBSCRIPTIONS,
    SUBSCRIPTION_STATUS,
    HoldReason,
    ReasonCode,
    Subscription,
    SubscriptionStatus,
)

__all__ = [
    "AWAITING_CHARGE",
    "CHANGEABLE",
    "CHARGE_IN_FLIGHT",
    "CHARGE_KEPT",
    "ENDED_SUBSCRIPTIONS",
    "NOT_SENT",
    "OCCURRENCE_STATUS",
    "PAYMENT_JOB_STATUSES",
    "RUNNING_SUBSCRIPTIONS",
    "SETTLED",
    "SUBSCRIPTION_STATUS",
    "ChildOrderRelease",
    "ContinuityParameters",
    "ContinuityProgram",
    "HoldReason",
    "MoneyAudit",
    "Occurrence",
    "OccurrenceLine",
    "OccurrenceStatus",
    "PaymentAllocation",
    "ProgramEvent",
    "ProgramEventLine",
    "ReasonCode",
    "ShipmentProblem",
    "Subscription",
    "SubscriptionStatus",
]
