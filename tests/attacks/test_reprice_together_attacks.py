"""Attacks on a slice's new prices written together (continuity.pricing
repriced_shipments_write, from continuity.charging.prepare's slice savepoint) and on
audit_record's one-statement entry and event (core.services on PostgreSQL).

Every test asserts the exact outcome: each shipment stores the amount its sale charges,
its lines the tax of that amount, one `shipment_repriced` entry (and event) a re-price,
and nothing at all for a shipment refused.

Karen Berg ships to Seattle, WA (98101). A box of 88000 is 0013 at 17.99 and 0015 at 9.99
with Standard delivery 5.95 (tests.continuity.test_shipment_pricing). In the tests with
0015 in the Reduced group, Seattle taxes it at 10.25 % and Washington at 6.5 % whatever
happens to the Standard and Delivery rates:

- Seattle at 10.35 % (Standard and Delivery), 0015 still at 10.25 %: 17.99 x 0.1035 =
  1.861965 -> 1.86 (19.85); 9.99 -> 1.02 (11.01); 5.95 x 0.1035 = 0.615825 -> 0.62.
  Tax 3.50, 27.98 + 5.95 + 3.50 = 37.43.
- Spokane (Washington) at 7 % (Standard and Delivery), 0015 at 6.5 %: 17.99 x 0.07 =
  1.2593 -> 1.26 (19.25); 9.99 x 0.065 = 0.64935 -> 0.65 (10.64); 5.95 x 0.07 = 0.4165
  -> 0.42. Tax 2.33, 27.98 + 5.95 + 2.33 = 36.26.
"""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from continuity.charging import charges_prepare
from continuity.models import Occurrence, OccurrenceLine, Subscription
from continuity.pricing import occurrence_price_again
from core.actors import Actor
from core.models import AuditEntry, OutboxEvent
from core.outbox import _event, _topics, outbox_event_data, outbox_reference
from core.services import audit_record
from core.sql_arrays import rows_update_from_arrays
from customers.services import address_add
from orders.models import Item, TaxRate
from orders.tax.models import TaxJurisdiction
from orders.tax.provider import TableTaxProvider, get_tax_provider
from payments.models import Payment
from tests.batch.conftest import days
from tests.continuity.tax_setup import tax_and_delivery_set_up
from tests.continuity.test_money_findings import in_thread
from tests.continuity.test_shipment_pricing import (
    SEATTLE_AT_1035,
    SEATTLE_SHIPMENT,
    change_seattle_rates,
    repriced,
    repriced_writes,
    sales_of,
    shipments,
    stored,
)

ACTOR = Actor.job("reprice-attack")
D = Decimal

pytestmark = pytest.mark.django_db
race = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tables(demo):
    """Seattle, Washington, France and Standard delivery at 5.95, free from 50.00."""
    tables, _standard = tax_and_delivery_set_up()
    return tables


SEATTLE_0015_REDUCED = (
    "27.98",
    "5.95",
    "10.3500",
    "0.62",
    "3.50",
    "37.43",
    "Seattle, WA",
    [("17.99", "10.3500", "1.86", "19.85"), ("9.99", "10.2500", "1.02", "11.01")],
)
SPOKANE_AT_7 = (
    "27.98",
    "5.95",
    "7.0000",
    "0.42",
    "2.33",
    "36.26",
    "Washington",
    [("17.99", "7.0000", "1.26", "19.25"), ("9.99", "6.5000", "0.65", "10.64")],
)


def reduced_0015(tables) -> None:
    """0015 in the Reduced group, at Seattle's 10.25 % and Washington's 6.5 %: when the
    Standard and Delivery rates change, one line of a box changes and the other not."""
    since = datetime.date(2000, 1, 1)
    for place, rate in ((tables.seattle, "10.25"), (tables.washington, "6.5")):
        TaxRate.objects.create(
            jurisdiction=place, group=tables.reduced, rate=D(rate), effective_from=since
        )
    Item.objects.filter(item_number="0015").update(tax_group=tables.reduced)


def seattle_standard_and_delivery_at_1035(tables, *, last_day: datetime.date) -> None:
    """Seattle's Standard and Delivery 10.25 % end on `last_day`, 10.35 % follows."""
    for rate in TaxRate.objects.filter(
        jurisdiction=tables.seattle,
        group__in=[tables.standard, tables.delivery],
        effective_to__isnull=True,
    ):
        rate.effective_to = last_day
        rate.save(update_fields=["effective_to"])
        TaxRate.objects.create(
            jurisdiction=tables.seattle,
            group=rate.group,
            rate=D("10.35"),
            effective_from=last_day + days(1),
        )


