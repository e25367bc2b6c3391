from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Count, Prefetch, Q, Sum, Value, When
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    PAYMENT_JOB_STATUSES,
    ContinuityParameters,
    ContinuityProgram,
    HoldReason,
    MoneyAudit,
    Occurrence,
    OccurrenceStatus,
    ProgramEvent,
    Subscription,
    SubscriptionStatus,
)
from continuity.refunds import refunds_owed
from continuity.scheduling import (
    EventAction,
    EventSpec,
    IntervalUnit,
    ProgramDefinitionError,
    first_shipment_date,
    is_open_ended,
    plan_shipments,
    validate_program,
)
from core.money import CENT, ZERO
from payments.models import Payment
from payments.selectors import payment_unanswered_list


@dataclass(frozen=True)
class PlannedLine:
    item_id: int
    item_number: str
    item_name: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class ProgramPlan:
    """A program frozen as it was sold: its rules, events and priced lines (for one unit).

    A subscription keeps its plan (Subscription.plan), so that later edits of the program,
    its events or its prices never change what was sold; open-ended subscriptions plan
    their later shipments from it.
    """

    code: str
    name: str
    bill_up_front: bool
    days_to_first_shipment: int
    prompt_for_start_date: bool
    consolidate: bool
    events: tuple[EventSpec, ...]
    lines: dict[int, tuple[PlannedLine, ...]]  # by event number

    @classmethod
    def of_program(cls, program: ContinuityProgram) -> ProgramPlan:
        """The plan of a program fetched with program_get_for_quote."""
        events = list(program.events.all())
        return cls(
            code=program.code,
            name=program.name,
            bill_up_front=program.bill_up_front,
            days_to_first_shipment=program.days_to_first_shipment,
            prompt_for_start_date=program.prompt_for_start_date,
            consolidate=program.consolidate,
            events=tuple(event.as_spec() for event in events),
            lines={
                event.event_number: tuple(
                    PlannedLine(
                        item_id=line.item_id,
                        item_number=line.item.item_number,
                        item_name=line.item.name,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                    )
                    for line in event.lines.all()
                )
                for event in events
            },
        )

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "bill_up_front": self.bill_up_front,
            "days_to_first_shipment": self.days_to_first_shipment,
            "prompt_for_start_date": self.prompt_for_start_date,
            "consolidate": self.consolidate,
            "events": [
                {
                    "event_number": event.event_number,
                    "interval_count": event.interval_count,
                    "interval_unit": event.interval_unit.value,
                    "repeat_count": event.repeat_count,
                    "action": event.action.value,
                    "lines": [
                        {
                            "item_id": line.item_id,
                            "item_number": line.item_number,
                            "item_name": line.item_name,
                            "quantity": line.quantity,
                            "unit_price": str(line.unit_price),
                        }
                        for line in self.lines.get(event.event_number, ())
                    ],
                }
                for event in self.events
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> ProgramPlan:
        events = data["events"]
        return cls(
            code=data["code"],
            name=data["name"],
            bill_up_front=data["bill_up_front"],
            days_to_first_shipment=data["days_to_first_shipment"],
            prompt_for_start_date=data["prompt_for_start_date"],
            consolidate=data["consolidate"],
            events=tuple(
                EventSpec(
                    event_number=event["event_number"],
                    interval_count=event["interval_count"],
                    interval_unit=IntervalUnit(event["interval_unit"]),
                    repeat_count=event["repeat_count"],
                    action=EventAction(event["action"]),
                )
                for event in events
            ),
            lines={
                event["event_number"]: tuple(
                    PlannedLine(
                        item_id=line["item_id"],
                        item_number=line["item_number"],
                        item_name=line["item_name"],
                        quantity=line["quantity"],
                        unit_price=Decimal(line["unit_price"]),
                    )
                    for line in event["lines"]
                )
                for event in events
            },
        )


@dataclass(frozen=True)
class PlannedOccurrence:
    sequence: int
    event_number: int
    ship_date: datetime.date
    lines: tuple[PlannedLine, ...]

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class ProgramQuote:
    """What selling a program on a given start date means: shipments, amounts, due now."""

    program: ProgramPlan
    quantity: int
    start_date: datetime.date
    first_shipment_date: datetime.date
    open_ended: bool
    # Every shipment of a finite program; of an open-ended one, those up to the horizon.
    occurrences: tuple[PlannedOccurrence, ...]
    planned_through: datetime.date | None

    @property
    def first_shipment_amount(self) -> Decimal:
        return self.occurrences[0].amount

    @property
    def program_total(self) -> Decimal | None:
        """The value of the whole program; None when it runs until cancelled."""
        if self.open_ended:
            return None
        return sum((occurrence.amount for occurrence in self.occurrences), ZERO)

    @property
    def due_now(self) -> Decimal:
        """Charged at submit: the whole program billed up front, else the first shipment."""
        if self.program.bill_up_front:
            return self.program_total
        return self.first_shipment_amount


def program_get_for_quote(*, program_id: int) -> ContinuityProgram:
    return ContinuityProgram.objects.prefetch_related(
        Prefetch(
            "events",
            queryset=ProgramEvent.objects.order_by("event_number").prefetch_related("lines__item"),
        )
    ).get(pk=program_id)


def plan_occurrences(
    *,
    plan: ProgramPlan,
    first_shipment: datetime.date,
    quantity: int,
    through: datetime.date | None,
) -> list[PlannedOccurrence]:
    """The shipments of a plan with their lines (scaled by quantity) and amounts."""
    try:
        shipments = plan_shipments(
            first_shipment=first_shipment, events=plan.events, through=through
        )
    except ProgramDefinitionError as error:
        raise ValidationError(
            _("Continuity program %(code)s cannot be sold: %(problem)s")
            % {"code": plan.code, "problem": error}
        ) from error
    occurrences = []
    for shipment in shipments:
        lines = tuple(
            PlannedLine(
                item_id=line.item_id,
                item_number=line.item_number,
                item_name=line.item_name,
                quantity=line.quantity * quantity,
                unit_price=line.unit_price,
            )
            for line in plan.lines.get(shipment.event_number, ())
        )
        if not lines:
            raise ValidationError(
                _("Continuity program %(code)s cannot be sold: event %(event)d has no lines.")
                % {"code": plan.code, "event": shipment.event_number}
            )
        occurrence = PlannedOccurrence(
            shipment.sequence, shipment.event_number, shipment.ship_date, lines
        )
        if occurrence.amount <= ZERO:
            # Every shipment is paid by its own charge (or the up-front one), and a
            # gateway charge is never of zero.
            raise ValidationError(
                _("Continuity program %(code)s cannot be sold: event %(event)d has no price.")
                % {"code": plan.code, "event": shipment.event_number}
            )
        occurrences.append(occurrence)
    return occurrences


def horizon_date(*, run_date: datetime.date) -> datetime.date:
    """How far ahead open-ended subscriptions have their shipments planned."""
    days = ContinuityParameters.load().materialisation_horizon_days
    return run_date + datetime.timedelta(days=days)


def program_quote(
    *,
    program: ContinuityProgram | ProgramPlan,
    start_date: datetime.date,
    quantity: int = 1,
    horizon_from: datetime.date | None = None,
) -> ProgramQuote:
    """Plan a program from a start date. Open-ended programs are planned up to the
    materialisation horizon counted from `horizon_from` (default: the start date).

    A ContinuityProgram should come from program_get_for_quote (events and lines
    prefetched).
    """
    plan = program if isinstance(program, ProgramPlan) else ProgramPlan.of_program(program)
    try:
        validate_program(bill_up_front=plan.bill_up_front, events=plan.events)
    except ProgramDefinitionError as error:
        raise ValidationError(
            _("Continuity program %(code)s cannot be sold: %(problem)s")
            % {"code": plan.code, "problem": error}
        ) from error
    open_ended = is_open_ended(plan.events)
    first = first_shipment_date(start_date, plan.days_to_first_shipment)
    through = None
    if open_ended:
        # The first shipment is always planned, however far away it is.
        through = max(horizon_date(run_date=horizon_from or start_date), first)
    occurrences = plan_occurrences(
        plan=plan, first_shipment=first, quantity=quantity, through=through
    )
    return ProgramQuote(
        program=plan,
        quantity=quantity,
        start_date=start_date,
        first_shipment_date=first,
        open_ended=open_ended,
        occurrences=tuple(occurrences),
        planned_through=through,
    )


# --- What the batch jobs have to do ----------------------------------------------------


class NotCreatedReason(models.TextChoices):
    """Why a due shipment got no child order (the run summary counts each)."""

    AWAITING_PAYMENT = "awaiting_payment", gettext_lazy("awaiting payment")
    PAYMENT_DECLINED = "payment_declined", gettext_lazy("payment declined")
    CARD_EXPIRED = "card_expired", gettext_lazy("card expired")
    ON_HOLD = "on_hold", gettext_lazy("on hold")
    LIMIT_REACHED = "limit_reached", gettext_lazy("run limit reached")
    ERROR = "error", gettext_lazy("error")


def _scoped(occurrences, *, item_id: int | None, parent_order_id: int | None):
    if item_id is not None:
        occurrences = occurrences.filter(subscription__item_id=item_id)
    if parent_order_id is not None:
        occurrences = occurrences.filter(subscription__parent_order_id=parent_order_id)
    return occurrences


def occurrences_due_for_payment(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
):
    """Shipments the payment job takes on run_date: those of an active subscription still
    to be charged, whose ship date minus the payment lead days has come and whose next
    retry (if any) is due; and every shipment whose charge is in flight (charging, or
    its answer unknown), whatever its subscription's state or date, since settling a
    charge already sent is not a new charge."""
    parameters = ContinuityParameters.load()
    latest_ship_date = run_date + datetime.timedelta(days=parameters.payment_lead_days)
    awaiting = Q(
        subscription__status=SubscriptionStatus.ACTIVE,
        status__in=AWAITING_CHARGE,
        ship_date__lte=latest_ship_date,
    ) & (Q(next_payment_attempt_on__isnull=True) | Q(next_payment_attempt_on__lte=run_date))
    occurrences = Occurrence.objects.filter(awaiting | Q(status__in=CHARGE_IN_FLIGHT))
    return _scoped(occurrences, item_id=item_id, parent_order_id=parent_order_id).order_by(
        "ship_date", "pk"
    )


def _child_order_window(run_date: datetime.date) -> datetime.date:
    parameters = ContinuityParameters.load()
    return run_date + datetime.timedelta(days=parameters.child_order_lead_days)


def occurrences_due_for_child_orders(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
):
    """Paid shipments of active subscriptions whose ship date minus the child-order lead
    days has come and that have no child order yet."""
    occurrences = Occurrence.objects.filter(
        subscription__status=SubscriptionStatus.ACTIVE,
        status=OccurrenceStatus.PAID,
        child_order__isnull=True,
        ship_date__lte=_child_order_window(run_date),
    )
    return _scoped(occurrences, item_id=item_id, parent_order_id=parent_order_id).order_by(
        "ship_date", "pk"
    )


def occurrences_not_ready_for_child_orders(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
) -> list[tuple[int, str]]:
    """Due shipments that cannot become child orders, each with its reason."""
    reason = Case(
        When(
            subscription__status=SubscriptionStatus.ON_HOLD,
            subscription__hold_reason=HoldReason.CARD_EXPIRED,
            then=Value(NotCreatedReason.CARD_EXPIRED),
        ),
        When(subscription__status=SubscriptionStatus.ON_HOLD, then=Value(NotCreatedReason.ON_HOLD)),
        When(
            status=OccurrenceStatus.PAYMENT_DECLINED, then=Value(NotCreatedReason.PAYMENT_DECLINED)
        ),
        default=Value(NotCreatedReason.AWAITING_PAYMENT),
        output_field=models.CharField(),
    )
    occurrences = Occurrence.objects.filter(
        subscription__status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.ON_HOLD],
        child_order__isnull=True,
        ship_date__lte=_child_order_window(run_date),
    ).filter(
        Q(status__in=PAYMENT_JOB_STATUSES)
        | Q(status=OccurrenceStatus.PAID, subscription__status=SubscriptionStatus.ON_HOLD)
    )
    occurrences = _scoped(occurrences, item_id=item_id, parent_order_id=parent_order_id)
    return list(occurrences.annotate(reason=reason).order_by("pk").values_list("pk", "reason"))


