"""Attacks on fulfilment (issue 14): bad input, replays, races and roles on the
warehouse's endpoints, the upload, invoices and outbound events. Each test is a way in
that was tried; those that failed before their fix say what was wrong."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from continuity.models import PaymentAllocation
from core.dates import business_date
from core.models import AuditEntry
from orders.models import Invoice, SalesOrder, WarehouseShipment
from tests.api.conftest import assert_error, token_client


@pytest.fixture
def warehouse_api(demo):
    return token_client(get_user_model().objects.get(username="warehouse"))


@pytest.fixture
def supervisor_api(demo):
    return token_client(get_user_model().objects.get(username="supervisor"))


def written():
    return (
        WarehouseShipment.objects.count(),
        Invoice.objects.count(),
        AuditEntry.objects.count(),
        list(SalesOrder.objects.order_by("pk").values_list("status", flat=True)),
    )


def body(**changes):
    confirmation = {
        "warehouse_shipment_id": "WH-1001",
        "carrier": "UPS",
        "tracking_number": "1Z999",
        "shipped_date": business_date().isoformat(),
        "lines": [{"line_number": 1, "quantity": 1}],
    }
    confirmation.update(changes)
    return confirmation


# --- NUL bytes in the URL's numbers --------------------------------------------------------


@pytest.mark.django_db
def test_a_nul_in_the_order_number_of_a_confirmation_is_not_found(
    warehouse_api, released, carriers
):
    order = released()
    before = written()

    response = warehouse_api.post(
        f"/api/v1/sales-orders/{order.number}%00/shipments/", body(), format="json"
    )

    assert_error(response, 404, "not_found")
    assert written() == before


@pytest.mark.django_db
def test_a_nul_in_the_order_number_of_a_release_is_not_found(supervisor_api, child_order):
    order = child_order()
    before = written()

    response = supervisor_api.post(f"/api/v1/sales-orders/{order.number}%00/release/")

    assert_error(response, 404, "not_found")
    assert written() == before


@pytest.mark.django_db
def test_a_nul_in_an_invoice_number_is_not_found(supervisor_api, demo):
    response = supervisor_api.get("/api/v1/invoices/INV-000001%00/")

    assert_error(response, 404, "not_found")


# --- A shipment charged, refunded, reactivated and charged again --------------------------


@pytest.mark.django_db
def test_an_invoice_after_a_reactivation_applies_the_new_charge_not_the_refunded_one(sell, today):
    """Cancel refunds the first charge of a shipment whose child order was not released;
    a reactivation charges it again and a new child order ships it. Its invoice is paid
    by the new sale: the refunded one paid nothing."""
    from continuity.fulfilment import child_order_charges
    from continuity.money_audit import money_audit
    from continuity.subscription_actions.cancel import (
        subscription_cancel,
        subscription_reactivate,
    )
    from orders.fulfilment.services import sales_order_release
    from tests.continuity.test_fulfilment import ACTOR, release_setting, ship_all
    from tests.continuity.test_subscription_actions import (
        refunds_for,
        run_child_orders,
        run_payments,
        shipments,
    )

    release_setting("by_supervisor")
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    first_sale = first.payment_id
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="PRICE")
    assert refunds_for(first) == [("approved", first.amount)]
    subscription_reactivate(
        subscription_id=first.subscription_id, actor=ACTOR, reason_code="WINBACK"
    )
    run_payments(today)
    first.refresh_from_db()
    second_sale = first.payment_id
    assert (first.status, second_sale != first_sale) == ("paid", True)
    run_child_orders(today)
    first.refresh_from_db()
    child = first.child_order
    sales_order_release(order_id=child.pk, actor=ACTOR)

    assert child_order_charges(child.pk) == [(second_sale, first.amount)]
    invoice = ship_all(child, "WH-R1").shipment.invoice
    assert (invoice.payment_id, invoice.payment_applied) == (second_sale, first.amount)
    assert money_audit(source="test", save=False).findings == []
    # Tampered: the new sale's allocation says it paid less than the invoice applies.
    # The refunded sale must not make up for it: the audit counts what paid the order
    # net of its refunds.
    PaymentAllocation.objects.filter(payment_id=second_sale).update(amount=Decimal("10.00"))
    findings = money_audit(source="test", save=False).findings
    mismatches = [finding for finding in findings if finding["kind"] == "invoices_mismatch"]
    assert len(mismatches) == 1 and child.number in str(mismatches[0])


# --- Webhooks: a delivery sent again while its call is in flight -------------------------


@pytest.mark.django_db(transaction=True)
def test_send_again_while_the_call_is_in_flight_does_not_send_it_twice_at_once(
    receiver, quiet_outbox
):
    """A supervisor presses Send again on a pending delivery whose call is under way (its
    lease running): a second sender must not take it while the first is still calling.
    Before the fix, the resend made it due at once and the second sender sent it too."""
    import threading

    from django.db import connection

    from core.actors import Actor
    from core.models import WebhookDelivery, WebhookDeliveryStatus
    from core.webhooks import (
        webhook_deliveries_resend,
        webhook_deliveries_send,
        webhook_events_fan_out,
    )
    from tests.core.test_webhooks import endpoint, events_of_many_customers

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
        delivery = WebhookDelivery.objects.get()
        assert (
            webhook_deliveries_resend(
                delivery_ids=[delivery.pk], actor=Actor.job("supervisor-test")
            )
            == 1
        )
        assert webhook_deliveries_send(budget_seconds=2) == 0
    finally:
        release.set()
        first.join(10)

    assert receiver.event_ids() == [event.event_id]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.DELIVERED, 1)


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_that_trickles_its_answer_is_a_timeout_not_a_hang(quiet_outbox, settings):
    """A receiver that answers a byte at a time, each within the timeout, never ends its
    headers: the call must still end (a timeout), not hold the sender past its lease
    (another sender would then send the same delivery while this one still waits)."""
    import socket
    import threading
    import time

    from django.db import connection

    from core.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
    from core.webhooks import webhook_deliveries_send, webhook_events_fan_out
    from tests.core.test_webhooks import events_of_many_customers

    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def trickle():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                peer, _address = listener.accept()
            except TimeoutError:
                continue
            try:
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not stop.is_set():
                    peer.sendall(b"a")
                    time.sleep(0.1)
            except OSError:
                pass
            finally:
                peer.close()

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    WebhookEndpoint.objects.create(url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
    events_of_many_customers(1)
    webhook_events_fan_out()
    outcome = {}

    def send():
        try:
            outcome["delivered"] = webhook_deliveries_send(budget_seconds=1)
        finally:
            connection.close()

    sender = threading.Thread(target=send, daemon=True)
    started = time.monotonic()
    sender.start()
    sender.join(6)
    finished = not sender.is_alive()
    stop.set()
    sender.join(5)
    server.join(5)
    listener.close()

    assert finished, "the sender hung on an answer that never ended"
    assert time.monotonic() - started < 6
    assert outcome["delivered"] == 0
    [attempt] = WebhookAttempt.objects.filter(delivery=WebhookDelivery.objects.get())
    assert (attempt.status_code, attempt.error) == (None, "timeout")


# --- Replays -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_replay_after_its_carrier_was_deactivated_answers_the_first_record(
    warehouse_api, released, carriers
):
    """docs/warehouse.md: retry a call whose answer was lost as often as needed. The
    carrier deactivated meanwhile (its contract ended) must not turn the replay into a
    400: the first record stands and is answered, nothing written."""
    order = released()
    first = warehouse_api.post(
        f"/api/v1/sales-orders/{order.number}/shipments/", body(), format="json"
    )
    assert first.status_code == 201
    carriers["UPS"].active = False
    carriers["UPS"].save()
    before = written()

    replay = warehouse_api.post(
        f"/api/v1/sales-orders/{order.number}/shipments/", body(), format="json"
    )

    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert written() == before
    # Other content under the same id is still refused, and a new id with the inactive
    # carrier is a field error.
    assert_error(
        warehouse_api.post(
            f"/api/v1/sales-orders/{order.number}/shipments/",
            body(tracking_number="OTHER"),
            format="json",
        ),
        400,
        "invalid",
    )
    assert written() == before


# --- The money audit flags a shipment refunded while its child order ships -------------------


@pytest.mark.django_db
def test_the_money_audit_flags_a_shipment_not_sent_whose_child_order_ships(sell, today):
    """Tampered as a bug would: a shipment skipped (so owed back: the refund pass refunds
    it) while it still names its child order, released to the warehouse. The customer
    would get the goods and the money back: the audit must say so."""
    from continuity.models import Occurrence
    from continuity.money_audit import money_audit
    from tests.continuity.test_subscription_actions import run_child_orders, shipments

    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    assert first.child_order.status == "released"
    assert money_audit(source="test", save=False).findings == []

    child = first.child_order
    # The database keeps a child order only on a shipment whose child order is created:
    # the tampered shipment lets go of it, the child order stays released.
    Occurrence.objects.filter(pk=first.pk).update(status="skipped", child_order=None)

    findings = money_audit(source="test", save=False).findings
    # Each of its two lines is on a line of a child order it no longer has, and the
    # child order bills shipments' charges that no shipment holds.
    assert sorted(
        (finding["kind"], finding["subject"])
        for finding in findings
        if finding["occurrence"] == first.pk or child.number in finding["subject"]
    ) == [
        ("child_order_lines", f"shipment {first.pk} (skipped)"),
        ("child_order_lines", f"shipment {first.pk} (skipped)"),
        ("child_order_total", f"sales order {child.number}"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/orders/SO-000001%00/release/"),
        ("get", "/orders/SO-000001%00/"),
        ("get", "/orders/invoices/INV-000001%00/"),
    ],
)
def test_a_nul_in_a_page_url_is_not_found(demo, method, path):
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="supervisor"))
    before = written()

    response = getattr(client, method)(path)

    assert response.status_code == 404
    assert written() == before


def _routes_with_text_arguments():
    import re

    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    routes = set()
    for route in walk(get_resolver().url_patterns):
        if not re.search(r"<(str:|key:)?\w+>", route) or route.startswith(("admin", "^")):
            continue
        path = re.sub(r"<int:\w+>", "1", route)
        path = re.sub(r"<(\w+:)?\w+>", "SO-000001%00", path)
        routes.add("/" + path)
    return sorted(routes)


@pytest.mark.django_db
def test_no_page_or_endpoint_answers_500_to_a_nul_in_its_url(demo):
    """Every route with a text argument, with a NUL in it, signed in as a supervisor (who
    reaches the most): a clear answer, never a 500, nothing written."""
    from django.test import Client

    supervisor = get_user_model().objects.get(username="supervisor")
    web = Client(raise_request_exception=False)
    web.force_login(supervisor)
    api = token_client(supervisor)
    before = written()
    errors = []
    for path in _routes_with_text_arguments():
        for method in ("get", "post"):
            client = api if path.startswith("/api/") else web
            response = getattr(client, method)(path, {})
            if response.status_code >= 500:
                errors.append(f"{method} {path}: {response.status_code}")
    assert errors == []
    assert written() == before


# --- The upload page -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["ship\x00.csv", '=HYPERLINK("http://x").csv', "x" * 300 + ".csv", "../../ship.csv"]
)
def test_an_odd_file_name_is_kept_harmlessly(demo, released, carriers, name):
    """The file's name is shown on the preview and result pages and waits in the session:
    a NUL, a formula, a long or a path-like name is neither a 500 nor written anywhere."""
    from tests.orders.test_shipment_upload import UPLOAD, csv_file, row, signed_in

    order = released()
    client = signed_in("supervisor")
    before = written()

    response = client.post(UPLOAD, {"file": csv_file(row(order), name=name)})
    assert response.status_code == 302
    preview = client.get(response["Location"])

    assert preview.status_code == 200
    assert written() == before


# --- Two real connections: closing a parent order and reactivating its subscription ----------


@pytest.mark.django_db(transaction=True)
def test_a_reactivation_that_meets_the_parent_order_closing_waits_and_is_refused(sell, today):
    """The close holds the subscription's lock while it completes the parent order; the
    reactivation waits for it, then finds the order completed and is refused whole."""
    import threading

    from django.db import connection, transaction

    from continuity.fulfilment import parent_orders_close
    from continuity.models import Subscription
    from continuity.subscription_actions.cancel import (
        subscription_cancel,
        subscription_reactivate,
    )
    from core.errors import Conflict
    from tests.continuity.test_fulfilment import ACTOR, release_setting
    from tests.continuity.test_subscription_actions import run_child_orders, shipments

    release_setting("by_supervisor")
    order = sell()
    run_child_orders(today)
    first = shipments(order)[0]
    subscription_cancel(subscription_id=first.subscription_id, actor=ACTOR, reason_code="PRICE")
    outcome = {}
    done = threading.Event()

    def reactivate():
        try:
            subscription_reactivate(
                subscription_id=first.subscription_id, actor=ACTOR, reason_code="WINBACK"
            )
            outcome["reactivate"] = "done"
        except Conflict as error:
            outcome["reactivate"] = error.message
        finally:
            connection.close()
            done.set()

    with transaction.atomic():
        assert parent_orders_close(actor=ACTOR) == [order.number]
        thread = threading.Thread(target=reactivate)
        thread.start()
        assert not done.wait(1.0)  # waiting for the subscription's lock
    thread.join(10)

    assert outcome["reactivate"] == (
        f"Its sales order {order.number} is completed: sell the program again instead."
    )
    order.refresh_from_db()
    assert order.status == "completed"
    assert Subscription.objects.get(pk=first.subscription_id).status == "cancelled"