def washington_standard_and_delivery_at_7(tables) -> None:
    TaxRate.objects.filter(
        jurisdiction=tables.washington, group__in=[tables.standard, tables.delivery]
    ).update(rate=D("7"))


def address(customer, *, city: str, state: str, postal_code: str):
    return address_add(
        customer=customer,
        kind="shipping",
        street="1 Test Street",
        city=city,
        state=state,
        postal_code=postal_code,
        is_default=False,
        actor=ACTOR,
    )


def ship_to_planted(occurrence: Occurrence, ship_to) -> None:
    """The subscription ships elsewhere and its shipment was not taxed for it yet (what a
    ship-to written before shipments kept theirs leaves): the charge moves it."""
    Subscription.objects.filter(pk=occurrence.subscription_id).update(ship_to=ship_to)


def prepared_amounts(preparation) -> dict[int, Decimal]:
    return {charge.occurrence_id: charge.payment.amount for charge in preparation.prepared}


def stored_amount(occurrence: Occurrence) -> Decimal:
    return Occurrence.objects.values_list("amount", flat=True).get(pk=occurrence.pk)


def a_mixed_slice(tables, sell, today, *, refused: bool):
    """Five (or six) second shipments due together: `rates` only taxed again (one line
    of two changes), `spokane` moved to Spokane whose rates changed too, `seattle2` moved
    within Seattle (the same price, a new ship-to), `early` taxed again already by itself
    (nothing left to change), and with `refused`, `portland` moved where its goods cannot
    be taxed, in the middle of the slice."""
    reduced_0015(tables)
    names = ["rates", "spokane", *(["portland"] if refused else []), "seattle2", "early"]
    orders = {name: sell() for name in names}
    seconds = {name: shipments(order)[1] for name, order in orders.items()}
    karen = orders["rates"].customer
    seattle_standard_and_delivery_at_1035(tables, last_day=today + days(10))
    washington_standard_and_delivery_at_7(tables)
    spokane = address(karen, city="Spokane", state="WA", postal_code="99201")
    ship_to_planted(seconds["spokane"], spokane)
    seattle2 = address(karen, city="Seattle", state="WA", postal_code="98104")
    ship_to_planted(seconds["seattle2"], seattle2)
    if refused:
        # Oregon is a jurisdiction without rates: its goods cannot be taxed.
        TaxJurisdiction.objects.create(name="Oregon", country="US", region="OR")
        portland = address(karen, city="Portland", state="OR", postal_code="97204")
        ship_to_planted(seconds["portland"], portland)
    early = Occurrence.objects.select_related("subscription").get(pk=seconds["early"].pk)
    assert occurrence_price_again(early, subscription=early.subscription, actor=ACTOR)
    return orders, seconds, {"spokane": spokane, "seattle2": seattle2}


def assert_the_mixed_slice_charged(orders, seconds, places, preparation) -> None:
    charged = prepared_amounts(preparation)
    expected = {
        "rates": (SEATTLE_0015_REDUCED, [("37.40", "37.43", "tax_rates")]),
        "spokane": (SPOKANE_AT_7, [("37.40", "36.26", "ship_to")]),
        "seattle2": (SEATTLE_0015_REDUCED, [("37.40", "37.43", "ship_to")]),
        "early": (SEATTLE_0015_REDUCED, [("37.40", "37.43", "tax_rates")]),
    }
    for name, (parts, entries) in expected.items():
        second = seconds[name]
        assert stored(second) == parts, name
        # The sale charges what the shipment stores, and the run says so.
        assert charged[second.pk] == stored_amount(second) == D(parts[5]), name
        assert sales_of(orders[name])[-1] == (2, "pending", D(parts[5])), name
        # One entry a re-price, never two (a savepoint undone, a shipment prepared again).
        assert [(e["from"], e["to"], e["why"]) for e in repriced(second)] == entries, name
        second.refresh_from_db()
        assert second.status == "charging", name
    assert seconds["spokane"].priced_ship_to_id == places["spokane"].pk
    assert seconds["seattle2"].priced_ship_to_id == places["seattle2"].pk
    assert seconds["rates"].priced_ship_to_id == seconds["rates"].subscription.ship_to_id
    # Every sale's amount is its shipment's stored amount, to the cent.
    for payment in Payment.objects.filter(
        occurrence__in=[second.pk for second in seconds.values()], status="pending"
    ):
        assert payment.amount == stored_amount(payment.occurrence)


