"""Attacks on the array literals that replaced psycopg2's ARRAY[...] parameters
(core.sql_arrays.array_literal, and its call sites in core.services, core.outbox,
core.notifications, continuity.child_order_rows, continuity.child_orders,
continuity.charging.record, continuity.pricing and payments.services.sending).

Two kinds of test: the literal against psycopg2's own adaptation of the same Python list
(what every call site bound before the change), both read back from real PostgreSQL
through the same cast; and the call sites themselves, fed awkward values, asserting the
exact rows written (or that the statement is refused and nothing is written).
"""

from __future__ import annotations

import datetime
import enum
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from continuity.models import Occurrence, OccurrenceLine, OccurrenceStatus, Subscription
from core.actors import Actor
from core.models import AuditEntry, Notification, NotificationKind, OutboxEvent
from core.notifications import NotificationEvent, notifications_add
from core.services import (
    AuditRows,
    audit_entries_insert,
    audit_entry_build,
    audit_record,
    audit_rows_insert,
)
from core.sql_arrays import array_literal, rows_update_from_arrays
from payments.gateways.base import DeclineCode, GatewayResult
from payments.models import Payment, PaymentStatus
from payments.services import payments_record_approvals
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.job("sql-array-attack")
D = Decimal
UTC = datetime.UTC

ATTACK_TEXTS = [
    "",
    " ",
    "   padded   ",
    "\t\n\r",
    "NULL",
    " NULL ",
    "null",
    '"NULL"',
    "\\N",
    "{}",
    "{",
    "}",
    "{1,2}",
    "a,b",
    '"',
    '""',
    "\\",
    "\\\\",
    '\\"',
    '"\\',
    "it's",
    "''",
    "'); DROP TABLE core_auditentry; --",
    "%s %(x)s %%",
    "ARRAY[1]",
    "\x01\x02\x1f\x7f",
    "line\nbreak",
    "\u2028\u2029",
    "\u200d\u200b\ufeff",
    "Zoë Ålesund 東京 🧾👍🏽 עברית",
    "e\u0301",
    '{"json": ["a", "b\\"c"], "n": null}',
    "x" * 100_000,
    None,
]

SELECT = "SELECT value FROM unnest(%s::{}[]) WITH ORDINALITY AS t(value, n) ORDER BY n"

# Not literals in the calls: makemessages would take them into the catalogue.
LAZY_TEXTS = ("Approved", "Seattle")


def _read(parameter, sql_type: str):
    """The values PostgreSQL reads from `parameter` cast to `sql_type`[], or the class of
    the database error that refused it."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SELECT.format(sql_type), [parameter])
            return [row[0] for row in cursor.fetchall()]
    except DatabaseError as error:
        return type(error).__name__


def old(values, sql_type: str):
    """Before the change: the Python list, adapted by psycopg2 (ARRAY[...] or '{}')."""
    return _read(list(values), sql_type)


def new(values, sql_type: str):
    return _read(array_literal(values), sql_type)


# --- The literal against psycopg2's adaptation ----------------------------------------------


@pytest.mark.parametrize("sql_type", ["varchar", "text"])
def test_every_awkward_text_comes_back_as_written_and_as_before(sql_type):
    assert new(ATTACK_TEXTS, sql_type) == old(ATTACK_TEXTS, sql_type) == ATTACK_TEXTS


def test_a_nul_character_is_refused_by_psycopg2_as_before():
    with pytest.raises(ValueError, match="NUL"):
        old(["a\x00b"], "varchar")
    with pytest.raises(ValueError, match="NUL"):
        new(["a\x00b"], "varchar")


def test_integers_at_and_beyond_the_column_range():
    values = [0, 1, -1, 2**63 - 1, -(2**63), None]
    assert new(values, "bigint") == old(values, "bigint") == values
    assert new([2**63], "bigint") == old([2**63], "bigint") == "DataError"
    assert new([2**31], "integer") == old([2**31], "integer") == "DataError"
    assert new([None, None], "bigint") == old([None, None], "bigint") == [None, None]
    assert new([], "bigint") == old([], "bigint") == []


def test_decimals_of_every_form_read_as_before():
    values = [
        D("12.34"),
        D("-0"),
        D("-0.00"),
        D("0E-10"),
        D("1E+2"),
        D("1.5E+30"),
        D("1E-30"),
        D("-12345678901234567890.123456789012345678901234567890"),
        D("0.005"),
        D("NaN"),
        None,
    ]
    got = [str(value) for value in new(values, "numeric")]
    # Compared as text: NaN is never equal to itself.
    assert got == [str(value) for value in old(values, "numeric")]
    assert got == [
        "12.34",
        "0",
        "0.00",
        "0E-10",
        "100",
        "1500000000000000000000000000000",
        "1E-30",
        "-12345678901234567890.123456789012345678901234567890",
        "0.005",
        "NaN",
        "None",
    ]


def test_a_decimal_infinity_is_infinity_now_where_psycopg2_sent_nan():
    """psycopg2 writes every non-finite Decimal as 'NaN'::numeric; the literal writes
    Infinity, which PostgreSQL 14+ reads as such (and a numeric(p, s) column refuses).
    No call site can bind one: DecimalField.get_db_prep_save refuses non-finite values
    and the child orders' sums come from numeric columns."""
    assert [str(value) for value in old([D("Infinity"), D("-Infinity")], "numeric")] == [
        "NaN",
        "NaN",
    ]
    assert [str(value) for value in new([D("Infinity"), D("-Infinity")], "numeric")] == [
        "Infinity",
        "-Infinity",
    ]


