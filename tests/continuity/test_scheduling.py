"""The scheduling rules (docs/domain.md): unit tests with exact dates, and hypothesis properties on
random programs. Pure functions only, no database."""

from __future__ import annotations

import calendar
import datetime
import itertools
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from continuity.scheduling import (
    EventAction,
    EventSpec,
    IntervalUnit,
    PlannedShipment,
    ProgramDefinitionError,
    add_months,
    first_shipment_date,
    is_open_ended,
    iter_shipments,
    plan_shipments,
    shipment_count,
    validate_events,
)

D = datetime.date
DAYS, WEEKS, MONTHS = IntervalUnit.DAYS, IntervalUnit.WEEKS, IntervalUnit.MONTHS
NORMAL, SKIP, END = EventAction.NORMAL, EventAction.SKIP, EventAction.END


def ev(number, count, unit, repeat, action=NORMAL):
    return EventSpec(
        event_number=number,
        interval_count=count,
        interval_unit=unit,
        repeat_count=repeat,
        action=action,
    )


def dates(shipments):
    return [shipment.ship_date for shipment in shipments]


def plan(first, events, through=None):
    return plan_shipments(first_shipment=first, events=events, through=through)


# --------------------------------------------------------------------------------------
# Unit tests: add_months and first shipment
# --------------------------------------------------------------------------------------


def test_add_months_clamps_to_month_end():
    jan31 = D(2027, 1, 31)
    assert add_months(jan31, 0) == jan31
    assert add_months(jan31, 1) == D(2027, 2, 28)
    assert add_months(jan31, 2) == D(2027, 3, 31)
    assert add_months(jan31, 3) == D(2027, 4, 30)
    assert add_months(jan31, 13) == D(2028, 2, 29)
    assert add_months(D(2027, 12, 15), 1) == D(2028, 1, 15)
    assert add_months(D(2027, 11, 30), 14) == D(2029, 1, 30)
    assert add_months(D(2028, 2, 29), 12) == D(2029, 2, 28)
    assert add_months(D(2028, 2, 29), 48) == D(2032, 2, 29)


def test_first_shipment_is_start_plus_days_to_first_shipment():
    assert first_shipment_date(D(2027, 1, 1), 0) == D(2027, 1, 1)
    assert first_shipment_date(D(2027, 1, 1), 14) == D(2027, 1, 15)
    assert first_shipment_date(D(2027, 2, 20), 10) == D(2027, 3, 2)
    assert first_shipment_date(D(2028, 2, 20), 10) == D(2028, 3, 1)
    assert first_shipment_date(D(2027, 12, 25), 7) == D(2028, 1, 1)


def test_first_planned_shipment_falls_on_first_shipment_date():
    first = first_shipment_date(D(2027, 3, 10), 21)
    shipments = plan(first, [ev(1, 1, MONTHS, 3)])
    assert shipments[0] == PlannedShipment(1, 1, D(2027, 3, 31))


# --------------------------------------------------------------------------------------
# Unit tests: exact date lists
# --------------------------------------------------------------------------------------


def test_monthly_from_jan_31_clamps_without_drift():
    shipments = plan(D(2027, 1, 31), [ev(1, 1, MONTHS, 8)])
    assert dates(shipments) == [
        D(2027, 1, 31),
        D(2027, 2, 28),
        D(2027, 3, 31),
        D(2027, 4, 30),
        D(2027, 5, 31),
        D(2027, 6, 30),
        D(2027, 7, 31),
        D(2027, 8, 31),
    ]
    assert [s.sequence for s in shipments] == list(range(1, 9))
    assert {s.event_number for s in shipments} == {1}


def test_monthly_from_jan_31_in_a_leap_year():
    assert dates(plan(D(2028, 1, 31), [ev(1, 1, MONTHS, 4)])) == [
        D(2028, 1, 31),
        D(2028, 2, 29),
        D(2028, 3, 31),
        D(2028, 4, 30),
    ]