def test_a_mixed_slice_is_written_in_two_updates_and_each_sale_charges_what_is_stored(
    tables, sell, today
):
    """Rates only (one line of two changes), moved and re-rated, moved at the same price,
    nothing left to change: one UPDATE of the shipments and one of the lines, and each
    shipment stores what its sale charges, with one entry."""
    orders, seconds, places = a_mixed_slice(tables, sell, today, refused=False)
    untouched_line = OccurrenceLine.objects.get(occurrence=seconds["rates"], line_number=2)

    with CaptureQueriesContext(connection) as queries:
        preparation = charges_prepare(
            occurrence_ids=[second.pk for second in seconds.values()],
            run_date=seconds["rates"].ship_date - days(5),
            actor=ACTOR,
        )

    assert preparation.results == []
    assert repriced_writes(queries) == [
        "UPDATE continuity_occurrence",
        "UPDATE continuity_occurrenceline",
    ]
    assert_the_mixed_slice_charged(orders, seconds, places, preparation)
    # The line whose tax did not change was not written (its values are as they were).
    again = OccurrenceLine.objects.get(pk=untouched_line.pk)
    assert [getattr(again, name) for name in OccurrenceLine.TAX_FIELDS] == [
        getattr(untouched_line, name) for name in OccurrenceLine.TAX_FIELDS
    ]


def test_a_refused_shipment_in_a_repriced_slice_writes_nothing_and_the_others_once(
    tables, sell, today
):
    """The same slice with a shipment moved where its goods cannot be taxed, in its
    middle: the slice's savepoint is undone after two shipments were taxed again in
    memory; prepared again from fresh rows, each is written once, and the refused one
    keeps everything it had."""
    orders, seconds, places = a_mixed_slice(tables, sell, today, refused=True)
    portland = seconds["portland"]
    before = stored(portland)
    priced_ship_to = Occurrence.objects.get(pk=portland.pk).priced_ship_to_id
    entries_before = AuditEntry.objects.filter(object_id=str(portland.pk)).count()

    preparation = charges_prepare(
        occurrence_ids=[second.pk for second in seconds.values()],
        run_date=seconds["rates"].ship_date - days(5),
        actor=ACTOR,
    )

    assert [(r.occurrence_id, r.outcome) for r in preparation.results] == [(portland.pk, "error")]
    assert "TaxUnavailable" in preparation.results[0].detail
    del orders["portland"], seconds["portland"]
    assert_the_mixed_slice_charged(orders, seconds, places, preparation)
    assert stored(portland) == before
    portland.refresh_from_db()
    assert (portland.status, portland.priced_ship_to_id) == ("scheduled", priced_ship_to)
    assert AuditEntry.objects.filter(object_id=str(portland.pk)).count() == entries_before
    assert not Payment.objects.filter(occurrence=portland).exists()


