"""Structured logs: the request id (taken from X-Request-ID when sane, else new) and the
user on the request's lines, one access line per request, card data masked in every
line (tracebacks too), JSON in production and readable lines under DEBUG."""

import json
import logging
import re

import pytest
import structlog
from django.db import connection
from django.http import HttpRequest
from django.urls import reverse

from core.logs import console_formatter, log_context
from devdata.demo import DEMO_PASSWORD
from tests.api.conftest import token_client
from tests.log_capture import captured_log, json_lines
from tests.test_settings import run

NEW_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "continuity.access"]


# --- Request id, user, access line ---------------------------------------------------------


@pytest.mark.django_db
def test_a_request_id_sent_comes_back_and_the_access_line_carries_it_with_the_user(demo, client):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    with captured_log() as log:
        response = client.get(reverse("customers:service"), HTTP_X_REQUEST_ID="lb-7f3a.91:x_2")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "lb-7f3a.91:x_2"
    (line,) = json_lines(log.getvalue())
    assert line == {
        "timestamp": line["timestamp"],
        "level": "info",
        "logger": "continuity.access",
        "event": "request",
        "method": "GET",
        "path": "/",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "user": "agent",
        "user_id": demo_user_id("agent"),
        "request_id": "lb-7f3a.91:x_2",
    }
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])


def demo_user_id(username: str) -> int:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username).pk


@pytest.mark.django_db
def test_every_line_written_during_a_request_carries_its_id_and_then_none_does(
    demo, client, caplog
):
    assert client.login(request=HttpRequest(), username="agent", password=DEMO_PASSWORD)
    # Every SQL statement a line of its own: lines written by Django inside the request.
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    connection.force_debug_cursor = True
    try:
        with captured_log() as log:
            response = client.get(reverse("customers:service"), HTTP_X_REQUEST_ID="req-1")
            logging.getLogger("continuity.test").warning("after the request")
    finally:
        connection.force_debug_cursor = False

    assert response.status_code == 200
    *during, access, after = json_lines(log.getvalue())
    statements = [line for line in during if line["logger"] == "django.db.backends"]
    assert len(statements) == len(during) > 2
    assert {line["request_id"] for line in during} == {"req-1"}
    # The session's user is bound once authenticated: the view's statements name them.
    assert statements[-1]["user"] == "agent"
    assert (access["event"], access["request_id"], access["user"]) == ("request", "req-1", "agent")
    assert after == {
        "timestamp": after["timestamp"],
        "level": "warning",
        "logger": "continuity.test",
        "event": "after the request",
    }


@pytest.mark.django_db
def test_an_api_call_by_token_names_its_user_on_the_access_line(demo):
    from django.contrib.auth import get_user_model

    supervisor = get_user_model().objects.get(username="supervisor")
    api = token_client(supervisor)
    with captured_log() as log:
        response = api.get("/api/v1/items/", HTTP_X_REQUEST_ID="api-42")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "api-42"
    (access,) = access_lines(json_lines(log.getvalue()))
    assert (access["path"], access["status"], access["request_id"]) == (
        "/api/v1/items/",
        200,
        "api-42",
    )
    assert (access["user"], access["user_id"]) == ("supervisor", supervisor.pk)


