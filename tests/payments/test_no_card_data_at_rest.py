"""No card data at rest: after cards are added and charged through the services,
neither the application log (its records, and the JSON lines written from them) nor a
full dump of the database holds a card number or a security code. (Cards typed into the
pages, and the broker's messages, are scanned by
tests/web/test_no_card_data_through_pages.py with the same scanner.)"""

import logging
import re
import subprocess
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from core.dates import business_date
from orders.services import sales_order_submit
from payments.models import Payment
from payments.services import (
    PaymentDeclined,
    PaymentOutcomeUnknown,
    card_add,
    payment_reconcile,
    payment_refund,
)
from tests.card_data_scan import luhn_numbers, secret_hits, security_code_pick, whole_numbers
from tests.log_capture import scanned_text
from tests.payments.support import (
    APPROVE,
    SOFT_DECLINE,
    TIMEOUT_AFTER_CHARGE,
    karen,
    order_ready,
)

MASTERCARD = "5555 5555 5555 4444"
AMEX = "3782 822463 10005"
NOT_LUHN = "4111 1111 1111 1112"
EXPIRY_YEAR = business_date().year + 3


def add_card(actor, number, code, **overrides):
    values = {
        "customer": karen(),
        "card_number": number,
        "expiry_month": 1,
        "expiry_year": EXPIRY_YEAR,
        "security_code": code,
        "name_on_card": "Karen Berg",
        "actor": actor,
    }
    values.update(overrides)
    return card_add(**values)


def add_cards_good_and_bad(actor, *, visa_code, mastercard_code, amex_code):
    """Cards as agents type them, accepted and refused; returns the accepted ones."""
    cards = {
        "visa": add_card(actor, APPROVE, visa_code),
        "mastercard": add_card(actor, MASTERCARD, mastercard_code),
        "amex": add_card(actor, AMEX, amex_code),
        "declines": add_card(actor, SOFT_DECLINE, visa_code),
        "times_out": add_card(actor, TIMEOUT_AFTER_CHARGE, visa_code),
    }
    refused = [
        {"number": NOT_LUHN, "code": visa_code},
        {"number": APPROVE, "code": visa_code[:2]},
        {"number": AMEX, "code": visa_code},  # an Amex code has 4 digits
        {"number": MASTERCARD, "code": mastercard_code, "expiry_year": 2019},
        {"number": APPROVE, "code": visa_code, "name_on_card": " "},
    ]
    for attempt in refused:
        overrides = {key: value for key, value in attempt.items() if key not in ("number", "code")}
        with pytest.raises(ValidationError):
            add_card(actor, attempt["number"], attempt["code"], **overrides)
    return cards


def pay_with(actor, cards):
    """Charge, decline, time out, reconcile and refund: every path that reaches the
    gateway with a token."""
    approved = order_ready(actor, card=cards["visa"])
    sales_order_submit(order_id=approved.pk, actor=actor)
    sale = Payment.objects.get(sales_order=approved)
    payment_refund(payment_id=sale.pk, amount=Decimal("5.00"), actor=actor)
    declined = order_ready(actor, card=cards["declines"])
    with pytest.raises(PaymentDeclined):
        sales_order_submit(order_id=declined.pk, actor=actor)
    unknown = order_ready(actor, card=cards["times_out"])
    with pytest.raises(PaymentOutcomeUnknown):
        sales_order_submit(order_id=unknown.pk, actor=actor)
    payment_reconcile(payment_id=Payment.objects.get(sales_order=unknown).pk, actor=actor)


TYPED_NUMBERS = [APPROVE, MASTERCARD, AMEX, SOFT_DECLINE, TIMEOUT_AFTER_CHARGE, NOT_LUHN]


def sequence_windows(span=200) -> set[int]:
    """Every value the database's sequences may hand out during a test: ids that would
    otherwise be mistaken for a security code.

    Row ids still under 1000 are moved to 1000 first: with some fifty tables, each id
    sequence's window of 200 would otherwise cover every 3-digit code after a whole
    suite. Document numbers (SO-, INV-) keep their sequences; only id sequences move,
    and an id's value is never something a test relies on."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT setval(format('%I.%I', schemaname, sequencename), 1000) "
            "FROM pg_sequences WHERE sequencename LIKE '%%\\_id\\_seq' "
            "AND COALESCE(last_value, 0) < 1000"
        )
        cursor.execute("SELECT last_value FROM pg_sequences WHERE last_value IS NOT NULL")
        values = [row[0] for row in cursor.fetchall()]
    return {value for last in [0, *values] for value in range(last, last + span)}


# --- the log ------------------------------------------------------------------------------


def log_text(records) -> str:
    """What the log handlers would write: each message with its traceback, if any, minus
    the traceback's source line numbers (not data, and any number can be one)."""
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
    return re.sub(r", line \d+", ", line N", "\n".join(parts))