def test_a_sale_refused_after_the_slices_prices_were_written_charges_each_once(tables, sell, today):
    """The slice's new prices are written, then its sales fail (a key already taken by
    another row): the savepoint undoes the prices too; each shipment is then taxed again
    in a savepoint of its own and charged one by one. The one whose sale cannot be made
    keeps its new price with one entry and has no sale; the others store what they are
    charged, each with one entry."""
    orders = [sell() for _ in range(3)]
    seconds = [shipments(order)[1] for order in orders]
    change_seattle_rates(tables, last_day=today + days(10))
    blocked = seconds[1]
    # A declined sale of the order's own (its submit) holding the key the shipment's
    # first sale takes.
    planted = Payment.objects.get(sales_order=orders[1], operation="sale")
    planted.pk = None
    planted.status = "declined"
    planted.decline_code = "do_not_honor"
    planted.idempotency_key = f"occurrence-{blocked.pk}-sale-1"
    planted.save()

    with CaptureQueriesContext(connection) as queries:
        preparation = charges_prepare(
            occurrence_ids=[second.pk for second in seconds],
            run_date=seconds[0].ship_date - days(5),
            actor=ACTOR,
        )

    # The slice's prices were written together once, then undone with its sales.
    assert repriced_writes(queries) == [
        "UPDATE continuity_occurrence",
        "UPDATE continuity_occurrenceline",
    ]
    assert [(r.occurrence_id, r.outcome) for r in preparation.results] == [(blocked.pk, "error")]
    charged = prepared_amounts(preparation)
    assert sorted(charged) == sorted([seconds[0].pk, seconds[2].pk])
    for index in (0, 2):
        second = seconds[index]
        assert stored(second) == SEATTLE_AT_1035
        assert charged[second.pk] == stored_amount(second) == D("37.44")
        assert repriced(second) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]
        assert sales_of(orders[index])[-1] == (2, "pending", D("37.44"))
    assert stored(blocked) == SEATTLE_AT_1035
    assert repriced(blocked) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]
    assert not Payment.objects.filter(occurrence=blocked).exists()
    blocked.refresh_from_db()
    assert blocked.status == "scheduled"
    # Charged on a later run, the shipment is not taxed again nor audited twice.
    planted.delete()
    later = charges_prepare(
        occurrence_ids=[blocked.pk], run_date=blocked.ship_date - days(5), actor=ACTOR
    )
    assert prepared_amounts(later) == {blocked.pk: D("37.44")}
    assert repriced(blocked) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]


# --- The events of the entries written together -------------------------------------------


def _event_fields(event: OutboxEvent) -> tuple:
    entry = event.audit_entry
    return (
        event.type,
        event.topic,
        event.object_type,
        event.ordering_key,
        event.customer_id,
        event.reference,
        event.occurred_at == entry.at,
        event.object_id == entry.object_id,
    )


def test_a_slices_repriced_entries_make_the_events_a_shipment_repriced_alone_makes(
    tables, sell, today
):
    """A shipment taxed again by itself (audit_record) and one in a slice
    (audit_entries_insert): the same event, and the same data sent to a webhook."""
    alone_order, slice_order = sell(), sell()
    alone, in_slice = shipments(alone_order)[1], shipments(slice_order)[1]
    change_seattle_rates(tables, last_day=today + days(10))
    karen = alone_order.customer

    alone = Occurrence.objects.select_related("subscription").get(pk=alone.pk)
    assert occurrence_price_again(alone, subscription=alone.subscription, actor=ACTOR)
    charges_prepare(
        occurrence_ids=[in_slice.pk], run_date=in_slice.ship_date - days(5), actor=ACTOR
    )

    events = {}
    for shipment in (alone, in_slice):
        (entry,) = AuditEntry.objects.filter(action="shipment_repriced", object_id=str(shipment.pk))
        (events[shipment.pk],) = OutboxEvent.objects.filter(audit_entry=entry)
    expected = (
        "shipment.repriced",
        "shipment",
        "continuity.occurrence",
        f"customer:{karen.pk}",
        karen.pk,
        "",
        True,
        True,
    )
    assert _event_fields(events[alone.pk]) == expected
    assert _event_fields(events[in_slice.pk]) == expected
    data = {pk: outbox_event_data(event) for pk, event in events.items()}
    assert data[alone.pk] == {**data[in_slice.pk], "id": str(alone.pk)}
    assert data[in_slice.pk]["details"] == {"from": "37.40", "to": "37.44", "why": "tax_rates"}


def test_audit_record_writes_the_event_the_orm_wrote(tables, sell):
    """audit_record's one statement against the ORM's event (core.outbox._event) for the
    same entry: a status, an action with its model's prefix, an action with the topic's
    prefix, an order's reference, an entry without a customer."""
    order = sell()
    second = shipments(order)[1]
    subscription = second.subscription
    payment = Payment.objects.get(sales_order=order, operation="sale")
    cases = [
        dict(obj=order, action="status_change", from_status="open", to_status="submitted"),
        dict(obj=second, action="occurrence_rescheduled", details={"to": "2030-01-01"}),
        dict(obj=second, action="shipment_repriced", details={"from": "1", "to": "2"}),
        dict(obj=subscription, action="subscription_planned"),
        dict(obj=payment, action="payment_created", to_status="pending"),
        dict(obj=order, action="order_line_added", reason="x" * 255),
    ]
    for case in cases:
        for customer_id in (order.customer_id, None):
            entry = audit_record(actor=ACTOR, customer_id=customer_id, **case)
            saved = AuditEntry.objects.get(pk=entry.pk)
            assert (saved.at, saved.details, saved.reason) == (
                entry.at,
                entry.details,
                entry.reason,
            )
            event = OutboxEvent.objects.get(audit_entry_id=entry.pk)
            orm = _event(
                _topics[entry.object_type],
                entry,
                outbox_reference(entry.object_type, case["obj"]),
            )
            fields = (
                "type",
                "topic",
                "object_type",
                "object_id",
                "ordering_key",
                "customer_id",
                "occurred_at",
                "reference",
            )
            assert {name: getattr(event, name) for name in fields} == {
                name: getattr(orm, name) for name in fields
            }, case
            assert event.fanned_out is False
            assert event.event_id.startswith("evt_")