def test_booleans_stay_booleans_and_integers_integers():
    assert array_literal([True, 1, False, 0, None]) == "{t,1,f,0,NULL}"
    assert (
        new([True, False, None], "boolean")
        == old([True, False, None], "boolean")
        == [
            True,
            False,
            None,
        ]
    )
    assert new([1, 0], "boolean") == old([1, 0], "boolean") == [True, False]
    # A boolean in a bigint array is refused, before and now.
    assert isinstance(new([True], "bigint"), str)
    assert isinstance(old([True], "bigint"), str)


def test_an_integer_other_than_0_or_1_in_a_boolean_array_is_refused_now():
    """Latent only: ARRAY[2]::boolean[] was true; '{2}'::boolean[] is refused. No call
    site binds integers to a boolean array (BooleanField.get_db_prep_save makes bools;
    the child orders' flags are read from a boolean column)."""
    assert old([2], "boolean") == [True]
    assert new([2], "boolean") == "DataError"


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
MOMENTS = [
    datetime.datetime(2026, 12, 7, 17, 5, 9, 123456, tzinfo=UTC),
    datetime.datetime(
        2026,
        12,
        7,
        22,
        35,
        9,
        123456,
        tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
    ),
    datetime.datetime(
        2026, 12, 7, 9, 5, 9, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=-8))
    ),
    # The hour that happens twice in New York, its second time (fold=1: EST, -05:00).
    datetime.datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=1),
    # An offset with seconds.
    datetime.datetime(
        2026,
        12,
        7,
        5,
        30,
        15,
        tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30, seconds=15)),
    ),
    # Naive: the session's time zone (UTC, Django's connection setting under USE_TZ).
    datetime.datetime(2026, 12, 7, 17, 5, 9),
    datetime.datetime(1, 1, 1, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    None,
]


def test_datetimes_land_on_the_same_instant_as_before():
    got = new(MOMENTS, "timestamptz")
    assert got == old(MOMENTS, "timestamptz")
    assert got == [
        datetime.datetime(2026, 12, 7, 17, 5, 9, 123456, tzinfo=UTC),
        datetime.datetime(2026, 12, 7, 17, 5, 9, 123456, tzinfo=UTC),
        datetime.datetime(2026, 12, 7, 17, 5, 9, 123456, tzinfo=UTC),
        datetime.datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        datetime.datetime(2026, 12, 7, 0, 0, 0, tzinfo=UTC),
        datetime.datetime(2026, 12, 7, 17, 5, 9, tzinfo=UTC),
        datetime.datetime(1, 1, 1, tzinfo=UTC),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ]


class _ShopDate(datetime.date):
    """A date subclass (freezegun's FakeDate, a library's own date)."""


def test_dates_and_date_subclasses_as_before():
    values = [
        datetime.date(2026, 12, 7),
        _ShopDate(2026, 2, 28),
        datetime.date(1, 1, 1),
        datetime.date(9999, 12, 31),
        None,
    ]
    assert (
        new(values, "date")
        == old(values, "date")
        == [
            datetime.date(2026, 12, 7),
            datetime.date(2026, 2, 28),
            datetime.date(1, 1, 1),
            datetime.date(9999, 12, 31),
            None,
        ]
    )