def subscriptions_to_plan(
    *, through: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
) -> list[int]:
    """Active open-ended subscriptions whose shipments are not planned up to `through`."""
    subscriptions = Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE, open_ended=True
    ).filter(Q(planned_through__isnull=True) | Q(planned_through__lt=through))
    if item_id is not None:
        subscriptions = subscriptions.filter(item_id=item_id)
    if parent_order_id is not None:
        subscriptions = subscriptions.filter(parent_order_id=parent_order_id)
    return list(subscriptions.order_by("pk").values_list("pk", flat=True))


def occurrences_in_payment_trouble(*, limit: int = 200):
    """Shipments whose charge was declined (of subscriptions still running: active or on
    hold) or has an unknown outcome (whatever the subscription's state: an unknown charge
    is settled even on a paused or cancelled subscription): the payment exceptions a
    supervisor works."""
    return (
        Occurrence.objects.filter(
            Q(
                status=OccurrenceStatus.PAYMENT_DECLINED,
                subscription__status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.ON_HOLD],
            )
            | Q(status=OccurrenceStatus.PAYMENT_UNKNOWN)
        )
        .select_related(
            "subscription__customer", "subscription__parent_order", "subscription__card"
        )
        .order_by("ship_date", "pk")[:limit]
    )


def subscriptions_on_hold(*, limit: int = 200):
    return (
        Subscription.objects.filter(status=SubscriptionStatus.ON_HOLD)
        .select_related("customer", "parent_order", "card", "program")
        .order_by("pk")[:limit]
    )


