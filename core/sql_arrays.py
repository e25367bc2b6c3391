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
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from decimal import Decimal

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
    if isinstance(value, datetime.date | datetime.time | uuid.UUID):
        # Quoted: a time zone's "+" and a date's "-" are no array syntax, but quoting
        # costs nothing and leaves no doubt.
        return _text_element(value.isoformat() if not isinstance(value, uuid.UUID) else str(value))
    # Anything else (a timedelta, bytes, a lazy translation) is a programming error: said
    # at once rather than sent in a form PostgreSQL might read differently.
    raise TypeError(f"array_literal: no array element for {type(value).__name__} {value!r}")


def array_literal(values: Iterable) -> str:
    """`values` in PostgreSQL's array text format, for a parameter cast to an array type
    in the statement (`unnest(%s::bigint[])`, `= ANY(%s::bigint[])`). One dimension."""
    return "{" + ",".join(map(_element, values)) + "}"