@pytest.fixture
def everything_logged(caplog):
    """Every logger at DEBUG, and SQL statements logged with their parameters (as with
    DEBUG on), so that a number passed to the database would show too."""
    for name in ["", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    forced = {alias: connections[alias].force_debug_cursor for alias in ("default", "gateway")}
    for alias in forced:
        connections[alias].force_debug_cursor = True
    yield caplog
    for alias, value in forced.items():
        connections[alias].force_debug_cursor = value


@pytest.mark.django_db
def test_adding_and_charging_cards_logs_no_card_number_and_no_security_code(
    demo, actor, everything_logged, written_log
):
    # A first card shows which numbers the log holds anyway (ids of the customer, the
    # agent, the rows being written); the codes used below are none of them.
    add_card(actor, "4111 1111 1111 1111", "999")
    avoid = (
        whole_numbers(log_text(everything_logged.records))
        | whole_numbers(scanned_text(written_log.getvalue()))
        | sequence_windows()
        | {999}
    )
    codes = {
        "visa_code": security_code_pick(digits=3, avoid=avoid, preferred=["846"]),
        "amex_code": security_code_pick(digits=4, avoid=avoid, preferred=["7391"]),
    }
    codes["mastercard_code"] = security_code_pick(
        digits=3, avoid=avoid | {int(codes["visa_code"])}, preferred=["592"]
    )
    everything_logged.clear()
    written_log.seek(0)
    written_log.truncate()

    cards = add_cards_good_and_bad(actor, **codes)
    pay_with(actor, cards)

    text = log_text(everything_logged.records)
    assert len(everything_logged.records) > 50  # the statements were logged: there was text
    assert "tok_sim_" in text
    assert luhn_numbers(text) == []
    assert secret_hits(text, numbers=TYPED_NUMBERS, codes=codes.values()) == []
    written = scanned_text(written_log.getvalue())
    assert written.count("\n") > 50 and "tok_sim_" in written
    assert luhn_numbers(written) == []
    assert secret_hits(written, numbers=TYPED_NUMBERS, codes=codes.values()) == []


# --- the database -------------------------------------------------------------------------


def pg_dump() -> str:
    database = connections["default"].settings_dict
    env = {"PGPASSWORD": database["PASSWORD"]} if database["PASSWORD"] else {}
    finished = subprocess.run(
        [
            "pg_dump",
            "--host",
            database["HOST"] or "127.0.0.1",
            "--port",
            str(database["PORT"] or 5432),
            "--username",
            database["USER"],
            "--no-owner",
            database["NAME"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env},
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


# Sequences start again from 1: after a long session every 3-digit number would
# otherwise be some sequence's next value, and no code could be told apart from an id.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_a_full_database_dump_holds_no_card_number_and_no_security_code(demo, actor):
    # Codes that nothing already in the database, nor an id handed out during the test,
    # can be mistaken for.
    avoid = whole_numbers(pg_dump()) | sequence_windows()
    codes = {
        "visa_code": security_code_pick(digits=3, avoid=avoid, preferred=["846"]),
        "amex_code": security_code_pick(digits=4, avoid=avoid, preferred=["7391"]),
    }
    codes["mastercard_code"] = security_code_pick(
        digits=3, avoid=avoid | {int(codes["visa_code"])}, preferred=["592"]
    )

    cards = add_cards_good_and_bad(actor, **codes)
    pay_with(actor, cards)

    dump = pg_dump()
    # The dump holds what was written: tokens, last four digits, the payments' keys.
    assert cards["mastercard"].token in dump
    assert f"order-{Payment.objects.order_by('id').first().sales_order_id}-sale-1" in dump
    assert luhn_numbers(dump) == []
    assert secret_hits(dump, numbers=TYPED_NUMBERS, codes=codes.values()) == []
