"""Arrays bound to a PostgreSQL statement as one text literal each.

Bulk writes (a batch chunk's orders, lines, audit entries, events, emails) send their
rows as arrays, a column each, that unnest() turns back into rows. Given a Python list,
psycopg2 writes `ARRAY[1, 2, 3, ...]` into the statement: an expression of one element
per value that PostgreSQL parses, type-checks and folds one by one. For a chunk's
thousands of values that was a fifth of the server's CPU in the child-order job (perf,
docs/benchmarks.md). `array_literal` writes the same values as one string in the
array's own text format (`'{1,2,3}'`), which the statement's cast (`%s::bigint[]`) reads
in a single call of the type's input function.

The statement keeps its cast: the literal is a plain string to psycopg2, which quotes it
as any other; inside it every text value is double-quoted with its backslashes and
double quotes escaped, so no value can end an element early or read as NULL.

`rows_update_from_arrays` writes model instances' new values that way, one UPDATE for
them all.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.db import DatabaseError, connection
from psycopg2.extras import Json


def _text_element(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return _text_element(value)
    if isinstance(value, bool):  # before int: True is an int
        return "t" if value else "f"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Json):
        # A JSONField's value as Django prepares it for psycopg2 (get_db_prep_save).
        return _text_element(value.dumps(value.adapted))
    if isinstance(value, uuid.UUID):
        return _text_element(str(value))
    if isinstance(value, datetime.date | datetime.time):
        # Quoted: a time zone's "+" and a date's "-" are no array syntax, but quoting
        # costs nothing and leaves no doubt.
        return _text_element(value.isoformat())
    # Anything else (a timedelta, bytes, a lazy translation) is a programming error: said
    # at once rather than sent in a form PostgreSQL might read differently.
    raise TypeError(f"array_literal: no array element for {type(value).__name__} {value!r}")


def array_literal(values: Iterable) -> str:
    """`values` in PostgreSQL's array text format, for a parameter cast to an array type
    in the statement (`unnest(%s::bigint[])`, `= ANY(%s::bigint[])`). One dimension."""
    return "{" + ",".join(map(_element, values)) + "}"


def rows_update_from_arrays(model, rows: list, names: tuple[str, ...]) -> None:
    """UPDATE `model`'s `rows` (instances) to their values of the fields `names`, in one
    statement on PostgreSQL: each field's values as an array of its column's type,
    matched by id (bulk_update writes a CASE per row and field, which costs more to build
    than to run). The caller holds the rows' locks: a row missing raises."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    pk = model._meta.pk
    arrays = [(pk, [row.pk for row in rows])] + [
        (item, [item.get_db_prep_save(getattr(row, item.attname), connection) for row in rows])
        for item in fields
    ]
    columns = ", ".join(f"{item.column} = source.{item.column}" for item in fields)
    # Each array as its column's type without its length or precision ("varchar", not
    # "varchar(120)"): an explicit cast to varchar(120)[] cuts a longer value to fit
    # without a word, where the ORM's UPDATE is refused; assigned to the column, it is
    # refused here too, and a numeric is rounded to the column's places as the ORM's is.
    unnest = ", ".join(
        f"%s::{item.db_type(connection).partition('(')[0]}[]" for item, _values in arrays
    )
    names_sql = ", ".join(item.column for item, _values in arrays)
    sql = (
        f"UPDATE {model._meta.db_table} AS target SET {columns} "
        f"FROM unnest({unnest}) AS source({names_sql}) "
        f"WHERE target.{pk.column} = source.{pk.column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [array_literal(values) for _item, values in arrays])
        if cursor.rowcount != len(rows):
            # Every row is locked by the caller: one missing is a bug, never a race.
            raise DatabaseError(
                f"{model._meta.db_table}: {cursor.rowcount} of {len(rows)} rows updated"
            )