def test_monthly_from_jan_30_and_29():
    assert dates(plan(D(2027, 1, 30), [ev(1, 1, MONTHS, 4)])) == [
        D(2027, 1, 30),
        D(2027, 2, 28),
        D(2027, 3, 30),
        D(2027, 4, 30),
    ]
    assert dates(plan(D(2028, 1, 29), [ev(1, 1, MONTHS, 3)])) == [
        D(2028, 1, 29),
        D(2028, 2, 29),
        D(2028, 3, 29),
    ]


def test_every_two_months_across_the_year_end():
    assert dates(plan(D(2027, 8, 31), [ev(1, 2, MONTHS, 5)])) == [
        D(2027, 8, 31),
        D(2027, 10, 31),
        D(2027, 12, 31),
        D(2028, 2, 29),
        D(2028, 4, 30),
    ]


def test_weekly():
    assert dates(plan(D(2027, 2, 20), [ev(1, 1, WEEKS, 4)])) == [
        D(2027, 2, 20),
        D(2027, 2, 27),
        D(2027, 3, 6),
        D(2027, 3, 13),
    ]


def test_every_two_weeks():
    assert dates(plan(D(2027, 12, 20), [ev(1, 2, WEEKS, 3)])) == [
        D(2027, 12, 20),
        D(2028, 1, 3),
        D(2028, 1, 17),
    ]


def test_days():
    assert dates(plan(D(2028, 2, 25), [ev(1, 10, DAYS, 4)])) == [
        D(2028, 2, 25),
        D(2028, 3, 6),
        D(2028, 3, 16),
        D(2028, 3, 26),
    ]


def test_interval_zero_ships_on_the_same_day():
    assert dates(plan(D(2027, 5, 5), [ev(1, 0, DAYS, 3)])) == [D(2027, 5, 5)] * 3


def test_single_shipment():
    assert plan(D(2027, 5, 5), [ev(1, 3, MONTHS, 1)]) == [PlannedShipment(1, 1, D(2027, 5, 5))]


def test_two_monthly_then_three_weekly():
    """The weekly offsets are added after the months: first + 1 month + 7, 14, 21 days."""
    events = [ev(1, 1, MONTHS, 2), ev(2, 1, WEEKS, 3)]
    shipments = plan(D(2027, 1, 31), events)
    assert shipments == [
        PlannedShipment(1, 1, D(2027, 1, 31)),
        PlannedShipment(2, 1, D(2027, 2, 28)),
        PlannedShipment(3, 2, D(2027, 3, 7)),
        PlannedShipment(4, 2, D(2027, 3, 14)),
        PlannedShipment(5, 2, D(2027, 3, 21)),
    ]


def test_days_then_months_adds_the_months_first_then_the_days():
    """months from the first shipment (clamped), then the days.

    From Jan 30, 1 day then monthly: add_months(Jan 30, 1) + 1 day = Feb 28 + 1 = Mar 1.
    Adding the days first would give add_months(Jan 31, 1) = Feb 28, and chaining from
    the previous shipment would give Feb 28, then Mar 28 (drift).
    """
    events = [ev(1, 1, DAYS, 2), ev(2, 1, MONTHS, 3)]
    assert dates(plan(D(2027, 1, 30), events)) == [
        D(2027, 1, 30),
        D(2027, 1, 31),  # + 1 day
        D(2027, 3, 1),  # add_months(Jan 30, 1) = Feb 28, + 1 day
        D(2027, 3, 31),  # add_months(Jan 30, 2) = Mar 30, + 1 day
        D(2027, 5, 1),  # add_months(Jan 30, 3) = Apr 30, + 1 day
    ]


def test_second_event_offset_is_its_own_interval():
    events = [ev(1, 1, WEEKS, 2), ev(2, 3, DAYS, 2)]
    assert dates(plan(D(2027, 6, 1), events)) == [
        D(2027, 6, 1),
        D(2027, 6, 8),
        D(2027, 6, 11),
        D(2027, 6, 14),
    ]


