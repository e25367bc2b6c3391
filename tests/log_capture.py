"""Log output as the handlers write it: a handler with the project's formatter on the root
logger, writing to a StringIO, for as long as a test needs it."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

from core.logs import json_formatter


@contextlib.contextmanager
def captured_log(formatter: logging.Formatter | None = None) -> Iterator[io.StringIO]:
    """What the root logger's records would look like in production (JSON lines unless
    another formatter is given)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def json_lines(text: str) -> list[dict]:
    """Every line of `text` as the JSON object it must be."""
    return [json.loads(line) for line in text.splitlines()]


# Fields that hold timings, not data: any number can be one, a security code included.
_TIMING_FIELDS = ("timestamp", "duration_ms")


def scanned_text(text: str) -> str:
    """JSON log lines as a card data scan reads them: every field but the timings."""
    return "\n".join(
        json.dumps({key: value for key, value in line.items() if key not in _TIMING_FIELDS})
        for line in json_lines(text)
    )