def test_a_datetime_in_a_date_array_keeps_its_local_date_now():
    """Latent only: psycopg2 sent an aware datetime as timestamptz, which became a date in
    the session's time zone (UTC); the literal's text is read by date's input, which
    drops the time and its offset. No call site binds a datetime to a date array (the
    child orders' ship dates are read from a date column)."""
    late_evening = datetime.datetime(
        2026, 12, 7, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
    )
    assert old([late_evening], "date") == [datetime.date(2026, 12, 8)]
    assert new([late_evening], "date") == [datetime.date(2026, 12, 7)]


class _Colour(enum.StrEnum):
    RED = 'r"ed\\'


def test_choices_enums_and_safe_strings_are_their_values():
    values = [
        PaymentStatus.APPROVED,
        OccurrenceStatus.CHILD_CREATED,
        DeclineCode.LOST_CARD,
        _Colour.RED,
        mark_safe('<b>"safe"</b>\\'),
    ]
    expected = ["approved", "child_created", "lost_card", 'r"ed\\', '<b>"safe"</b>\\']
    assert new(values, "varchar") == old(values, "varchar") == expected


def test_a_lazy_string_is_a_type_error_now_where_it_was_a_database_error():
    """Latent only: psycopg2 cannot adapt a lazy translation either, but said so with a
    ProgrammingError (a DatabaseError, which child_orders_create and _approvals_record
    catch to go on one by one); array_literal raises TypeError, which they do not. No
    call site binds one (every text bound is built with str(), an f-string or read from a
    column; rows_update_from_arrays's CharField.get_db_prep_save makes a str)."""
    lazy = gettext_lazy(LAZY_TEXTS[0])
    assert old([lazy], "varchar") == "ProgrammingError"
    with pytest.raises(TypeError, match="array_literal"):
        array_literal([lazy])


def test_types_psycopg2_adapted_that_the_literal_writes_or_refuses():
    """An interval was written by psycopg2 and array_literal refuses it (latent: no call
    site binds one); the Json adapter of JSONField.get_db_prep_save is written as psycopg2
    wrote it (see the rows_update_from_arrays test of a JSON field below)."""
    from psycopg2.extras import Json

    assert old([datetime.timedelta(days=1, seconds=5)], "interval") == [
        datetime.timedelta(days=1, seconds=5)
    ]
    with pytest.raises(TypeError, match="array_literal"):
        array_literal([datetime.timedelta(days=1)])
    # Django's psycopg2 connection reads jsonb as its text.
    values = [Json({"a": 'b"c'}), Json(None), Json(["{", "}", "\\"]), None]
    assert old(values, "jsonb") == new(values, "jsonb")
    assert new(values, "jsonb")[0] == '{"a": "b\\"c"}'


# --- core.sql_arrays.rowsrows_update_from_arrays -------------------------------------------------


def _lines(order) -> list[OccurrenceLine]:
    return list(
        OccurrenceLine.objects.filter(occurrence__subscription__parent_order=order).order_by("pk")
    )


SHORT_TEXTS = [text for text in ATTACK_TEXTS if text is not None and len(text) <= 20]


def test_rows_update_from_arrays_writes_awkward_texts_exactly(sell):
    order = sell()
    lines = _lines(order)[: len(SHORT_TEXTS)]
    assert len(lines) >= 2
    # Every text of the attack list, in the lines' jurisdiction (120) and group (20).
    for start in range(0, len(SHORT_TEXTS), len(lines)):
        chunk = SHORT_TEXTS[start : start + len(lines)]
        for line, text in zip(lines, chunk, strict=False):
            line.tax_jurisdiction = text + "|" + text[::-1]
            line.tax_group = text
        rows_update_from_arrays(
            OccurrenceLine, lines[: len(chunk)], ("tax_group", "tax_jurisdiction")
        )
        for line, text in zip(lines, chunk, strict=False):
            again = OccurrenceLine.objects.get(pk=line.pk)
            assert (again.tax_group, again.tax_jurisdiction) == (text, text + "|" + text[::-1])