def test_skip_event_takes_no_time_and_ships_nothing():
    with_skip = [
        ev(1, 1, MONTHS, 2),
        ev(2, 6, MONTHS, 5, SKIP),
        ev(3, 1, WEEKS, 2),
    ]
    shipments = plan(D(2027, 1, 31), with_skip)
    assert shipments == [
        PlannedShipment(1, 1, D(2027, 1, 31)),
        PlannedShipment(2, 1, D(2027, 2, 28)),
        PlannedShipment(3, 3, D(2027, 3, 7)),
        PlannedShipment(4, 3, D(2027, 3, 14)),
    ]
    assert shipment_count(with_skip) == 4
    without_skip = [with_skip[0], with_skip[2]]
    assert plan(D(2027, 1, 31), without_skip) == shipments


def test_skip_event_first():
    events = [ev(1, 3, MONTHS, 2, SKIP), ev(2, 1, MONTHS, 2)]
    assert plan(D(2027, 1, 31), events) == [
        PlannedShipment(1, 2, D(2027, 1, 31)),
        PlannedShipment(2, 2, D(2027, 2, 28)),
    ]


def test_end_event_stops_everything_after_it():
    events = [
        ev(1, 1, MONTHS, 2),
        ev(2, 1, MONTHS, 1, END),
        ev(3, 1, WEEKS, 5),
        ev(4, 1, DAYS, None),
    ]
    assert plan(D(2027, 1, 31), events) == [
        PlannedShipment(1, 1, D(2027, 1, 31)),
        PlannedShipment(2, 1, D(2027, 2, 28)),
    ]
    assert shipment_count(events) == 2
    assert not is_open_ended(events)


def test_end_event_after_an_open_ended_event_keeps_it_open_ended():
    events = [ev(1, 1, MONTHS, None), ev(2, 0, DAYS, 1, END)]
    assert is_open_ended(events)
    assert shipment_count(events) is None
    assert dates(plan(D(2027, 1, 31), events, through=D(2027, 4, 30))) == [
        D(2027, 1, 31),
        D(2027, 2, 28),
        D(2027, 3, 31),
        D(2027, 4, 30),
    ]


def test_events_are_taken_in_event_number_order():
    events = [ev(20, 1, WEEKS, 2), ev(10, 1, MONTHS, 2)]
    assert plan(D(2027, 1, 31), events) == [
        PlannedShipment(1, 10, D(2027, 1, 31)),
        PlannedShipment(2, 10, D(2027, 2, 28)),
        PlannedShipment(3, 20, D(2027, 3, 7)),
        PlannedShipment(4, 20, D(2027, 3, 14)),
    ]


def test_shipment_count_and_open_ended():
    finite = [ev(1, 1, MONTHS, 3), ev(2, 1, WEEKS, 4)]
    assert shipment_count(finite) == 7
    assert not is_open_ended(finite)
    open_ended = [ev(1, 1, MONTHS, 3), ev(2, 1, WEEKS, None)]
    assert shipment_count(open_ended) is None
    assert is_open_ended(open_ended)


# --------------------------------------------------------------------------------------
# Unit tests: open-ended programs
# --------------------------------------------------------------------------------------


def test_open_ended_planned_through_a_date_inclusive():
    events = [ev(1, 1, MONTHS, 2), ev(2, 2, WEEKS, None)]
    first = D(2027, 1, 31)
    expected = [
        PlannedShipment(1, 1, D(2027, 1, 31)),
        PlannedShipment(2, 1, D(2027, 2, 28)),
        PlannedShipment(3, 2, D(2027, 3, 14)),
        PlannedShipment(4, 2, D(2027, 3, 28)),
        PlannedShipment(5, 2, D(2027, 4, 11)),
    ]
    assert plan(first, events, through=D(2027, 4, 11)) == expected  # inclusive
    assert plan(first, events, through=D(2027, 4, 24)) == expected
    assert plan(first, events, through=D(2027, 4, 10)) == expected[:4]
    assert plan(first, events, through=D(2027, 4, 25))[-1] == PlannedShipment(6, 2, D(2027, 4, 25))


def test_open_ended_through_before_first_shipment_plans_nothing():
    events = [ev(1, 1, MONTHS, None)]
    assert plan(D(2027, 1, 31), events, through=D(2027, 1, 30)) == []
    assert plan(D(2027, 1, 31), events, through=D(2027, 1, 31)) == [
        PlannedShipment(1, 1, D(2027, 1, 31))
    ]