# --- What the arrays' casts let through ------------------------------------------------------


class LongJurisdictionProvider(TableTaxProvider):
    """An external provider naming the place at more length than a receipt keeps (120
    characters): the table's rates, a 130-character jurisdiction."""

    def line_taxes(self, **kwargs):
        from dataclasses import replace

        return [
            replace(
                tax, jurisdiction=(tax.jurisdiction + " " + "x" * 130) if tax.jurisdiction else ""
            )
            for tax in super().line_taxes(**kwargs)
        ]


def test_a_jurisdiction_too_long_to_store_refuses_the_charge_in_a_slice_as_alone(
    tables, sell, today, settings
):
    """A shipment whose new jurisdiction does not fit its column cannot be charged: by
    itself (an UPDATE through the ORM) the database refuses it; in a slice, the arrays'
    casts must not cut it to fit and charge it anyway."""
    orders = [sell() for _ in range(2)]
    seconds = [shipments(order)[1] for order in orders]
    before = [stored(second) for second in seconds]
    get_tax_provider.cache_clear()
    settings.TAX_PROVIDER = f"{__name__}.LongJurisdictionProvider"
    try:
        alone = Occurrence.objects.select_related("subscription").get(pk=seconds[0].pk)
        with pytest.raises(DatabaseError), transaction.atomic():
            occurrence_price_again(alone, subscription=alone.subscription, actor=ACTOR)

        preparation = charges_prepare(
            occurrence_ids=[second.pk for second in seconds],
            run_date=seconds[0].ship_date - days(5),
            actor=ACTOR,
        )
    finally:
        get_tax_provider.cache_clear()

    assert preparation.prepared == []
    assert sorted((r.occurrence_id, r.outcome) for r in preparation.results) == sorted(
        (second.pk, "error") for second in seconds
    )
    assert [stored(second) for second in seconds] == before
    assert all(repriced(second) == [] for second in seconds)
    assert not Payment.objects.filter(occurrence__in=seconds).exists()


def test_the_arrays_update_refuses_a_row_that_is_not_there(tables, sell):
    """The rowcount check: a shipment missing from the table fails the statement's caller
    (its savepoint undoes the others' rows), never passes as written."""
    order = sell()
    second = shipments(order)[1]
    ghost = Occurrence.objects.get(pk=second.pk)
    ghost.pk = ghost.id = 10**12
    second.tax_jurisdiction = "Written?"
    with pytest.raises(DatabaseError, match="1 of 2 rows"), transaction.atomic():
        rows_update_from_arrays(Occurrence, [second, ghost], ("tax_jurisdiction",))
    assert stored(second) == SEATTLE_SHIPMENT


# --- Races: another connection between the lock and the write ------------------------------


