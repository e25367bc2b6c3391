"""PostgreSQL COPY for the large-data generators: the fastest way to write millions of
rows (the benchmarks' loads), with the values written as COPY's text format wants."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterable

from django.db import connections, models

# COPY's text format: a backslash, tab or line break inside a value must be escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":")).translate(_COPY_ESCAPES)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def copy_rows(
    model: type[models.Model], fields: tuple[str, ...], rows: Iterable[tuple], *, using="default"
) -> int:
    """COPY rows (values in the order of `fields`, model attribute names) into the
    model's table. Returns the number of rows."""
    columns = [model._meta.get_field(name).column for name in fields]
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write("\t".join(_copy_value(value) for value in row))
        buffer.write("\n")
        count += 1
    buffer.seek(0)
    with connections[using].cursor() as cursor:
        cursor.copy_expert(
            f'COPY "{model._meta.db_table}" ({", ".join(columns)}) FROM STDIN', buffer
        )
    return count