# --- Programs and subscriptions as the API reads them ------------------------------------


def program_list():
    return ContinuityProgram.objects.order_by("code")


def program_get(*, code: str) -> ContinuityProgram:
    """A program with its events, their lines and the items that sell it."""
    return ContinuityProgram.objects.prefetch_related(
        Prefetch(
            "events",
            queryset=ProgramEvent.objects.order_by("event_number").prefetch_related("lines__item"),
        ),
        "items",
    ).get(code=code)


def subscription_list(*, customer_account: str | None = None, status: str | None = None):
    subscriptions = Subscription.objects.select_related(
        "customer", "program", "item", "parent_order", "card"
    ).order_by("-id")
    if customer_account:
        subscriptions = subscriptions.filter(customer__account_number=customer_account)
    if status:
        subscriptions = subscriptions.filter(status=status)
    return subscriptions


def subscription_get(*, subscription_id: int) -> Subscription:
    """A subscription with its shipments (lines, payment, child order), every payment
    made for it (`payment_rows`: the sale at submit, each shipment's charges, their
    refunds and voids) and its child orders (`child_order_rows`), in a fixed number of
    queries."""
    subscription = (
        Subscription.objects.select_related(
            "customer", "program", "item", "parent_order", "card", "payment_method", "ship_to"
        )
        .prefetch_related(
            Prefetch(
                "occurrences",
                queryset=Occurrence.objects.select_related("child_order", "payment")
                .prefetch_related("lines__item")
                .order_by("sequence"),
            )
        )
        .get(pk=subscription_id)
    )
    subscription.payment_rows = list(
        Payment.objects.filter(
            Q(occurrence__subscription=subscription)
            | Q(paid_occurrences__subscription=subscription)
            | Q(original__occurrence__subscription=subscription)
            | Q(original__paid_occurrences__subscription=subscription)
        )
        .distinct()
        .select_related("method", "card", "sales_order")
        .order_by("id")
    )
    child_orders = {
        occurrence.child_order.pk: occurrence.child_order
        for occurrence in subscription.occurrences.all()
        if occurrence.child_order is not None
    }
    subscription.child_order_rows = sorted(child_orders.values(), key=lambda order: order.pk)
    return subscription


