"""Webhook delivery (core.webhooks) to a real HTTP server on 127.0.0.1: signed, retried
with backoff, in order per customer, dead after 24 hours, sent again by a supervisor,
and never sent twice at once."""

import datetime
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from core.models import (
    AuditEntry,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from core.services import AuditSubject, audit_entries_insert, audit_entry_build
from core.webhooks import backoff, webhook_deliveries_send, webhook_events_fan_out
from customers.models import Customer
from devdata.demo import DEMO_PASSWORD
from orders.models import SalesOrder
from orders.services import sales_order_create

ACTOR = Actor.job("test")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


# --- A receiver: http.server in a thread --------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """Records every POST; `answers[path](received, count)` says what to answer:
    (status, body, seconds to wait first). 200 "ok" by default."""

    def __init__(self):
        self.received: list[Received] = []
        self.answers = {}
        self.lock = threading.Lock()
        self.base = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def event_ids(self, path: str | None = None) -> list[str]:
        return [one.event["id"] for one in self.received if path in (None, one.path)]

    def answer(self, received: Received) -> tuple[int, bytes, float]:
        with self.lock:
            self.received.append(received)
            count = sum(1 for one in self.received if one.path == received.path)
        rule = self.answers.get(received.path)
        return rule(received, count) if rule else (200, b"ok", 0)


@pytest.fixture
def receiver():
    receiving = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, answer, wait = receiving.answer(Received(self.path, dict(self.headers), body))
            time.sleep(wait)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the sender gave up waiting (timeout)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # Two senders make 16 calls at once each: the default backlog (5) would refuse
        # some connections before the server accepts them.
        request_queue_size = 64

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiving.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield receiving
    server.shutdown()
    server.server_close()


def docs_verify_signature():
    """The verification snippet of docs/webhooks.md, as a receiver would paste it."""
    text = DOCS.read_text()
    code = text.split("<!-- verify-signature -->", 1)[1].split("```python\n", 1)[1]
    namespace = {}
    exec(code.split("```", 1)[0], namespace)
    return namespace["verify_signature"]


# --- Data ---------------------------------------------------------------------------------


@pytest.fixture
def quiet_outbox(demo):
    """The events written before the test count as sent already."""
    OutboxEvent.objects.update(fanned_out=True)


@pytest.fixture
def karen(quiet_outbox):
    return Customer.objects.get(account_number="004021")


@pytest.fixture
def other_customer(quiet_outbox):
    return Customer.objects.get(account_number="004022")


def endpoint(receiver, path="/hook", **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=receiver.url(path), **fields)


def new_order(customer) -> tuple[SalesOrder, OutboxEvent]:
    """An order started (event order.open) for `customer`."""
    order = sales_order_create(customer=customer, actor=ACTOR)
    return order, OutboxEvent.objects.get(object_id=str(order.pk), type="order.open")


def deliver() -> int:
    while webhook_events_fan_out():
        pass
    return webhook_deliveries_send()


def delivery_of(event: OutboxEvent, hook: WebhookEndpoint) -> WebhookDelivery:
    return WebhookDelivery.objects.get(event=event, endpoint=hook)


def attempts(delivery) -> list[tuple]:
    return list(
        WebhookAttempt.objects.filter(delivery=delivery)
        .order_by("id")
        .values_list("status_code", "answer", "error")
    )


def failing_for(event_ids: set[str]):
    def rule(received, count):
        if received.headers["Continuity-Event-Id"] in event_ids:
            return 500, b"boom", 0
        return 200, b"ok", 0

    return rule


# --- Sending ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_event_is_delivered_signed_with_the_endpoints_secret(receiver, karen):
    hook = endpoint(receiver)
    order, event = new_order(karen)

    assert deliver() == 1

    [received] = receiver.received
    assert received.path == "/hook"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Continuity-Event-Id"] == event.event_id
    assert received.headers["Continuity-Event-Type"] == "order.open"
    assert received.event == {
        "id": event.event_id,
        "type": "order.open",
        "created": event.occurred_at.isoformat(),
        "data": {
            "object": "order",
            "id": str(order.pk),
            "customer_id": karen.pk,
            "action": "order_created",
            "from_status": "",
            "to_status": "open",
            "reason": "",
            "details": {},
            "number": order.number,
        },
    }
    verify_signature = docs_verify_signature()
    signature = received.headers["Continuity-Signature"]
    assert verify_signature(hook.secret, signature, received.body)
    assert not verify_signature("whsec_another", signature, received.body)
    assert not verify_signature(hook.secret, signature, received.body.replace(b"open", b"paid"))
    stamp = int(signature.split(",")[0].removeprefix("t="))
    assert abs(stamp - time.time()) < 5
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10)):
        assert not verify_signature(hook.secret, signature, received.body)

    delivery = delivery_of(event, hook)
    assert (
        delivery.status,
        delivery.attempts,
        delivery.last_status_code,
        delivery.last_answer,
        delivery.ordering_key,
    ) == (WebhookDeliveryStatus.DELIVERED, 1, 200, "ok", f"customer:{karen.pk}")
    assert delivery.delivered_at is not None
    assert attempts(delivery) == [(200, "ok", "")]
    assert deliver() == 0
    assert len(receiver.received) == 1


@pytest.mark.django_db
def test_a_500_is_retried_after_the_backoff_and_delivered_later(receiver, karen):
    receiver.answers["/hook"] = lambda received, count: (
        (500, b"database down", 0) if count == 1 else (200, b"thanks", 0)
    )
    hook = endpoint(receiver)
    _order, event = new_order(karen)

    before = timezone.now()
    assert deliver() == 0
    delivery = delivery_of(event, hook)
    assert (
        delivery.status,
        delivery.attempts,
        delivery.last_status_code,
        delivery.last_answer,
    ) == (
        WebhookDeliveryStatus.PENDING,
        1,
        500,
        "database down",
    )
    wait = delivery.next_attempt_at - before
    assert datetime.timedelta(seconds=59) < wait < datetime.timedelta(seconds=65)

    assert deliver() == 0  # not due yet: nothing sent
    assert len(receiver.received) == 1

    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61), tick=True):
        assert deliver() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        WebhookDeliveryStatus.DELIVERED,
        2,
        200,
    )
    assert attempts(delivery) == [(500, "database down", ""), (200, "thanks", "")]
    assert receiver.event_ids() == [event.event_id, event.event_id]


def test_the_backoff_doubles_from_a_minute_to_an_hour():
    minutes = [backoff(attempt).total_seconds() / 60 for attempt in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.django_db
def test_an_endpoint_that_does_not_answer_in_time_is_a_timeout(receiver, karen, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.answers["/slow"] = lambda received, count: (200, b"too late", 2)
    hook = endpoint(receiver, "/slow")
    _order, event = new_order(karen)

    started = time.monotonic()
    assert deliver() == 0
    assert time.monotonic() - started < 1.9

    delivery = delivery_of(event, hook)
    assert (
        delivery.status,
        delivery.attempts,
        delivery.last_status_code,
        delivery.last_answer,
    ) == (
        WebhookDeliveryStatus.PENDING,
        1,
        None,
        "timeout",
    )
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.status_code, attempt.error, attempt.answer) == (None, "timeout", "")
    assert 400 <= attempt.duration_ms < 1900
    assert delivery.next_attempt_at > timezone.now() + datetime.timedelta(seconds=50)


@pytest.mark.django_db
def test_a_refused_connection_is_a_failed_attempt(receiver, karen):
    hook = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/nobody-listens")
    _order, event = new_order(karen)

    assert deliver() == 0

    delivery = delivery_of(event, hook)
    [(status_code, answer, error)] = attempts(delivery)
    assert (status_code, answer, delivery.status) == (None, "", WebhookDeliveryStatus.PENDING)
    assert "refused" in error.lower()


# --- Fan-out ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_endpoint_gets_the_events_it_chose_once(receiver, karen):
    every = endpoint(receiver, "/every")
    lines_only = endpoint(receiver, "/lines", event_types=["order.line_added"])
    orders_only = endpoint(receiver, "/orders", event_types=["order.*"])
    shipments_only = endpoint(receiver, "/shipments", event_types=["shipment.*"])
    inactive = endpoint(receiver, "/inactive", active=False)
    _order, event = new_order(karen)

    assert webhook_events_fan_out() == 1
    assert webhook_events_fan_out() == 0

    assert set(WebhookDelivery.objects.filter(event=event).values_list("endpoint", flat=True)) == {
        every.pk,
        orders_only.pk,
    }
    assert not WebhookDelivery.objects.filter(
        endpoint__in=[lines_only, shipments_only, inactive]
    ).exists()
    event.refresh_from_db()
    assert event.fanned_out


@pytest.mark.django_db
def test_an_endpoint_created_later_does_not_receive_older_events(receiver, karen):
    endpoint(receiver, "/first")
    _order, old_event = new_order(karen)
    deliver()

    later = endpoint(receiver, "/later")
    _order, new_event = new_order(karen)
    deliver()

    assert receiver.event_ids("/first") == [old_event.event_id, new_event.event_id]
    assert receiver.event_ids("/later") == [new_event.event_id]
    assert WebhookDelivery.objects.filter(endpoint=later).count() == 1


# --- Order per customer, dead deliveries, sending again --------------------------------


@pytest.mark.django_db
def test_a_customers_later_event_waits_while_an_earlier_one_fails(receiver, karen, other_customer):
    hook = endpoint(receiver)
    _first_order, first = new_order(karen)
    _second_order, second = new_order(karen)
    _other_order, other = new_order(other_customer)
    failing = {first.event_id}
    receiver.answers["/hook"] = failing_for(failing)

    assert deliver() == 1

    # Karen's second event was not sent; the other customer's was (in the same round as
    # her first, so in either order).
    assert sorted(receiver.event_ids()) == sorted([first.event_id, other.event_id])
    assert delivery_of(second, hook).attempts == 0
    assert delivery_of(second, hook).status == WebhookDeliveryStatus.PENDING

    failing.clear()
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61), tick=True):
        assert deliver() == 2

    assert receiver.event_ids()[2:] == [first.event_id, second.event_id]
    assert {delivery_of(event, hook).status for event in (first, second, other)} == {
        WebhookDeliveryStatus.DELIVERED
    }


@pytest.fixture
def dead_delivery(receiver, karen):
    """Karen's first event failed for good (its 24 hours are over); her second waits."""
    hook = endpoint(receiver)
    _order, first = new_order(karen)
    _order, second = new_order(karen)
    failing = {first.event_id}
    receiver.answers["/hook"] = failing_for(failing)
    deliver()
    dead = delivery_of(first, hook)
    WebhookDelivery.objects.filter(pk=dead.pk).update(
        first_attempt_at=timezone.now() - datetime.timedelta(hours=24, seconds=1),
        next_attempt_at=timezone.now(),
    )
    assert deliver() == 0
    dead.refresh_from_db()
    return dead, delivery_of(second, hook), failing


@pytest.mark.django_db
def test_a_delivery_failing_for_24_hours_is_dead_and_holds_back_its_customer(
    receiver, dead_delivery
):
    dead, waiting, _failing = dead_delivery

    assert (dead.status, dead.attempts, dead.last_status_code) == (
        WebhookDeliveryStatus.FAILED,
        2,
        500,
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2), tick=True):
        assert deliver() == 0
    assert len(receiver.received) == 2  # the dead one is not tried again
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (WebhookDeliveryStatus.PENDING, 0)