def test_rows_update_from_arrays_refuses_a_jurisdiction_too_long_and_cuts_only_spaces_as_the_orm(
    sell,
):
    order = sell()
    first, second = _lines(order)[:2]
    before = OccurrenceLine.objects.get(pk=first.pk).tax_jurisdiction
    first.tax_jurisdiction = "é" * 121
    with pytest.raises(DatabaseError), transaction.atomic():
        rows_update_from_arrays(OccurrenceLine, [first], ("tax_jurisdiction",))
    assert OccurrenceLine.objects.get(pk=first.pk).tax_jurisdiction == before
    # 120 characters and trailing spaces: the SQL standard's assignment drops the spaces,
    # for the arrays as for the ORM's UPDATE.
    padded = 'Seattle "WA" \\ ' + "x" * 105 + "     "
    assert len(padded) == 125
    first.tax_jurisdiction = padded
    rows_update_from_arrays(OccurrenceLine, [first], ("tax_jurisdiction",))
    OccurrenceLine.objects.filter(pk=second.pk).update(tax_jurisdiction=padded)
    stored = OccurrenceLine.objects.filter(pk__in=[first.pk, second.pk]).values_list(
        "tax_jurisdiction", flat=True
    )
    assert list(stored) == [padded[:120]] * 2


def test_rows_update_from_arrays_takes_a_lazy_string_and_decimal_forms_as_the_orm(sell):
    order = sell()
    first, second = _lines(order)[:2]
    first.tax_jurisdiction = gettext_lazy(LAZY_TEXTS[1])
    first.tax_rate = D("1E+1")
    second.tax_jurisdiction = mark_safe("Zoë's")
    second.tax_rate = D("-0")
    rows_update_from_arrays(OccurrenceLine, [first, second], ("tax_jurisdiction", "tax_rate"))
    rows = OccurrenceLine.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")
    assert [(row.tax_jurisdiction, str(row.tax_rate)) for row in rows] == [
        ("Seattle", "10.0000"),
        ("Zoë's", "0.0000"),
    ]
    # A float and more places than the column holds: rounded as the ORM's UPDATE rounds.
    first.tax_rate = 10.12345
    second.tax_rate = D("10.12345")
    rows_update_from_arrays(OccurrenceLine, [first, second], ("tax_rate",))
    arrays = [
        row.tax_rate
        for row in OccurrenceLine.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")
    ]
    OccurrenceLine.objects.filter(pk=first.pk).update(tax_rate=10.12345)
    OccurrenceLine.objects.filter(pk=second.pk).update(tax_rate=D("10.12345"))
    orm = [
        row.tax_rate
        for row in OccurrenceLine.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")
    ]
    assert arrays == orm == [D("10.1235"), D("10.1235")]


def test_rows_update_from_arrays_writes_booleans_and_null_foreign_keys(sell):
    order = sell()
    occurrences = list(
        Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")
    )[:2]
    was = [(o.prices_include_tax, o.priced_ship_to_id) for o in occurrences]
    assert all(flag is False for flag, _ship_to in was)
    # Untaxed shipments (no tax tables): amount = subtotal + delivery either way, so the
    # flag may change without breaking total_adds_up.
    assert all(o.tax_amount == 0 for o in occurrences)
    occurrences[0].prices_include_tax = True
    occurrences[0].priced_ship_to_id = None
    rows_update_from_arrays(Occurrence, occurrences, ("prices_include_tax", "priced_ship_to"))
    again = list(
        Occurrence.objects.filter(pk__in=[o.pk for o in occurrences])
        .order_by("sequence")
        .values_list("prices_include_tax", "priced_ship_to_id")
    )
    assert again == [(True, None), was[1]]


def test_rows_update_from_arrays_of_a_json_field_as_before(sell):
    """No caller passes a JSON field yet, but rows_update_from_arrays is written for any field:
    a JSONField's get_db_prep_save is psycopg2's Json adapter, which array_literal writes
    as the JSON text (found refused by this review; mended)."""
    order = sell()
    subscription = Subscription.objects.get(parent_order=order)
    subscription.plan = {**subscription.plan, "note": 'a "b" \\ {c}'}
    rows_update_from_arrays(Subscription, [subscription], ("plan",))
    assert Subscription.objects.get(pk=subscription.pk).plan["note"] == 'a "b" \\ {c}'


# --- Audit entries and their outbound events -------------------------------------------------