@pytest.mark.parametrize(
    "sent",
    [
        "x" * 129,  # too long
        "two words",
        "id\r\nX-Injected: 1",
        "<script>alert(1)</script>",
        '"quoted"',
        "-starts-with-a-dash",
        "4111-1111-1111-1111",  # a card number would be masked in the log: no id at all
    ],
)
@pytest.mark.django_db
def test_an_invalid_request_id_is_replaced_by_a_new_one(client, sent):
    with captured_log() as log:
        response = client.get(reverse("login"), HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    new = response["X-Request-ID"]
    assert NEW_REQUEST_ID.fullmatch(new)
    (access,) = access_lines(json_lines(log.getvalue()))
    assert (access["request_id"], access["user"], access["path"]) == (new, None, "/accounts/login/")
    assert sent not in log.getvalue()


@pytest.mark.django_db
def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.get(reverse("login"))["X-Request-ID"]
    second = client.get(reverse("login"))["X-Request-ID"]

    assert NEW_REQUEST_ID.fullmatch(first) and NEW_REQUEST_ID.fullmatch(second)
    assert first != second


# --- No card data ---------------------------------------------------------------------------


def test_a_card_number_logged_in_an_event_comes_out_masked():
    logger = structlog.get_logger("continuity.test")
    with captured_log() as log:
        logger.warning(
            "card 4111 1111 1111 1111 refused",
            card_number="4111111111111111",
            security_code="737",
            cvv=123,
            form={"card": "3782-822463-10005", "cvc": "7391", "expiry_month": 12},
            amount_cents=4111111111111111,
            note="typed as tok_4000000000000002, then '6011 1111 1111 1111 117'",
            cards=["4111 1111 1111 1111", ("5555555555554444", 12)],
            pan="4000056655665556",
            card_code="123",
            cvn="4321",
        )

    (line,) = json_lines(log.getvalue())
    assert line == {
        "timestamp": line["timestamp"],
        "level": "warning",
        "logger": "continuity.test",
        "event": "card ****1111 refused",
        "card_number": "[masked]",
        "security_code": "[masked]",
        "cvv": "[masked]",
        "form": {"card": "****0005", "cvc": "[masked]", "expiry_month": 12},
        "amount_cents": "****1111",
        "note": "typed as tok_****0002, then '****1117'",
        "cards": ["****1111", ["****4444", 12]],
        "pan": "[masked]",
        "card_code": "[masked]",
        "cvn": "[masked]",
    }


def test_a_card_number_in_an_exception_message_comes_out_masked():
    logger = logging.getLogger("continuity.test")
    with captured_log() as log:
        try:
            raise ValueError("gateway refused 5555-5555-5555-4444 (exp 12/29)")
        except ValueError:
            logger.exception("Charge of %s failed", "5555 5555 5555 4444")

    (line,) = json_lines(log.getvalue())
    assert line["event"] == "Charge of ****4444 failed"
    assert line["exception"].startswith("Traceback (most recent call last):\n")
    assert line["exception"].endswith("ValueError: gateway refused ****4444 (exp 12/29)")
    assert "5555" not in log.getvalue()


def test_a_card_number_in_the_console_format_is_masked_too():
    with captured_log(console_formatter()) as log:
        try:
            raise ValueError("bad card 4000 0000 0000 0002")
        except ValueError:
            structlog.get_logger("continuity.test").exception("failed", cvv="737")

    text = log.getvalue()
    assert "****0002" in text and "cvv=[masked]" in text
    assert "0000 0000" not in text and "737" not in text


@pytest.mark.parametrize(
    ("written", "logged"),
    [
        ("pasted 4111  1111  1111  1111 here", "pasted ****1111 here"),
        ("tabbed 4111\t1111\t1111\t1111", "tabbed ****1111"),
        ("no-break 4111\u00a01111\u00a01111\u00a01111", "no-break ****1111"),
        ("dotted 4111.1111.1111.1111", "dotted ****1111"),
        ("form 4111+1111+1111+1111&cvv=123", "form ****1111&cvv=[masked]"),
        ("url 4111%201111%201111%201111", "url ****1111"),
        ("glued x4111111111111111y", "glued x****1111y"),
        ("security code: 0412, CVC 987", "security code: [masked], CVC [masked]"),
    ],
)
def test_card_data_written_in_other_shapes_comes_out_masked(written, logged):
    with captured_log() as log:
        logging.getLogger("continuity.test").warning(written)

    (line,) = json_lines(log.getvalue())
    assert line["event"] == logged


def test_dates_times_amounts_and_identifiers_are_left_alone():
    logger = logging.getLogger("continuity.test")
    with captured_log() as log:
        logger.info("Run 2026-12-06 10:30 of 1,234 shipments: 27.98 USD, key occurrence-88-2")
        # A gateway reference whose digits are not a card's (the check digit fails).
        logger.info("Reference sim_9f3141592653589793a settled")

    first, second = json_lines(log.getvalue())
    assert (
        first["event"] == "Run 2026-12-06 10:30 of 1,234 shipments: 27.98 USD, key occurrence-88-2"
    )
    assert second["event"] == "Reference sim_9f3141592653589793a settled"


def test_context_bound_for_a_block_is_on_its_lines_only():
    logger = structlog.get_logger("continuity.test")
    with captured_log() as log:
        with log_context(batch_run_id=7, chunk=3):
            logger.info("inside")
            with log_context(chunk=4):
                logger.info("nested")
            logger.info("inside again")
        logger.info("outside")

    fields = [
        (line["event"], line.get("batch_run_id"), line.get("chunk"))
        for line in json_lines(log.getvalue())
    ]
    assert fields == [
        ("inside", 7, 3),
        ("nested", 7, 4),
        ("inside again", 7, 3),
        ("outside", None, None),
    ]


# --- Formats and settings (a process of their own: settings are read at start-up) ----------

LOG_A_LINE = (
    "import django, logging, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
    "django.setup(); logging.getLogger('continuity.test').warning('card %s refused', "
    "'4111 1111 1111 1111')"
)
KEY = "test-only-secret-key-not-for-production-0123456789-abcdefghij"


def log_a_line(**env) -> str:
    finished = run(LOG_A_LINE, LOG_FORMAT=env.pop("LOG_FORMAT", ""), **env)
    assert finished.returncode == 0, finished.stderr
    return finished.stderr


def test_debug_logs_readable_lines_not_json():
    text = log_a_line(DEBUG="true")

    (line,) = text.splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\S+Z \[warning\s*\] card \*\*\*\*1111 refused\s+\[continuity\.test\]",
        line,
    )


def test_production_logs_json_lines():
    (line,) = json_lines(log_a_line(DEBUG="false", SECRET_KEY=KEY))

    assert {key: line[key] for key in ("level", "logger", "event")} == {
        "level": "warning",
        "logger": "continuity.test",
        "event": "card ****1111 refused",
    }


@pytest.mark.parametrize(
    ("env", "is_json"),
    [
        ({"DEBUG": "true", "LOG_FORMAT": "json"}, True),
        ({"DEBUG": "false", "SECRET_KEY": KEY, "LOG_FORMAT": "Console"}, False),
    ],
)
def test_log_format_overrides_the_default(env, is_json):
    (line,) = log_a_line(**env).splitlines()

    assert line.startswith("{") is is_json
    assert "card ****1111 refused" in line


def test_log_level_hides_lines_below_it():
    assert log_a_line(DEBUG="true", LOG_LEVEL="error") == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be json or console, not 'xml'."),
        (
            {"LOG_LEVEL": "loud"},
            "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'.",
        ),
    ],
)
def test_bad_log_settings_are_refused_by_name(env, message):
    finished = run("import config.wsgi", DEBUG="true", **env)

    assert finished.returncode != 0
    assert message in finished.stderr
