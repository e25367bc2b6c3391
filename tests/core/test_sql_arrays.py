"""core.sql_arrays: every value comes back from PostgreSQL as it was sent, whatever its
characters, and a type without an array element is refused."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from core.sql_arrays import array_literal

pytestmark = pytest.mark.django_db

NASTY_TEXTS = [
    "plain",
    "",
    " leading and trailing ",
    'a "quoted" word',
    "back\\slash",
    "\\",
    '\\"',
    "comma, brace } { and ( )",
    "NULL",
    "null",
    "it's",
    "'); DROP TABLE core_auditentry; --",
    "line\nbreak\tand tab",
    "Zoë, Ålesund, 東京",
    '{"json": ["a", "b\\"c"]}',
    None,
]


def _round_trip(values, sql_type: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value FROM unnest(%s::{sql_type}[]) WITH ORDINALITY AS t(value, n) ORDER BY n",
            [array_literal(values)],
        )
        return [row[0] for row in cursor.fetchall()]


def test_texts_come_back_exactly():
    assert _round_trip(NASTY_TEXTS, "text") == NASTY_TEXTS
    assert _round_trip(NASTY_TEXTS, "varchar") == NASTY_TEXTS


def test_the_literal_is_one_quoted_string_for_psycopg2():
    # The statement holds one parameter, whatever the values: no ARRAY[...] expression.
    with connection.cursor() as cursor:
        sql = cursor.mogrify("SELECT %s::text[]", [array_literal(["a", "b", None])])
    assert sql == b"""SELECT '{"a","b",NULL}'::text[]"""


def test_numbers_booleans_and_nulls():
    assert _round_trip([1, -2, 9_223_372_036_854_775_807, None], "bigint") == [
        1,
        -2,
        9_223_372_036_854_775_807,
        None,
    ]
    decimals = [Decimal("12.34"), Decimal("-0.01"), Decimal("1E+2"), Decimal("0"), None]
    assert _round_trip(decimals, "numeric") == [
        Decimal("12.34"),
        Decimal("-0.01"),
        Decimal("100"),
        Decimal("0"),
        None,
    ]
    assert _round_trip([True, False, None], "boolean") == [True, False, None]
    assert _round_trip([0.5, -1e16], "double precision") == [0.5, -1e16]


def test_dates_times_and_uuids():
    dates = [datetime.date(2026, 12, 7), None, datetime.date(1999, 1, 31)]
    assert _round_trip(dates, "date") == dates
    moment = datetime.datetime(2026, 12, 7, 17, 5, 9, 123456, tzinfo=datetime.UTC)
    paris = moment.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert _round_trip([moment, paris], "timestamptz") == [moment, moment]
    identifier = uuid.uuid4()
    assert _round_trip([identifier], "uuid") == [identifier]


def test_empty_array():
    assert array_literal([]) == "{}"
    assert _round_trip([], "bigint") == []


def test_a_generator_is_read_once():
    assert array_literal(value for value in (1, 2, 3)) == "{1,2,3}"


@pytest.mark.parametrize("value", [object(), b"bytes", {"a": 1}, [1, 2]])
def test_a_value_without_an_array_element_is_refused(value):
    with pytest.raises(TypeError, match="array_literal"):
        array_literal([1, value])