def test_open_ended_monthly_from_jan_31_never_drifts():
    shipments = list(
        itertools.islice(
            iter_shipments(first_shipment=D(2027, 1, 31), events=[ev(1, 1, MONTHS, None)]),
            14,
        )
    )
    assert dates(shipments) == [
        D(2027, 1, 31),
        D(2027, 2, 28),
        D(2027, 3, 31),
        D(2027, 4, 30),
        D(2027, 5, 31),
        D(2027, 6, 30),
        D(2027, 7, 31),
        D(2027, 8, 31),
        D(2027, 9, 30),
        D(2027, 10, 31),
        D(2027, 11, 30),
        D(2027, 12, 31),
        D(2028, 1, 31),
        D(2028, 2, 29),
    ]


def test_finite_program_with_through_is_cut_at_through():
    events = [ev(1, 1, WEEKS, 10)]
    assert dates(plan(D(2027, 1, 1), events, through=D(2027, 1, 15))) == [
        D(2027, 1, 1),
        D(2027, 1, 8),
        D(2027, 1, 15),
    ]
    assert len(plan(D(2027, 1, 1), events, through=D(2030, 1, 1))) == 10


def test_plan_open_ended_without_through_raises():
    with pytest.raises(ProgramDefinitionError, match="open-ended"):
        plan(D(2027, 1, 31), [ev(1, 1, MONTHS, 2), ev(2, 1, WEEKS, None)])


# --------------------------------------------------------------------------------------
# Unit tests: validate_events refusals
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([], id="no events"),
        pytest.param([ev(1, 1, MONTHS, 3, SKIP)], id="only skip"),
        pytest.param([ev(1, 1, MONTHS, 3, END), ev(2, 1, MONTHS, 3)], id="end first"),
        pytest.param(
            [ev(1, 1, MONTHS, 3, SKIP), ev(2, 1, MONTHS, 3, END), ev(3, 1, WEEKS, 3)],
            id="skip then end",
        ),
    ],
)
def test_validate_refuses_a_program_that_ships_nothing(events):
    with pytest.raises(ProgramDefinitionError, match="no event that ships"):
        validate_events(events)
    with pytest.raises(ProgramDefinitionError, match="no event that ships"):
        list(iter_shipments(first_shipment=D(2027, 1, 1), events=events))
    with pytest.raises(ProgramDefinitionError, match="no event that ships"):
        plan(D(2027, 1, 1), events)


def test_validate_refuses_open_ended_event_that_is_not_last():
    events = [ev(1, 1, MONTHS, None), ev(2, 1, WEEKS, 3)]
    with pytest.raises(ProgramDefinitionError, match=r"Event 1 repeats until cancelled"):
        validate_events(events)
    with pytest.raises(ProgramDefinitionError, match=r"must be the last event that ships"):
        plan(D(2027, 1, 1), events, through=D(2028, 1, 1))


def test_validate_refuses_open_ended_with_interval_zero():
    events = [ev(1, 1, MONTHS, 2), ev(2, 0, WEEKS, None)]
    with pytest.raises(ProgramDefinitionError, match=r"Event 2 .* interval must be at least 1"):
        validate_events(events)
    with pytest.raises(ProgramDefinitionError, match=r"interval must be at least 1"):
        plan(D(2027, 1, 1), events, through=D(2028, 1, 1))


def test_validate_refuses_duplicate_event_numbers():
    events = [ev(1, 1, MONTHS, 2), ev(1, 1, WEEKS, 3)]
    with pytest.raises(ProgramDefinitionError, match="unique"):
        validate_events(events)
    with pytest.raises(ProgramDefinitionError, match="unique"):
        plan(D(2027, 1, 1), events)


def test_validate_refuses_zero_repeat_and_negative_interval():
    with pytest.raises(ProgramDefinitionError, match=r"Event 2 must ship at least once"):
        validate_events([ev(1, 1, MONTHS, 2), ev(2, 1, WEEKS, 0)])
    with pytest.raises(ProgramDefinitionError, match=r"Event 1 has a negative interval"):
        validate_events([ev(1, -1, DAYS, 2)])