@race
def test_a_ship_to_change_and_a_rate_change_while_a_slice_is_repriced_change_no_charge(
    tables, sell, today, monkeypatch
):
    """Thread A prepares the slice and is held just before its new prices are written
    (its shipments and subscriptions locked). Meanwhile another batch run skips the
    locked shipments, Seattle's new rate is edited (committed), and an agent moves the
    subscription to Spokane (waits for the lock). The charge is what A stored, once; the
    move then re-prices only the shipments not being charged."""
    import continuity.charging.prepare as prepare

    orders = [sell() for _ in range(2)]
    seconds = [shipments(order)[1] for order in orders]
    thirds = [shipments(order)[2] for order in orders]
    change_seattle_rates(tables, last_day=today + days(10))
    karen = orders[0].customer
    spokane = address(karen, city="Spokane", state="WA", postal_code="99201")
    run_date = seconds[0].ship_date - days(5)

    reached, release = threading.Event(), threading.Event()
    real_write = prepare.repriced_shipments_write

    def held_write(repriced_shipments):
        if threading.current_thread() is not threading.main_thread():
            reached.set()
            assert release.wait(30)
        return real_write(repriced_shipments)

    monkeypatch.setattr(prepare, "repriced_shipments_write", held_write)
    worker, outcome = in_thread(
        lambda: charges_prepare(
            occurrence_ids=[second.pk for second in seconds], run_date=run_date, actor=ACTOR
        )
    )
    try:
        assert reached.wait(30)
        # Another run: the shipments are locked, skipped, nothing written.
        other = charges_prepare(
            occurrence_ids=[second.pk for second in seconds], run_date=run_date, actor=ACTOR
        )
        assert (other.prepared, other.results) == ([], [])
        assert sorted(other.locked_elsewhere) == sorted(second.pk for second in seconds)
        # The rate edited in place, committed now.
        TaxRate.objects.filter(jurisdiction=tables.seattle, rate=D("10.35")).update(rate=D("11"))
        from continuity.subscription_actions.card_and_ship_to import (
            subscription_change_ship_to,
        )

        mover, moved = in_thread(
            lambda: subscription_change_ship_to(
                subscription_id=seconds[0].subscription_id,
                address_id=spokane.pk,
                actor=ACTOR,
                reason_code="MOVED",
            )
        )
        mover.join(1.5)
        assert mover.is_alive(), "the move did not wait for the charge's lock"
    finally:
        release.set()
        worker.join(30)
    mover.join(30)
    assert "error" not in outcome, outcome
    assert "error" not in moved, moved

    charged = prepared_amounts(outcome["value"])
    for order, second in zip(orders, seconds, strict=True):
        assert stored(second) == SEATTLE_AT_1035
        assert charged[second.pk] == stored_amount(second) == D("37.44")
        assert repriced(second) == [{"from": "37.40", "to": "37.44", "why": "tax_rates"}]
        assert sales_of(order)[-1] == (2, "pending", D("37.44"))
    # The move came after the charge: the charging shipment keeps its Seattle price and
    # ship-to; the next one is taxed for Spokane (Washington, 6.5 %: 36.14).
    seconds[0].refresh_from_db()
    assert seconds[0].priced_ship_to_id != spokane.pk
    assert stored(thirds[0])[5] == "36.14"
    assert [e["why"] for e in repriced(thirds[0])] == ["ship_to"]
    assert repriced(thirds[1]) == []


@pytest.mark.parametrize(
    "rates",
    [(None, None), (None, D("999.9999")), (D("0.0000"), D("12.3456"))],
    ids=["all-null", "null-and-max", "values"],
)
def test_the_arrays_carry_nulls_edge_rates_and_any_text_as_written(tables, sell, rates):
    """Lines' tax fields through the arrays (psycopg's adaptation and the casts): a rate
    NULL in every row or in one, the largest rate a column holds, empty and awkward
    strings; each row reads back exactly what was written, and nothing else changes."""
    order = sell()
    lines = list(
        OccurrenceLine.objects.filter(occurrence__subscription__parent_order=order).order_by("pk")[
            :2
        ]
    )
    texts = [("", 'NULL "quoted", {braced} \\ back\'s'), ("NULL", "")]
    for line, rate, (group, place) in zip(lines, rates, texts, strict=True):
        line.tax_rate, line.tax_group, line.tax_jurisdiction = rate, group, place
    rows_update_from_arrays(OccurrenceLine, lines, OccurrenceLine.TAX_FIELDS)
    for line, rate, (group, place) in zip(lines, rates, texts, strict=True):
        again = OccurrenceLine.objects.get(pk=line.pk)
        assert (again.tax_rate, again.tax_group, again.tax_jurisdiction) == (rate, group, place)
        assert (again.tax_amount, again.gross_amount) == (line.tax_amount, line.gross_amount)


