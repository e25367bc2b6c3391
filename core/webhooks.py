"""Webhook delivery: outbound events (core.outbox) fanned out to the endpoints that chose
them, then POSTed, signed, retried with backoff, in order per ordering key
(docs/webhooks.md says what a receiver sees).

Two steps, both run by the core.send_webhooks task every minute:

- fan-out (webhook_events_fan_out) gives each new event a WebhookDelivery per active
  endpoint whose types match, then marks the event fanned out. Events waiting are found
  by that flag, not by a cursor over ids: ids are taken when a row is inserted and
  transactions commit in another order, so a cursor past id 101 would skip a 100 that
  committed later. One fan-out at a time (an advisory lock on PostgreSQL), so events are
  given their deliveries in id order; the unique (endpoint, event) is the backstop.
- sending (webhook_deliveries_send) claims due deliveries in a short transaction (SKIP
  LOCKED, so two senders never take the same row) by moving their next attempt past the
  call's timeout: a lease. It commits, makes the calls with no transaction or lock open,
  then records each answer. A sender that dies mid-call leaves its deliveries to be taken
  again when the lease ends: delivery is at least once, and receivers de-duplicate on the
  event id.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.actors import Actor
from core.models import (
    WEBHOOK_BLOCKING_STATUSES,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    webhook_secret,
)
from core.outbox import event_type_matches, outbox_event_data
from core.services import audit_record

logger = logging.getLogger(__name__)

# A delivery is tried again for at least this long after its first attempt, then it is
# failed (dead) and waits for a supervisor.
RETRY_WINDOW = datetime.timedelta(hours=24)
# The wait after the n-th failed attempt: 1 minute, doubling, at most an hour.
BACKOFF_FIRST = datetime.timedelta(minutes=1)
BACKOFF_MAX = datetime.timedelta(hours=1)
# How long a claimed delivery is left to its sender beyond the call's timeouts (connect,
# then read: two of them at most) before another sender may take it.
LEASE_MARGIN = datetime.timedelta(seconds=60)
# Calls a sender makes at once, and so the deliveries it claims at a time: a round lasts
# about one call, however many endpoints are slow, well within the lease.
SEND_CONCURRENCY = 16
# A sender starts no new round after this long: beat starts another every minute, and
# tasks that never end would pile up behind an endpoint that is down.
SEND_BUDGET_SECONDS = 50
# How much of an answer is kept (the admin shows it).
ANSWER_EXCERPT = 500
# Two numbers for PostgreSQL's advisory lock of the fan-out ("hook", "fan").
_FAN_OUT_LOCK = (0x686F6F6B, 0x66616E)

SIGNATURE_HEADER = "Continuity-Signature"
EVENT_ID_HEADER = "Continuity-Event-Id"
EVENT_TYPE_HEADER = "Continuity-Event-Type"


def backoff(attempts: int) -> datetime.timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


# --- Fan-out ----------------------------------------------------------------------------


def _fan_out_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite (make run) writes one transaction at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _FAN_OUT_LOCK)
        return cursor.fetchone()[0]


def webhook_events_fan_out(*, limit: int = 2000) -> int:
    """Give the oldest events not fanned out yet their deliveries; how many events.
    Another worker fanning out at the same time makes this one return 0."""
    with transaction.atomic():
        if not _fan_out_lock():
            return 0
        events = list(
            OutboxEvent.objects.filter(fanned_out=False)
            .order_by("id")
            .values_list("id", "type", "ordering_key")[:limit]
        )
        if not events:
            return 0
        endpoints = list(WebhookEndpoint.objects.filter(active=True).only("id", "event_types"))
        now = timezone.now()
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    endpoint_id=endpoint.pk,
                    event_id=event_id,
                    ordering_key=ordering_key,
                    next_attempt_at=now,
                    created_at=now,
                )
                for event_id, event_type, ordering_key in events
                for endpoint in endpoints
                if event_type_matches(endpoint.event_types, event_type)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        OutboxEvent.objects.filter(pk__in=[event[0] for event in events]).update(fanned_out=True)
    return len(events)


# --- Sending ----------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Continuity-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<body>" keyed with the endpoint's secret>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def webhook_body(event: OutboxEvent) -> bytes:
    return json.dumps(
        {
            "id": event.event_id,
            "type": event.type,
            "created": event.occurred_at.isoformat(),
            "data": outbox_event_data(event),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    answer: str
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: 3xx is recorded as a failed attempt (the
    POST is never replayed as a GET elsewhere)."""

    def redirect_request(self, *args, **kwargs):
        return None