def test_validate_accepts_valid_programs():
    validate_events([ev(1, 1, MONTHS, 2)])
    validate_events([ev(1, 0, DAYS, 3)])  # a finite program may ship twice the same day
    validate_events([ev(1, 1, MONTHS, 2), ev(2, 5, MONTHS, None, SKIP), ev(3, 1, DAYS, None)])
    # An open-ended event followed by an end event is still the last event that ships,
    # and whatever follows the end is not looked at.
    validate_events([ev(1, 1, MONTHS, None), ev(2, 0, DAYS, 0, END), ev(3, 0, DAYS, None)])


# --------------------------------------------------------------------------------------
# Hypothesis: strategies
# --------------------------------------------------------------------------------------

MIN_DATE = D(1900, 1, 1)
MAX_DATE = D(2200, 12, 31)
UNITS = st.sampled_from(list(IntervalUnit))
ACTIONS = st.sampled_from([NORMAL, NORMAL, SKIP, END])  # shipping events more often


@st.composite
def first_dates(draw):
    """Any date, or one of the awkward days at the end of a month (28..31)."""
    year = draw(st.integers(MIN_DATE.year, MAX_DATE.year))
    month = draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    return draw(
        st.one_of(
            st.dates(MIN_DATE, MAX_DATE),
            st.just(D(year, month, last)),
            st.integers(28, last).map(lambda day: D(year, month, day)),
        )
    )


def _first_end_index(events):
    return next((i for i, e in enumerate(events) if e.action == END), len(events))


@st.composite
def programs(draw, *, open_ended=None, min_events=1, max_events=6):
    """A valid program: events already in event-number order (numbers rise, with gaps).

    open_ended: True / False forces the last shipping event's repeat count to be empty /
    a number; None lets hypothesis choose.
    """
    n = draw(st.integers(min_events, max_events))
    actions = draw(st.lists(ACTIONS, min_size=n, max_size=n))
    end_at = next((i for i, action in enumerate(actions) if action == END), n)
    if NORMAL not in actions[:end_at]:
        actions[draw(st.integers(0, max(end_at - 1, 0)))] = NORMAL
        end_at = next((i for i, action in enumerate(actions) if action == END), n)
    last_shipping = max(i for i, action in enumerate(actions[:end_at]) if action == NORMAL)
    gaps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    numbers = list(itertools.accumulate(gaps))
    make_open = draw(st.booleans()) if open_ended is None else open_ended
    events = []
    for i, (number, action) in enumerate(zip(numbers, actions, strict=True)):
        repeat = draw(st.integers(1, 12))
        interval = draw(st.integers(0, 40))
        if i == last_shipping and make_open:
            repeat = None
            interval = draw(st.integers(1, 40))
        elif action != NORMAL:
            # Skip and end events and anything after an end are not looked at: let them
            # carry anything, even an empty repeat count.
            repeat = draw(st.one_of(st.none(), st.integers(0, 12)))
        events.append(ev(number, interval, draw(UNITS), repeat, action))
    return events


def shipping_events(events):
    """Independent reading of the rules: in number order, skip dropped, stop at an end."""
    out = []
    for event in sorted(events, key=lambda e: e.event_number):
        if event.action == END:
            break
        if event.action == NORMAL:
            out.append(event)
    return out