def test_a_rate_beyond_its_column_is_refused_not_cut(tables, sell):
    """A rate of more digits than its column holds fails the statement (as the ORM's
    UPDATE does); one of more places is rounded to the column's four (as the ORM's is)."""
    order = sell()
    line = OccurrenceLine.objects.filter(occurrence__subscription__parent_order=order).first()
    line.tax_rate = D("1000.0000")
    with pytest.raises(DatabaseError), transaction.atomic():
        rows_update_from_arrays(OccurrenceLine, [line], ("tax_rate",))
    line.tax_rate = D("10.123456")
    rows_update_from_arrays(OccurrenceLine, [line], ("tax_rate",))
    orm = OccurrenceLine.objects.filter(occurrence__subscription__parent_order=order).last()
    OccurrenceLine.objects.filter(pk=orm.pk).update(tax_rate=D("10.123456"))
    rates = OccurrenceLine.objects.filter(pk__in=[line.pk, orm.pk]).values_list(
        "tax_rate", flat=True
    )
    assert list(rates) == [D("10.1235")] * 2


# --- make run's SQLite: the slice's prices written row by row -------------------------------

SQLITE_SLICE = """
import datetime
from decimal import Decimal as D
from core.actors import Actor
from core.dates import business_date
from core.models import AuditEntry, OutboxEvent
from continuity.charging import charges_prepare
from continuity.models import Occurrence, OccurrenceLine
from customers.models import Customer
from devdata.demo import demo_data_load
from orders.models import TaxRate
from orders.services import (
    sales_order_complete, sales_order_create, sales_order_line_add, sales_order_payment_set,
    sales_order_submit,
)
from payments.services import card_add
from tests.factories import DeliveryModeFactory, tax_tables_seattle_and_france

demo_data_load(pricing=False)
tables = tax_tables_seattle_and_france()
DeliveryModeFactory(code="STANDARD", name_en="Standard", name_fr="Standard",
    amount=D("5.95"), free_above=D("50.00"), is_default=True)
actor = Actor.job("sqlite")
karen = Customer.objects.get(account_number="004021")
seconds = []
for _ in range(2):
    order = sales_order_create(customer=karen, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    card = card_add(customer=karen, card_number="4242 4242 4242 4242", expiry_month=12,
        expiry_year=business_date().year + 3, security_code="737", name_on_card="K B",
        actor=actor)
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor)
    order = sales_order_submit(order_id=order.pk, actor=actor)
    seconds.append(Occurrence.objects.filter(subscription__parent_order=order)
        .order_by("sequence")[1])
last_day = business_date() + datetime.timedelta(days=10)
for rate in TaxRate.objects.filter(jurisdiction=tables.seattle):
    rate.effective_to = last_day
    rate.save(update_fields=["effective_to"])
    TaxRate.objects.create(jurisdiction=tables.seattle, group=rate.group, rate=D("10.35"),
        effective_from=last_day + datetime.timedelta(days=1))
preparation = charges_prepare(occurrence_ids=[s.pk for s in seconds],
    run_date=seconds[0].ship_date - datetime.timedelta(days=5), actor=actor)
print("results", preparation.results)
for charge in sorted(preparation.prepared, key=lambda c: c.occurrence_id):
    occurrence = Occurrence.objects.get(pk=charge.occurrence_id)
    lines = OccurrenceLine.objects.filter(occurrence=occurrence).order_by("line_number")
    entries = AuditEntry.objects.filter(action="shipment_repriced", object_id=str(occurrence.pk))
    print("charged", charge.payment.amount, "stored", occurrence.amount, occurrence.status,
        [str(line.tax_amount) for line in lines], [e.details for e in entries],
        OutboxEvent.objects.filter(audit_entry__in=entries, type="shipment.repriced").count())
"""


def test_make_runs_sqlite_writes_a_slices_new_prices_as_it_charges_them(tmp_path):
    """On SQLite (`make run`), repriced_shipments_write goes row by row: the same stored
    amounts, lines, entries and events, and the sales charge them."""
    import subprocess

    from tests.sqlite_run import ROOT, sqlite_migrated

    manage, env = sqlite_migrated(tmp_path)
    ran = subprocess.run(
        [*manage, "shell", "-c", SQLITE_SLICE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = ran.stdout.strip().splitlines()
    entry = "[{'from': '37.40', 'to': '37.44', 'why': 'tax_rates'}]"
    assert out[-3:] == [
        "results []",
        f"charged 37.44 stored 37.44 charging ['1.86', '1.03'] {entry} 1",
        f"charged 37.44 stored 37.44 charging ['1.86', '1.03'] {entry} 1",
    ]
