from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from continuity.models import ContinuityParameters, ContinuityProgram, ProgramEvent
from continuity.scheduling import (
    ProgramDefinitionError,
    first_shipment_date,
    is_open_ended,
    plan_shipments,
    validate_program,
)
from core.money import ZERO


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

    program: ContinuityProgram
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


def program_quote(
    *,
    program: ContinuityProgram,
    start_date: datetime.date,
    quantity: int = 1,
    horizon_from: datetime.date | None = None,
) -> ProgramQuote:
    """Plan a program from a start date. Open-ended programs are planned up to the
    materialisation horizon counted from `horizon_from` (default: the start date).

    The program should come from program_get_for_quote (events and lines prefetched).
    """
    specs = program.event_specs()
    try:
        validate_program(bill_up_front=program.bill_up_front, events=specs)
        open_ended = is_open_ended(specs)
        first = first_shipment_date(start_date, program.days_to_first_shipment)
        through = None
        if open_ended:
            horizon = ContinuityParameters.load().materialisation_horizon_days
            # The first shipment is always planned, however far away it is.
            through = max((horizon_from or start_date) + datetime.timedelta(days=horizon), first)
        shipments = plan_shipments(first_shipment=first, events=specs, through=through)
    except ProgramDefinitionError as error:
        raise ValidationError(
            _("Continuity program %(code)s cannot be sold: %(problem)s")
            % {"code": program.code, "problem": error}
        ) from error
    events = {event.event_number: event for event in program.events.all()}
    occurrences = []
    for shipment in shipments:
        lines = tuple(
            PlannedLine(
                item_id=line.item_id,
                item_number=line.item.item_number,
                item_name=line.item.name,
                quantity=line.quantity * quantity,
                unit_price=line.unit_price,
            )
            for line in events[shipment.event_number].lines.all()
        )
        if not lines:
            raise ValidationError(
                _("Continuity program %(code)s cannot be sold: event %(event)d has no lines.")
                % {"code": program.code, "event": shipment.event_number}
            )
        occurrence = PlannedOccurrence(
            shipment.sequence, shipment.event_number, shipment.ship_date, lines
        )
        if occurrence.amount <= ZERO:
            # Every shipment is paid by its own charge (or the up-front one), and a
            # gateway charge is never of zero.
            raise ValidationError(
                _("Continuity program %(code)s cannot be sold: event %(event)d has no price.")
                % {"code": program.code, "event": shipment.event_number}
            )
        occurrences.append(occurrence)
    return ProgramQuote(
        program=program,
        quantity=quantity,
        start_date=start_date,
        first_shipment_date=first,
        open_ended=open_ended,
        occurrences=tuple(occurrences),
        planned_through=through,
    )