def months_later(day, months):
    """Independent calendar-month arithmetic: month `months` after `day`'s, day clamped."""
    total = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(total, 12)
    return D(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def expected_offsets(events, limit):
    """(event number, months before, days before) for the first `limit` shipments."""
    out = []
    months = days = 0
    for event in shipping_events(events):
        repeats = itertools.count() if event.repeat_count is None else range(event.repeat_count)
        for _ in repeats:
            if len(out) == limit:
                return out
            if out:
                if event.interval_unit == MONTHS:
                    months += event.interval_count
                elif event.interval_unit == WEEKS:
                    days += 7 * event.interval_count
                else:
                    days += event.interval_count
            out.append((event.event_number, months, days))
    return out


def take(first, events, n):
    return list(itertools.islice(iter_shipments(first_shipment=first, events=events), n))


def schedule(first, events, through=None):
    """The finite plan, or for an open-ended program the plan through `through` (or the
    first 80 shipments when no date is given)."""
    if is_open_ended(events) and through is None:
        return take(first, events, 80)
    return plan(first, events, through)


PROPERTY = settings(max_examples=300, deadline=None)
# Extra checks beyond the eight main properties: fewer examples.
EXTRA = settings(max_examples=150, deadline=None)


# --------------------------------------------------------------------------------------
# Hypothesis: properties
# --------------------------------------------------------------------------------------


@EXTRA
@given(first=first_dates(), events=programs())
def test_generated_programs_are_valid(first, events):
    validate_events(events)
    assert is_open_ended(events) == (shipping_events(events)[-1].repeat_count is None)


@PROPERTY
@given(first=first_dates(), events=programs())
def test_ship_dates_never_decrease(first, events):
    shipments = schedule(first, events)
    assert shipments
    assert shipments[0].ship_date == first
    for before, after in itertools.pairwise(shipments):
        assert before.ship_date <= after.ship_date


@PROPERTY
@given(first=first_dates(), events=programs(open_ended=False))
def test_count_matches_the_repeats_of_normal_events_before_the_first_end(first, events):
    expected = sum(e.repeat_count for e in events[: _first_end_index(events)] if e.action == NORMAL)
    shipments = plan(first, events)
    assert shipment_count(events) == expected
    assert len(shipments) == expected
    assert len(take(first, events, expected + 5)) == expected  # the iterator ends too
    # Each normal event ships exactly its repeat count.
    per_event = {e.event_number: 0 for e in shipping_events(events)}
    for shipment in shipments:
        per_event[shipment.event_number] += 1
    assert per_event == {e.event_number: e.repeat_count for e in shipping_events(events)}


@PROPERTY
@given(first=first_dates(), events=programs())
def test_sequences_are_one_to_n_consecutive(first, events):
    shipments = schedule(first, events)
    assert [s.sequence for s in shipments] == list(range(1, len(shipments) + 1))


@PROPERTY
@given(first=first_dates(), events=programs())
def test_skip_events_take_no_time_and_ship_nothing(first, events):
    without_skip = [e for e in events if e.action != SKIP]
    shipments = schedule(first, events)
    # Same numbers kept: identical shipments.
    assert schedule(first, without_skip) == shipments
    # Renumbered 1, 2, 3 ...: identical except for the event numbers.
    renumbered = [replace(e, event_number=i) for i, e in enumerate(without_skip, start=1)]
    assert [(s.sequence, s.ship_date) for s in schedule(first, renumbered)] == [
        (s.sequence, s.ship_date) for s in shipments
    ]
    skipped = {e.event_number for e in events if e.action == SKIP}
    assert not {s.event_number for s in shipments} & skipped


@st.composite
def programs_with_tail(draw):
    """A program ending with an end event, and some events after it (anything at all)."""
    events = draw(programs())
    next_number = events[-1].event_number + 1
    if END not in (e.action for e in events):
        events = [*events, ev(next_number, draw(st.integers(0, 40)), draw(UNITS), 1, END)]
        next_number += 1
    tail = draw(
        st.lists(
            st.builds(
                ev,
                st.just(0),
                st.integers(-5, 40),
                UNITS,
                st.one_of(st.none(), st.integers(0, 12)),
                st.sampled_from(list(EventAction)),
            ),
            min_size=1,
            max_size=4,
        )
    )
    tail = [replace(e, event_number=next_number + i) for i, e in enumerate(tail)]
    return events, tail


@PROPERTY
@given(first=first_dates(), program=programs_with_tail())
def test_events_after_an_end_event_never_change_the_result(first, program):
    events, tail = program
    assert is_open_ended(events + tail) == is_open_ended(events)
    assert shipment_count(events + tail) == shipment_count(events)
    validate_events(events + tail)
    assert schedule(first, events + tail) == schedule(first, events)
    # Cutting right after the first end event gives the same result again.
    cut = events[: _first_end_index(events) + 1]
    assert schedule(first, cut) == schedule(first, events)
    # Cutting before it too, as far as dates go (the end event itself ships nothing).
    assert schedule(first, cut[:-1]) == schedule(first, events)


@PROPERTY
@given(
    first=first_dates(),
    interval=st.integers(1, 40),
    repeats=st.integers(1, 12),
)
def test_monthly_event_never_drifts(first, interval, repeats):
    shipments = plan(first, [ev(1, interval, MONTHS, repeats)])
    assert len(shipments) == repeats
    first_month = first.year * 12 + first.month - 1
    for k, shipment in enumerate(shipments):
        year, month0 = divmod(first_month + k * interval, 12)
        days_in_month = calendar.monthrange(year, month0 + 1)[1]
        assert shipment.ship_date == D(year, month0 + 1, min(first.day, days_in_month))


@EXTRA
@given(first=first_dates())
def test_open_ended_monthly_never_drifts_over_many_years(first):
    shipments = take(first, [ev(1, 1, MONTHS, None)], 120)
    first_month = first.year * 12 + first.month - 1
    for k, shipment in enumerate(shipments):
        year, month0 = divmod(first_month + k, 12)
        days_in_month = calendar.monthrange(year, month0 + 1)[1]
        assert shipment.ship_date == D(year, month0 + 1, min(first.day, days_in_month))


@PROPERTY
@given(first=first_dates(), events=programs())
def test_each_date_is_first_plus_months_then_days_before_it(first, events):
    shipments = schedule(first, events)
    expected = expected_offsets(events, len(shipments))
    assert len(expected) == len(shipments)
    for shipment, (number, months, days) in zip(shipments, expected, strict=True):
        assert shipment.event_number == number
        assert shipment.ship_date == months_later(first, months) + datetime.timedelta(days)


@EXTRA
@given(first=first_dates(), events=programs(), data=st.data())
def test_event_number_order_not_list_order_decides(first, events, data):
    shuffled = data.draw(st.permutations(events))
    assert schedule(first, shuffled) == schedule(first, events)


@PROPERTY
@given(
    first=first_dates(),
    events=programs(open_ended=True),
    horizon=st.integers(0, 3 * 366),
)
def test_open_ended_planned_through_a_date(first, events, horizon):
    through = first + datetime.timedelta(days=horizon)
    with pytest.raises(ProgramDefinitionError):
        plan(first, events)
    shipments = plan(first, events, through)
    assert shipments  # the first shipment is on or before `through`
    assert all(s.ship_date <= through for s in shipments)
    upcoming = take(first, events, len(shipments) + 1)
    assert upcoming[: len(shipments)] == shipments
    assert upcoming[-1].ship_date > through
    assert upcoming[-1].sequence == len(shipments) + 1


@EXTRA
@given(first=first_dates(), events=programs(open_ended=False), data=st.data())
def test_finite_program_through_a_date_is_a_prefix(first, events, data):
    full = plan(first, events)
    through = data.draw(st.dates(first - datetime.timedelta(days=5), full[-1].ship_date))
    shipments = plan(first, events, through)
    assert shipments == [s for s in full if s.ship_date <= through]


@EXTRA
@given(events=programs(), data=st.data())
def test_open_ended_event_anywhere_but_last_is_refused(events, data):
    shipping = shipping_events(events)
    assume(len(shipping) >= 2)
    victim = data.draw(st.sampled_from(shipping[:-1]))
    broken = [replace(e, repeat_count=None) if e is victim else e for e in events]
    with pytest.raises(ProgramDefinitionError, match=f"Event {victim.event_number} repeats"):
        validate_events(broken)


@EXTRA
@given(start=st.dates(MIN_DATE, MAX_DATE), days=st.integers(0, 365), events=programs())
def test_first_shipment_is_start_plus_days(start, days, events):
    first = first_shipment_date(start, days)
    assert first == start + datetime.timedelta(days=days)
    assert schedule(first, events)[0] == PlannedShipment(
        1, shipping_events(events)[0].event_number, first
    )