class _Deadline:
    """The whole call's time limit. A socket's timeout bounds each read, not an answer
    trickled a byte at a time, which would hold the sender past its lease (another
    sender then takes the same delivery). When the time is up the call's socket is shut
    down: the read waiting on it ends at once, and the attempt is a timeout."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets = []
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock) -> None:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._done = True
        self._timer.cancel()


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, deadline: _Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self):
        super().connect()
        self.deadline.watch(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, deadline: _Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self):
        super().connect()
        self.deadline.watch(self.sock)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(functools.partial(_WatchedHTTPConnection, deadline=self.deadline), req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(
            functools.partial(_WatchedHTTPSConnection, deadline=self.deadline),
            req,
            context=self._context,
        )


def _opener(deadline: _Deadline):
    return urllib.request.build_opener(
        _NoRedirects, _WatchedHTTPHandler(deadline), _WatchedHTTPSHandler(deadline)
    )


def _excerpt(raw: bytes) -> str:
    return raw[:ANSWER_EXCERPT].decode("utf-8", errors="replace")[:ANSWER_EXCERPT]


def _post(endpoint: WebhookEndpoint, event: OutboxEvent) -> _Answer:
    body = webhook_body(event)
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Continuity-Webhooks/1",
            EVENT_ID_HEADER: event.event_id,
            EVENT_TYPE_HEADER: event.type,
            SIGNATURE_HEADER: webhook_signature(endpoint.secret, int(time.time()), body),
        },
    )
    started = time.monotonic()
    status_code, answer, error = None, "", ""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    # Connecting and answering have a timeout each (the lease counts two).
    with _Deadline(2 * timeout) as deadline:
        try:
            with _opener(deadline).open(request, timeout=timeout) as response:
                status_code, answer = response.status, _excerpt(response.read(ANSWER_EXCERPT))
        except urllib.error.HTTPError as refused:  # an answer, outside 2xx
            status_code = refused.code
            try:
                answer = _excerpt(refused.read(ANSWER_EXCERPT))
            except (OSError, http.client.HTTPException):
                answer = ""
        except urllib.error.URLError as failed:  # before any answer: DNS, connect, TLS
            timed_out = isinstance(failed.reason, TimeoutError) or deadline.expired
            error = "timeout" if timed_out else str(failed.reason)
        except TimeoutError:  # connected, no answer in time
            error = "timeout"
        except (OSError, http.client.HTTPException) as failed:  # reset, garbled answer
            error = "timeout" if deadline.expired else f"{type(failed).__name__}: {failed}"
        if deadline.expired and status_code is not None and not error:
            # Cut off while its body was read: not a whole answer.
            status_code, answer, error = None, "", "timeout"
    duration_ms = int((time.monotonic() - started) * 1000)
    return _Answer(status_code, answer, error[:255], duration_ms)


def _lease() -> datetime.timedelta:
    """How long a claimed delivery is its sender's: two timeouts (connect, then read)
    and a margin."""
    return 2 * datetime.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + LEASE_MARGIN


def _claim(*, limit: int) -> list[int]:
    """Take up to `limit` due deliveries whose earlier ones (same endpoint and ordering
    key, lower event id) are all delivered or discarded; lease them for one call."""
    now = timezone.now()
    earlier_owed = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        ordering_key=OuterRef("ordering_key"),
        event_id__lt=OuterRef("event_id"),
        status__in=WEBHOOK_BLOCKING_STATUSES,
    )
    lease = _lease()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=WebhookDeliveryStatus.PENDING,
                next_attempt_at__lte=now,
                endpoint__active=True,
            )
            .exclude(Exists(earlier_owed))
            .order_by("event_id")
            .values_list("id", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + lease)
    return ids


def _record(delivery_id: int, answer: _Answer, *, at: datetime.datetime) -> bool:
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=at,
            status_code=answer.status_code,
            answer=answer.answer,
            error=answer.error,
            duration_ms=answer.duration_ms,
        )
        now = timezone.now()
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or at
        delivery.last_status_code = answer.status_code
        delivery.last_answer = answer.answer or answer.error
        if answer.delivered:
            delivery.status = WebhookDeliveryStatus.DELIVERED
            delivery.delivered_at = now
        elif delivery.status == WebhookDeliveryStatus.PENDING:
            if now >= delivery.first_attempt_at + RETRY_WINDOW:
                delivery.status = WebhookDeliveryStatus.FAILED
                logger.warning(
                    "Webhook delivery %s failed for good after %s attempts",
                    delivery.pk,
                    delivery.attempts,
                )
            else:
                delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.save()
    return answer.delivered


def _send_round(ids: list[int]) -> int:
    """POST the claimed deliveries at once (threads that touch no database: the rows are
    read before and the answers recorded after, here); how many were delivered."""
    deliveries = sorted(
        WebhookDelivery.objects.select_related("endpoint", "event__audit_entry").filter(pk__in=ids),
        key=lambda one: one.event_id,
    )
    started = timezone.now()
    with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(deliveries))) as pool:
        answers = list(pool.map(lambda one: _post(one.endpoint, one.event), deliveries))
    return sum(
        _record(delivery.pk, answer, at=started)
        for delivery, answer in zip(deliveries, answers, strict=True)
    )


def webhook_deliveries_send(*, budget_seconds: float = SEND_BUDGET_SECONDS) -> int:
    """Send what is due, a round of claims at a time, until nothing is or the budget is
    spent; how many were delivered.

    A delivery held back by an earlier one of its key becomes due when that one is
    delivered: the next round takes it."""
    delivered = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        ids = _claim(limit=SEND_CONCURRENCY)
        if not ids:
            break
        delivered += _send_round(ids)
    return delivered


# --- Supervisors' and administrators' actions -------------------------------------------


def webhook_deliveries_resend(*, delivery_ids: list[int], actor: Actor) -> int:
    """Send these deliveries again now, whatever their status: pending again with a new
    retry window, attempts kept. How many.

    A pending delivery whose next attempt is at most a lease away may be in a sender's
    hands right now (_claim moved it there before calling): it keeps that time, so that
    no second sender takes it while the first is still calling. It is sent within the
    lease, or when the first sender records its answer."""
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.select_for_update().filter(pk__in=delivery_ids).order_by("id")
        )
        now = timezone.now()
        for delivery in deliveries:
            from_status = delivery.status
            maybe_in_flight = (
                from_status == WebhookDeliveryStatus.PENDING
                and now < delivery.next_attempt_at <= now + _lease()
            )
            delivery.status = WebhookDeliveryStatus.PENDING
            if not maybe_in_flight:
                delivery.next_attempt_at = now
            delivery.first_attempt_at = None
            delivery.delivered_at = None
            delivery.save(
                update_fields=["status", "next_attempt_at", "first_attempt_at", "delivered_at"]
            )
            audit_record(
                actor=actor,
                action="webhook_delivery_resent",
                obj=delivery,
                from_status=from_status,
                to_status=delivery.status,
                details={"event": delivery.event_id, "endpoint": delivery.endpoint_id},
            )
    return len(deliveries)


def webhook_deliveries_discard(*, delivery_ids: list[int], actor: Actor) -> int:
    """Give up deliveries not delivered: they no longer hold back the later ones of their
    key. How many."""
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=delivery_ids, status__in=WEBHOOK_BLOCKING_STATUSES)
            .order_by("id")
        )
        for delivery in deliveries:
            from_status = delivery.status
            delivery.status = WebhookDeliveryStatus.DISCARDED
            delivery.save(update_fields=["status"])
            audit_record(
                actor=actor,
                action="webhook_delivery_discarded",
                obj=delivery,
                from_status=from_status,
                to_status=delivery.status,
                details={"event": delivery.event_id, "endpoint": delivery.endpoint_id},
            )
    return len(deliveries)


def webhook_endpoint_secret_rotate(*, endpoint_id: int, actor: Actor) -> WebhookEndpoint:
    """A new secret; the old one signs nothing from now on. The audit entry names the
    endpoint, never the secret."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.secret = webhook_secret()
        endpoint.save(update_fields=["secret"])
        audit_record(actor=actor, action="webhook_secret_rotated", obj=endpoint)
    return endpoint