LABEL = 'O\'Brien "the {boss}", \\ NULL\n東京'
REASON = "NULL, {x} \"y\" \\z\t'w' " + "é" * 200


def test_audit_record_writes_awkward_texts_and_its_event(db):
    payment = PaymentFactory(status="pending", gateway_reference="")
    entry = audit_record(
        actor=Actor(label=LABEL, user_id=None),
        action="status_change",
        obj=payment,
        customer_id=payment.customer_id,
        from_status=PaymentStatus.PENDING,
        to_status=PaymentStatus.APPROVED,
        reason=REASON,
        details={"note": LABEL, "n": None, "list": ["{", "}", '"']},
    )
    row = AuditEntry.objects.get(pk=entry.pk)
    assert (
        row.actor_label,
        row.object_type,
        row.object_id,
        row.customer_id,
        row.from_status,
        row.to_status,
        row.reason,
        row.details,
    ) == (
        LABEL,
        "payments.payment",
        str(payment.pk),
        payment.customer_id,
        "pending",
        "approved",
        REASON,
        {"note": LABEL, "n": None, "list": ["{", "}", '"']},
    )
    events = list(
        OutboxEvent.objects.filter(audit_entry_id=entry.pk).values_list(
            "type", "object_id", "ordering_key"
        )
    )
    assert events == [("payment.approved", str(payment.pk), f"customer:{payment.customer_id}")]


def test_audit_entries_insert_keeps_each_instant_and_a_missing_customer(db):
    payment = PaymentFactory()
    moments = [
        datetime.datetime(
            2026, 12, 7, 22, 35, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
        ),
        datetime.datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),
    ]
    entries = []
    for moment, customer_id in zip(moments, [None, payment.customer_id], strict=True):
        entry = audit_entry_build(
            actor=ACTOR,
            action="status_change",
            obj=payment,
            customer_id=customer_id,
            to_status=PaymentStatus.APPROVED,
        )
        entry.at = moment
        entries.append(entry)
    audit_entries_insert(entries)
    rows = list(
        AuditEntry.objects.filter(object_type="payments.payment", object_id=str(payment.pk))
        .order_by("pk")
        .values_list("at", "customer_id")
    )
    assert rows == [
        (datetime.datetime(2026, 12, 7, 17, 5, tzinfo=UTC), None),
        (datetime.datetime(2026, 3, 8, 7, 30, tzinfo=UTC), payment.customer_id),
    ]
    keys = list(
        OutboxEvent.objects.filter(object_id=str(payment.pk), type="payment.approved")
        .order_by("audit_entry_id")
        .values_list("ordering_key", "customer_id")
    )
    assert keys == [
        (f"payments.payment:{payment.pk}", None),
        (f"customer:{payment.customer_id}", payment.customer_id),
    ]


def test_audit_entries_insert_refuses_a_reason_too_long_and_writes_nothing(db):
    payment = PaymentFactory()
    entries = [
        audit_entry_build(actor=ACTOR, action="note", obj=payment, reason="r" * 255),
        audit_entry_build(actor=ACTOR, action="note", obj=payment, reason="r" * 256),
    ]
    before = (AuditEntry.objects.count(), OutboxEvent.objects.count())
    with pytest.raises(DatabaseError), transaction.atomic():
        audit_entries_insert(entries)
    assert (AuditEntry.objects.count(), OutboxEvent.objects.count()) == before


def test_audit_rows_insert_writes_awkward_details_and_statuses(db):
    payment = PaymentFactory()
    rows = AuditRows(
        actor=Actor(label=LABEL),
        at=datetime.datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
        reason=REASON,
    )
    rows.add(
        "status_change",
        "payments.payment",
        payment.pk,
        None,
        from_status=PaymentStatus.PENDING,
        to_status=PaymentStatus.APPROVED,
        details={"k": '\\"}{,NULL'},
    )
    audit_rows_insert(rows)
    row = AuditEntry.objects.get(
        object_type="payments.payment", object_id=str(payment.pk), actor_label=LABEL
    )
    assert (row.reason, row.customer_id, row.from_status, row.to_status, row.details) == (
        REASON,
        None,
        "pending",
        "approved",
        {"k": '\\"}{,NULL'},
    )
    assert (
        OutboxEvent.objects.filter(audit_entry_id=row.pk).values_list("type", flat=True).get()
        == "payment.approved"
    )