def subscription_page_get(*, subscription_id: int) -> Subscription:
    """A subscription with what its page shows: shipments, their payments and child
    orders, the customer's cards and addresses (a fixed number of queries)."""
    return (
        Subscription.objects.select_related(
            "customer", "parent_order", "program", "item", "card", "ship_to", "payment_method"
        )
        .prefetch_related(
            "customer__cards",
            "customer__addresses",
            Prefetch(
                "occurrences",
                queryset=Occurrence.objects.select_related("child_order", "payment").order_by(
                    "sequence"
                ),
            ),
            Prefetch(
                "occurrences__payments",
                queryset=Payment.objects.select_related("card").order_by("id"),
            ),
        )
        .get(pk=subscription_id)
    )


@dataclass(frozen=True)
class ForecastDay:
    day: datetime.date
    charges: int
    charge_amount: Decimal
    shipments: int
    shipment_amount: Decimal


def forecast(
    *, start: datetime.date, days: int = 60, item_id: int | None = None
) -> list[ForecastDay]:
    """Charges and shipments expected per day from `start`, for `days` days.

    A shipment not yet paid is charged on its ship date minus the payment lead days (a
    declined one on its next attempt; one already overdue, on the start day); a shipment
    ships on its ship date. Subscriptions that are not active are left out: nothing is
    charged or sent for them until an agent acts.
    """
    end = start + datetime.timedelta(days=days - 1)
    lead = datetime.timedelta(days=ContinuityParameters.load().payment_lead_days)
    running = Occurrence.objects.filter(subscription__status=SubscriptionStatus.ACTIVE)
    if item_id is not None:
        running = running.filter(subscription__item_id=item_id)
    charges: dict[datetime.date, list] = {}
    to_charge = running.filter(
        status__in=PAYMENT_JOB_STATUSES,
        ship_date__lte=end + lead,
    )
    for ship_date, retry_on, count, amount in (
        to_charge.values("ship_date", "next_payment_attempt_on")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .values_list("ship_date", "next_payment_attempt_on", "count", "amount")
    ):
        day = max(retry_on or ship_date - lead, start)
        if day <= end:
            totals = charges.setdefault(day, [0, ZERO])
            totals[0] += count
            totals[1] += amount
    shipments = {
        ship_date: (count, amount)
        for ship_date, count, amount in running.filter(ship_date__range=(start, end))
        .exclude(status__in=[OccurrenceStatus.SKIPPED, OccurrenceStatus.CANCELLED])
        .values("ship_date")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .values_list("ship_date", "count", "amount")
    }
    result = []
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        charge_count, charge_amount = charges.get(day, (0, ZERO))
        shipment_count, shipment_amount = shipments.get(day, (0, ZERO))
        result.append(
            ForecastDay(day, charge_count, charge_amount, shipment_count, shipment_amount)
        )
    return result


@dataclass(frozen=True)
class PaymentExceptions:
    """Everything a supervisor works on the payment exceptions page (and the API)."""

    occurrences: list[Occurrence]
    holds: list[Subscription]
    orders_unanswered: list
    refunds_owed: list
    money_audit: MoneyAudit | None


def payment_exceptions_list(*, limit: int = 200) -> PaymentExceptions:
    orders_unanswered = (
        payment_unanswered_list(older_than=datetime.timedelta(seconds=60))
        .filter(occurrence__isnull=True, operation="sale")
        .select_related("sales_order__customer")[:limit]
    )
    owed = list(
        refunds_owed().select_related(
            "occurrence__subscription__customer",
            "occurrence__subscription__parent_order",
            "payment",
        )[:limit]
    )
    for allocation in owed:
        # In Python: SQLite hands the subtraction back as a float.
        allocation.owed = (allocation.amount - Decimal(allocation.refunded)).quantize(CENT)
    return PaymentExceptions(
        occurrences=list(occurrences_in_payment_trouble(limit=limit)),
        holds=list(subscriptions_on_hold(limit=limit)),
        orders_unanswered=list(orders_unanswered),
        refunds_owed=owed,
        money_audit=MoneyAudit.objects.order_by("-id").first(),
    )
