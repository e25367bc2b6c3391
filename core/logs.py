"""Structured logs: one JSON object a line in production, readable lines under `make run`.

Every log record, ours (structlog or the standard library's `logging`), Django's and
Celery's, goes through the same structlog processors (settings.LOGGING names the
formatters below): the context bound for the current request, batch chunk or Celery task
(request_id, user, batch_run_id, chunk, task_id, ...), a level, a logger name and a UTC
timestamp; then every card-like number and every card field is masked, tracebacks
included, and the line is rendered as JSON or for a console.

Context is bound with contextvars (`log_context`), so it reaches every line written while
it is bound, whichever logger writes it. A thread started meanwhile does not inherit it:
run the thread's work in `contextvars.copy_context()` to keep it.

Code writes new lines with `structlog.get_logger(__name__)` and fields
(`logger.info("batch chunk done", shipments=12)`); lines of the standard library's
loggers carry the same context.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.config
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import structlog

from core.cardnumbers import luhn_valid

F = TypeVar("F", bound=Callable[..., Any])

# --- Masking card data --------------------------------------------------------------------

# A run of digits written as card numbers are: plain, or in groups of three or more joined
# by one space or dash ("4111 1111 1111 1111", "3782-822463-10005"), standing alone (not
# glued to a letter or a digit: "card=4111...", "'4111...'", "tok_4111..."). A group of one
# or two digits ends a run, so that dates ("2026-12-06 10:00") do not chain into long
# numbers; the decimals of a fraction ("in 0.3031175749999875s") and digits inside an
# identifier (the hexadecimal "sim_9f31415926535897932a") are not runs either. The card
# data scan of the tests (tests/card_data_scan.py) looks for numbers the same way.
# Between groups, what a paste or an encoded form puts there too: spaces of any kind
# (tabs, no-break spaces, two of them), dots, slashes, underscores, a plus or "%20".
_GROUP_JOIN = r"(?:[\s.+/_-]{1,2}|%20)"
_DIGIT_RUN = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9]\.)\d{3,}(?:" + _GROUP_JOIN + r"\d{3,})*(?![0-9A-Za-z])"
)
# A number glued to letters ("x4111111111111111", "card=tok4111...") is masked too when
# it has a card's length and passes the card check digit (Luhn): random identifiers rarely
# do both, so "sim_9f3141592653589793" keeps its digits.
_GLUED_RUN = re.compile(r"(?<![0-9])\d{13,19}(?![0-9])")
# A security code written in a sentence: "cvv 123", "CVC: 0412", "security code=987".
_CODE_IN_TEXT = re.compile(
    r"((?:cvv2?|cvc2?|cvn|security[ _-]?code|card[ _-]?code)\W{0,3})\d{3,4}(?![0-9])",
    re.IGNORECASE,
)
# Card numbers have 13 to 19 digits; a longer run may hold one followed by other digits.
CARD_DIGITS_MIN = 13
# Fields whose value is card data whatever it looks like.
_CARD_FIELD = re.compile(r"card_?num|cvv|cvc|cvn|security_?code|card_?code|^pan$", re.IGNORECASE)
MASKED = "[masked]"


def _mask_run(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    if len(digits) < CARD_DIGITS_MIN:
        return match.group()
    # The last four digits tell cards apart and are shown on every page anyway.
    return "****" + digits[-4:]


def _mask_glued(match: re.Match) -> str:
    digits = match.group()
    return "****" + digits[-4:] if luhn_valid(digits) else digits


def mask_card_numbers(text: str) -> str:
    """`text` with every run of 13 or more digits (a card number, as typed or stored)
    replaced by **** and its last four digits, and a security code named in the text
    replaced by [masked]."""
    text = _DIGIT_RUN.sub(_mask_run, text)
    text = _GLUED_RUN.sub(_mask_glued, text)
    return _CODE_IN_TEXT.sub(lambda match: match.group(1) + MASKED, text)


def has_card_like_number(text: str) -> bool:
    return mask_card_numbers(text) != text


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_card_numbers(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10 ** (CARD_DIGITS_MIN - 1) else mask_card_numbers(str(value))
    if isinstance(value, Mapping):
        return {
            key: MASKED if _CARD_FIELD.search(str(key)) else _masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(item) for item in value]
    # Anything else would be written as its text by the renderer: mask that text.
    return mask_card_numbers(str(value))


def mask_card_data(logger: Any, method_name: str, event_dict: dict) -> dict:
    """Processor: no card number and no card field value in any part of a line. Runs
    after tracebacks are turned into text (format_exc_info), so they are masked too."""
    return _masked(event_dict)


# --- Processors and formatters ------------------------------------------------------------

# What every line gets, whoever wrote it: the bound context, level, logger, time.
_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _formatter(*rendering) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        # Records of the standard library's loggers (Django's, Celery's, ours).
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_card_data,
            *rendering,
        ],
    )


# A person reading a JSON line looks for these first.
_LEADING_FIELDS = ("timestamp", "level", "logger", "event")


def _leading_fields_first(logger: Any, method_name: str, event_dict: dict) -> dict:
    leading = {key: event_dict.pop(key) for key in _LEADING_FIELDS if key in event_dict}
    return {**leading, **event_dict}


def json_formatter() -> logging.Formatter:
    """One JSON object a line, for log collectors (DEBUG off, or LOG_FORMAT=json)."""
    return _formatter(_leading_fields_first, structlog.processors.JSONRenderer())


def console_formatter() -> logging.Formatter:
    """Aligned, readable lines for a terminal (DEBUG on, or LOG_FORMAT=console); colours
    only when standard error is a terminal, so that a file or a pipe gets plain text."""
    return _formatter(
        structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )


def configure(logging_settings: dict) -> None:
    """settings.LOGGING_CONFIG: structlog's own loggers hand their events to the standard
    library's handlers, whose formatters (above) render every line; then settings.LOGGING
    is applied. Django calls it at start-up; Celery's worker and beat through its
    setup_logging signal (config/celery.py), instead of setting up their own."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(logging_settings)


# --- Context --------------------------------------------------------------------------------


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every log line written inside the block (in this thread or task),
    then restore what was bound before."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield


def logged_with(**fields_from: str) -> Callable[[F], F]:
    """Decorator of a function with keyword-only arguments: every line logged during a
    call carries the named arguments as fields, e.g.
    @logged_with(batch_run_id="run_id", chunk="chunk_number")."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def logged(*args, **kwargs):
            with log_context(**{field: kwargs[name] for field, name in fields_from.items()}):
                return function(*args, **kwargs)

        return logged  # type: ignore[return-value]

    return decorate


# --- Request ids ----------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or a client may send as the request's id: short, and nothing a log reader
# or a header could be fooled by (no spaces, quotes, newlines or markup).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_from(header: str | None) -> str:
    """The id a request is logged under: the incoming X-Request-ID when it is sane (at
    most 128 letters, digits and . _ : -, no card-like number), otherwise a new one."""
    if header and _SANE_REQUEST_ID.fullmatch(header) and not has_card_like_number(header):
        return header
    while True:
        # A new id never starts or ends with 13 digits, which the log would mask (a few
        # random hexadecimal ids in a thousand do): another is drawn.
        new = uuid.uuid4().hex
        if not has_card_like_number(new):
            return new
