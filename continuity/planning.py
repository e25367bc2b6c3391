"""A program as it is sold and planned: the plan frozen on a subscription (ProgramPlan),
its planned shipments and the quote that order entry shows (ProgramQuote). The date
rules themselves are in continuity/scheduling.py; this module puts prices and lines on
them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from continuity.models import (
    ContinuityParameters,
    ContinuityProgram,
    ProgramEvent,
)
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
from core.money import ZERO
from core.read_once import ReadOnce


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
    # The delivery mode an event names for its shipments, by event number (an event that
    # names none is missing: its shipments go by the order's mode).
    delivery_modes: dict[int, int] = field(default_factory=dict)

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
            delivery_modes={
                event.event_number: event.delivery_mode_id
                for event in events
                if event.delivery_mode_id is not None
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
            "delivery_modes": {str(number): mode for number, mode in self.delivery_modes.items()},
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
            # Plans sold before events named delivery modes have none.
            delivery_modes={
                int(number): mode for number, mode in data.get("delivery_modes", {}).items()
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


# Within programs_read_once(): each program read, by id.
_programs_read = ReadOnce("programs_read", shared=True)


def programs_read_once():
    """Read each program (its events, their lines and items: four queries) once in the
    block, for one request that quotes the same program several times: order entry's
    add line prices the line, then the shipments it pays, then shows the line's planned
    shipments. A program edited during the block applies from the next request, as it
    would had the request come a moment earlier. The programs read are only read (a
    quote makes a ProgramPlan of them), so sharing them is safe."""
    return _programs_read.block()


def program_get_for_quote(*, program_id: int) -> ContinuityProgram:
    return _programs_read.get(program_id, lambda: _program_read(program_id))


def _program_read(program_id: int) -> ContinuityProgram:
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
