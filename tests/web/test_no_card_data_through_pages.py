"""No card data at rest, through the pages: cards typed into the Add credit
card dialogs (the order summary's and the payment exceptions' change-card page), good
and refused; the order paid and a payment run queued on the real broker. Then a full
database dump, everything the application logged (its records, and the JSON lines the
log handler wrote from them, with request ids, users and fields), and the messages waiting
in the broker hold no card number and no security code, and no page shown after an error
repeats them."""

import base64
import json

import pytest
import redis
from django.conf import settings
from django.db import connections, transaction
from django.http import HttpRequest
from django.urls import reverse

from batch.models import BatchJob
from batch.services import batch_run_request
from batch.tasks import batch_run_enqueue
from continuity.models import Subscription
from core.actors import Actor
from core.dates import business_date
from devdata.demo import DEMO_PASSWORD
from payments.models import Card
from tests.card_data_scan import luhn_numbers, secret_hits, security_code_pick, whole_numbers
from tests.log_capture import json_lines, scanned_text
from tests.payments.test_no_card_data_at_rest import log_text, pg_dump, sequence_windows

GOOD = "4111 1111 1111 1111"
SECOND = "5555 5555 5555 4444"
NOT_LUHN = "4111 1111 1111 1112"
DECLINES = "4000 0000 0000 9987"
TYPED = [GOOD, SECOND, NOT_LUHN, DECLINES]
BATCH_QUEUE = "batch"


def broker_messages() -> list[str]:
    """The bodies of the messages waiting in the broker's batch queue, decoded."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    bodies = []
    for raw in client.lrange(BATCH_QUEUE, 0, -1):
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        bodies.append(json.dumps(message["headers"]) + body)
    return bodies


@pytest.fixture
def empty_batch_queue():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(BATCH_QUEUE)
    yield
    client.delete(BATCH_QUEUE)


def card_form(number, code, **overrides):
    values = {
        "card_number": number,
        "name_on_card": "Karen Berg",
        "expiry_month": "12",
        "expiry_year": str(business_date().year + 2),
        "security_code": code,
        "method": "Visa",
    }
    values.update(overrides)
    return values


# Sequences restart at 1, so no row id of this test can pass for a security code.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_cards_typed_into_the_pages_leave_no_trace(
    demo, client, caplog, written_log, empty_batch_queue
):
    import logging

    for name in ["", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    connections["default"].force_debug_cursor = True
    avoid = whole_numbers(pg_dump()) | sequence_windows()
    code = security_code_pick(digits=3, avoid=avoid, preferred=["846"])
    other_code = security_code_pick(digits=3, avoid=avoid | {int(code)}, preferred=["592"])
    codes = [code, other_code]

    # The agent's order: a refused card (its page must not echo it), then a good one.
    assert client.login(request=HttpRequest(), username="supervisor", password=DEMO_PASSWORD)
    order_url = client.post(reverse("customers:order_new", args=["004021"])).url
    number = order_url.rstrip("/").rsplit("/", 1)[-1]
    client.post(reverse("orders:line_add", args=[number]), {"quantity": 1, "item_number": "88000"})
    client.post(reverse("orders:complete", args=[number]))
    pages = []
    for refused in (card_form(NOT_LUHN, code), card_form(GOOD, code[:2])):
        response = client.post(reverse("orders:card_add", args=[number]), refused)
        assert response.status_code == 400
        pages.append(response.content.decode())
    assert (
        client.post(
            reverse("orders:card_add", args=[number]), card_form(DECLINES, code)
        ).status_code
        == 302
    )
    response = client.post(reverse("orders:card_add", args=[number]), card_form(GOOD, code))
    card = Card.objects.get(last4="1111")
    client.post(reverse("orders:payment_set", args=[number]), {"method": "Visa", "card": card.pk})
    assert client.post(reverse("orders:submit", args=[number])).status_code == 302

    # The supervisor's change-card page: a refused card, then a second good one.
    subscription = Subscription.objects.get(parent_order__number=number)
    change_url = reverse("exceptions:change_card", args=[subscription.pk])
    response = client.post(change_url, card_form(NOT_LUHN, other_code, method=""))
    assert response.status_code == 400
    pages.append(response.content.decode())
    assert client.post(change_url, card_form(SECOND, other_code, method="")).status_code == 302

    # A payment run queued on the real broker (no worker takes it here).
    with transaction.atomic():
        run = batch_run_request(job=BatchJob.PROCESS_PAYMENTS, actor=Actor.job("test"))
        batch_run_enqueue(run)
    messages = broker_messages()
    assert len(messages) == 1 and str(run.pk) in messages[0]

    texts = {
        "pages shown after an error": "\n".join(pages),
        "database dump": pg_dump(),
        "application log": log_text(caplog.records),
        "log lines written": scanned_text(written_log.getvalue()),
        "broker messages": "\n".join(messages),
    }
    assert "tok_sim_" in texts["database dump"]
    assert len(caplog.records) > 50
    # The lines were written, one a request with its user: the card pages' among them.
    card_posts = [
        line
        for line in json_lines(written_log.getvalue())
        if line["event"] == "request" and line["path"] == reverse("orders:card_add", args=[number])
    ]
    assert [(line["status"], line["user"]) for line in card_posts] == [
        (400, "supervisor"),
        (400, "supervisor"),
        (302, "supervisor"),
        (302, "supervisor"),
    ]
    for where, text in texts.items():
        assert luhn_numbers(text) == [], where
        assert secret_hits(text, numbers=TYPED, codes=codes) == [], where
    connections["default"].force_debug_cursor = False
