"""When the shipments of a continuity program fall, as pure functions (docs/domain.md).

No database here: the models hand in EventSpecs, tests hand in anything hypothesis
invents.

The rule that keeps dates from drifting: every shipment is placed from the *first*
shipment by the sum of the intervals before it, never from the previous shipment. Months
are added as calendar months with the day clamped to the month's end (a program that
starts on Jan 31 ships on Feb 28 or 29, Mar 31, Apr 30 ...), then days and weeks.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class IntervalUnit(models.TextChoices):
    DAYS = "days", _("Days")
    WEEKS = "weeks", _("Weeks")
    MONTHS = "months", _("Months")


class EventAction(models.TextChoices):
    NORMAL = "normal", _("Normal")
    SKIP = "skip", _("Skip")
    END = "end", _("End")


@dataclass(frozen=True)
class EventSpec:
    event_number: int
    interval_count: int
    interval_unit: IntervalUnit
    repeat_count: int | None  # None: repeats until the subscription is cancelled
    action: EventAction = EventAction.NORMAL


@dataclass(frozen=True)
class PlannedShipment:
    sequence: int  # 1 for the first shipment
    event_number: int
    ship_date: datetime.date


class ProgramDefinitionError(ValueError):
    """The events do not describe a program that can be scheduled."""


def add_months(day: datetime.date, months: int) -> datetime.date:
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last_day))


def first_shipment_date(start_date: datetime.date, days_to_first_shipment: int) -> datetime.date:
    return start_date + datetime.timedelta(days=days_to_first_shipment)


def _shipping_events(events: Sequence[EventSpec]) -> list[EventSpec]:
    """The events that ship, in order: skip events dropped, nothing after an end event."""
    shipping = []
    for event in sorted(events, key=lambda event: event.event_number):
        if event.action == EventAction.END:
            break
        if event.action == EventAction.SKIP:
            continue
        shipping.append(event)
    return shipping


def validate_events(events: Sequence[EventSpec]) -> None:
    """Refuse programs that cannot be scheduled, naming the event at fault."""
    numbers = [event.event_number for event in events]
    if len(numbers) != len(set(numbers)):
        raise ProgramDefinitionError(gettext("Event numbers must be unique."))
    shipping = _shipping_events(events)
    if not shipping:
        raise ProgramDefinitionError(gettext("The program has no event that ships anything."))
    for event in shipping[:-1]:
        if event.repeat_count is None:
            raise ProgramDefinitionError(
                gettext(
                    "Event %(event)d repeats until cancelled, so it must be the last event "
                    "that ships."
                )
                % {"event": event.event_number}
            )
    for event in shipping:
        if event.repeat_count is not None and event.repeat_count < 1:
            raise ProgramDefinitionError(
                gettext("Event %(event)d must ship at least once.") % {"event": event.event_number}
            )
        if event.interval_count < 0:
            raise ProgramDefinitionError(
                gettext("Event %(event)d has a negative interval.") % {"event": event.event_number}
            )
    last = shipping[-1]
    if last.repeat_count is None and last.interval_count == 0:
        raise ProgramDefinitionError(
            gettext("Event %(event)d repeats until cancelled, so its interval must be at least 1.")
            % {"event": last.event_number}
        )


def validate_program(*, bill_up_front: bool, events: Sequence[EventSpec]) -> None:
    """validate_events, plus the rule that only a program with an end can be billed up
    front: the one check the admin and order entry both apply."""
    validate_events(events)
    if bill_up_front and is_open_ended(events):
        raise ProgramDefinitionError(
            gettext("A program that runs until cancelled cannot be billed up front.")
        )


def is_open_ended(events: Sequence[EventSpec]) -> bool:
    shipping = _shipping_events(events)
    return bool(shipping) and shipping[-1].repeat_count is None


def shipment_count(events: Sequence[EventSpec]) -> int | None:
    """How many shipments the program makes; None when it runs until cancelled."""
    if is_open_ended(events):
        return None
    return sum(event.repeat_count for event in _shipping_events(events))


def iter_shipments(
    *, first_shipment: datetime.date, events: Sequence[EventSpec]
) -> Iterator[PlannedShipment]:
    """Every shipment in order; endless for an open-ended program."""
    validate_events(events)
    months = 0
    days = 0
    sequence = 0
    for event in _shipping_events(events):
        repeat = 0
        while event.repeat_count is None or repeat < event.repeat_count:
            if sequence > 0:  # the first shipment has no previous one to be offset from
                if event.interval_unit == IntervalUnit.MONTHS:
                    months += event.interval_count
                elif event.interval_unit == IntervalUnit.WEEKS:
                    days += 7 * event.interval_count
                else:
                    days += event.interval_count
            sequence += 1
            repeat += 1
            ship_date = add_months(first_shipment, months) + datetime.timedelta(days=days)
            yield PlannedShipment(sequence, event.event_number, ship_date)


def plan_shipments(
    *,
    first_shipment: datetime.date,
    events: Sequence[EventSpec],
    through: datetime.date | None = None,
) -> list[PlannedShipment]:
    """The shipments of a program, all of them, or those on or before `through`.

    An open-ended program needs `through` (the materialisation horizon): its list would
    otherwise never end.
    """
    if through is None and is_open_ended(events):
        raise ProgramDefinitionError(gettext("An open-ended program is planned up to a date."))
    planned = []
    for shipment in iter_shipments(first_shipment=first_shipment, events=events):
        if through is not None and shipment.ship_date > through:
            # Dates never decrease, so nothing later can fall on or before `through`.
            break
        planned.append(shipment)
    return planned