@pytest.fixture
def staff_client(client):
    def sign_in(username):
        user = get_user_model().objects.get(username=username)
        user.is_staff = True  # the admin site; what they may do there is their role's
        user.save(update_fields=["is_staff"])
        assert client.login(request=HttpRequest(), username=username, password=DEMO_PASSWORD)
        return client

    return sign_in


def changelist(model) -> str:
    return reverse(f"admin:core_{model._meta.model_name}_changelist")


@pytest.mark.django_db
def test_a_supervisor_sends_a_dead_delivery_again(receiver, dead_delivery, staff_client):
    dead, waiting, failing = dead_delivery
    client = staff_client("supervisor")
    page = client.get(reverse("admin:core_webhookdelivery_change", args=[waiting.pk]))
    assert page.status_code == 200
    blocker_link = reverse("admin:core_webhookdelivery_change", args=[dead.pk])
    assert f'<a href="{blocker_link}">{dead.pk}</a>' in page.content.decode()
    listing = client.get(changelist(WebhookDelivery), {"status": "failed"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [dead]

    answer = client.post(
        changelist(WebhookDelivery), {"action": "send_again", ACTION_CHECKBOX_NAME: [dead.pk]}
    )

    assert answer.status_code == 302
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.first_attempt_at) == (
        WebhookDeliveryStatus.PENDING,
        2,
        None,
    )
    assert dead.next_attempt_at <= timezone.now()
    entry = AuditEntry.objects.get(action="webhook_delivery_resent")
    assert (entry.actor_label, entry.object_id, entry.from_status, entry.to_status) == (
        "supervisor",
        str(dead.pk),
        "failed",
        "pending",
    )

    failing.clear()
    assert deliver() == 2
    dead.refresh_from_db()
    waiting.refresh_from_db()
    assert (dead.status, dead.attempts, waiting.status) == (
        WebhookDeliveryStatus.DELIVERED,
        3,
        WebhookDeliveryStatus.DELIVERED,
    )
    assert [row[0] for row in attempts(dead)] == [500, 500, 200]
    assert receiver.event_ids()[-2:] == [dead.event.event_id, waiting.event.event_id]


@pytest.mark.django_db
def test_discarding_a_dead_delivery_lets_the_later_ones_go(receiver, dead_delivery, staff_client):
    dead, waiting, _failing = dead_delivery
    client = staff_client("supervisor")

    answer = client.post(
        changelist(WebhookDelivery), {"action": "discard", ACTION_CHECKBOX_NAME: [dead.pk]}
    )

    assert answer.status_code == 302
    dead.refresh_from_db()
    assert dead.status == WebhookDeliveryStatus.DISCARDED
    assert AuditEntry.objects.filter(action="webhook_delivery_discarded").count() == 1
    assert deliver() == 1
    waiting.refresh_from_db()
    assert waiting.status == WebhookDeliveryStatus.DELIVERED
    assert receiver.event_ids()[-1] == waiting.event.event_id


@pytest.mark.django_db
def test_an_agent_may_not_send_a_delivery_again(receiver, dead_delivery, staff_client):
    dead, _waiting, _failing = dead_delivery
    client = staff_client("agent")
    before = WebhookDelivery.objects.filter(pk=dead.pk).values().get()

    assert client.get(changelist(WebhookDelivery)).status_code == 403
    answer = client.post(
        changelist(WebhookDelivery), {"action": "send_again", ACTION_CHECKBOX_NAME: [dead.pk]}
    )

    assert answer.status_code == 403
    assert WebhookDelivery.objects.filter(pk=dead.pk).values().get() == before
    assert not AuditEntry.objects.filter(action="webhook_delivery_resent").exists()


@pytest.mark.django_db
def test_endpoints_are_for_administrators_only(receiver, karen, staff_client):
    hook = endpoint(receiver)
    client = staff_client("supervisor")

    assert client.get(changelist(WebhookEndpoint)).status_code == 403
    assert client.post(reverse("admin:core_webhookendpoint_add"), {}).status_code == 403
    answer = client.post(
        changelist(WebhookEndpoint), {"action": "rotate_secret", ACTION_CHECKBOX_NAME: [hook.pk]}
    )
    assert answer.status_code == 403
    assert WebhookEndpoint.objects.get().secret == hook.secret


@pytest.mark.django_db
def test_an_administrator_sets_up_an_endpoint_with_known_event_types(karen, staff_client):
    client = staff_client("admin")
    add = reverse("admin:core_webhookendpoint_add")
    fields = {"url": "https://erp.example/hooks", "description": "ERP", "active": "on"}

    refused = client.post(add, {**fields, "event_types": "order.submitted\nbogus.thing"})

    assert refused.status_code == 200
    assert "Unknown event types: bogus.thing." in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()
    not_web = client.post(add, {**fields, "url": "ftp://erp.example/", "event_types": ""})
    assert not_web.status_code == 200
    assert not WebhookEndpoint.objects.exists()

    created = client.post(add, {**fields, "event_types": "order.submitted, shipment.*"})

    assert created.status_code == 302
    hook = WebhookEndpoint.objects.get()
    assert (hook.url, hook.event_types, hook.active) == (
        "https://erp.example/hooks",
        ["order.submitted", "shipment.*"],
        True,
    )
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40

    old_secret = hook.secret
    rotated = client.post(
        changelist(WebhookEndpoint), {"action": "rotate_secret", ACTION_CHECKBOX_NAME: [hook.pk]}
    )
    assert rotated.status_code == 302
    hook.refresh_from_db()
    assert hook.secret != old_secret and hook.secret.startswith("whsec_")
    entry = AuditEntry.objects.get(action="webhook_secret_rotated")
    assert (entry.object_type, entry.object_id) == ("core.webhookendpoint", str(hook.pk))
    assert old_secret not in json.dumps(entry.details) and hook.secret not in entry.reason


# --- Two senders at once ------------------------------------------------------------------


def events_of_many_customers(count: int) -> list[OutboxEvent]:
    """Events with an ordering key each (no customer), written in bulk."""
    audit_entries_insert(
        [
            audit_entry_build(
                actor=ACTOR, action="order_completed", obj=AuditSubject(SalesOrder, 800000 + n)
            )
            for n in range(count)
        ]
    )
    return list(OutboxEvent.objects.filter(object_id__startswith="8000").order_by("id"))


def in_threads(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_never_send_the_same_delivery(receiver, quiet_outbox):
    receiver.answers["/hook"] = lambda received, count: (200, b"ok", 0.05)
    endpoint(receiver)
    events = events_of_many_customers(40)
    webhook_events_fan_out()

    delivered = in_threads(2, webhook_deliveries_send)

    assert sum(delivered) == 40
    assert sorted(receiver.event_ids()) == sorted(event.event_id for event in events)
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}
    assert WebhookAttempt.objects.count() == 40


@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_flight_is_not_taken_by_another_sender(receiver, quiet_outbox):
    """The first sender's claim is committed before it calls: the second, arriving while
    the receiver is still answering, finds nothing to send (the lease)."""
    arrived, release = threading.Event(), threading.Event()

    def hold(received, count):
        arrived.set()
        release.wait(10)
        return 200, b"ok", 0

    receiver.answers["/hook"] = hold
    endpoint(receiver)
    [event] = events_of_many_customers(1)
    webhook_events_fan_out()
    first = threading.Thread(target=lambda: (webhook_deliveries_send(), connection.close()))
    first.start()
    try:
        assert arrived.wait(10)
        assert webhook_deliveries_send() == 0
    finally:
        release.set()
        first.join(10)

    assert receiver.event_ids() == [event.event_id]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.DELIVERED, 1)