# --- Notifications ----------------------------------------------------------------------------


def test_notifications_add_writes_awkward_keys_and_contexts(db):
    payment = PaymentFactory()
    context = {"name": LABEL, "amount": "37.40", "empty": "", "nested": {"a": ["}", "{", None]}}
    key = 'charged:"x" {1,2} \\ NULL ' + "é" * 60
    notifications_add(
        [NotificationEvent(NotificationKind.CHARGED, key, payment.customer_id, context)]
    )
    row = Notification.objects.get(key=key)
    assert (row.kind, row.customer_id, row.context) == ("charged", payment.customer_id, context)


def test_notifications_add_refuses_a_key_too_long(db):
    payment = PaymentFactory()
    with pytest.raises(DatabaseError), transaction.atomic():
        notifications_add(
            [NotificationEvent(NotificationKind.CHARGED, "k" * 101, payment.customer_id, {})]
        )
    assert not Notification.objects.filter(key__startswith="kkkk").exists()


# --- Approved payments -------------------------------------------------------------------------


def test_payments_record_approvals_writes_awkward_references_and_messages(db):
    payments = [PaymentFactory(status="pending", gateway_reference="") for _ in range(2)]
    reference = "\"r,{e}f\\ NULL'" + "x" * 50
    assert len(reference) == 64
    message = "Approved\n" + 'é"\\' * 100
    payments_record_approvals(
        [
            (payments[0], GatewayResult(approved=True, reference=reference, message=message)),
            (payments[1], GatewayResult(approved=True, reference="NULL", message="")),
        ],
        actor=ACTOR,
    )
    rows = list(
        Payment.objects.filter(pk__in=[p.pk for p in payments])
        .order_by("pk")
        .values_list("status", "gateway_reference", "message")
    )
    assert rows == [("approved", reference, message[:255]), ("approved", "NULL", "")]


def test_payments_record_approvals_refuses_a_reference_too_long_and_writes_nothing(db):
    payment = PaymentFactory(status="pending", gateway_reference="")
    entries = AuditEntry.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        payments_record_approvals(
            [(payment, GatewayResult(approved=True, reference="r" * 65, message="ok"))],
            actor=ACTOR,
        )
    assert Payment.objects.values_list("status", "gateway_reference").get(pk=payment.pk) == (
        "pending",
        "",
    )
    assert AuditEntry.objects.count() == entries


# --- Child orders ------------------------------------------------------------------------------


def test_a_child_order_copies_an_awkward_jurisdiction_exactly(sell, today):
    from continuity.child_orders import child_orders_create
    from orders.models import SalesOrder

    order = sell()
    first = Occurrence.objects.filter(subscription__parent_order=order).order_by("sequence")[0]
    assert first.status == OccurrenceStatus.PAID
    jurisdiction = 'Seattle, "WA" {98101} \\ NULL\n' + "é" * 91
    assert len(jurisdiction) == 120
    Occurrence.objects.filter(pk=first.pk).update(tax_jurisdiction=jurisdiction)
    result = child_orders_create(groups=[[first.pk]], run_date=today, actor=ACTOR)
    assert result.problems == ()
    child = SalesOrder.objects.get(number=result.order_numbers[0])
    first.refresh_from_db()
    assert (
        child.tax_jurisdiction,
        child.total,
        child.subtotal,
        child.delivery_amount,
        child.tax_amount,
        child.prices_include_tax,
        child.requested_ship_date,
        child.parent_id,
        child.customer_id,
    ) == (
        jurisdiction,
        first.amount,
        first.subtotal,
        first.delivery_amount,
        first.tax_amount,
        False,
        first.ship_date,
        order.pk,
        order.customer_id,
    )
    assert first.status == OccurrenceStatus.CHILD_CREATED
    assert first.child_order_id == child.pk
    entry = AuditEntry.objects.get(action="order_created", object_id=str(child.pk))
    assert entry.details == {"number": child.number, "parent": order.pk, "occurrences": [first.pk]}
    assert json.loads(json.dumps(entry.details)) == entry.details


def test_a_lone_surrogate_is_refused_by_psycopg2_as_before():
    with pytest.raises(UnicodeEncodeError):
        old(["a\ud800b"], "varchar")
    with pytest.raises(UnicodeEncodeError):
        new(["a\ud800b"], "varchar")
