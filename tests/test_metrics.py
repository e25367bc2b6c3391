"""GET /metrics: the product's counters read from what the services recorded (a real
charge, a real child order, a real batch run), next to django-prometheus' request
metrics; refused (404) outside METRICS_ALLOWED_NETWORKS unless the caller is staff."""

import http.client
import ipaddress
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from batch.models import BatchJob, BatchRun, BatchRunStatus
from core.models import Notification
from payments.services.errors import PaymentDeclined
from tests.batch.conftest import days
from tests.batch.test_create_child_orders import run_child_orders, run_payments
from tests.factories import OccurrenceFactory, PaymentFactory
from tests.payments.support import subprocess_env

pytestmark = pytest.mark.django_db

DECLINING_CARD = "4000 0000 0000 0002"  # declines every sale (soft)


def scrape(client=None, **extra) -> dict[tuple[str, tuple], float]:
    """Every sample on /metrics, keyed by name and sorted labels."""
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def charges(samples) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["charge"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "continuity_charges_total"
    }


def unanswered(samples) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["charge"], dict(labels)["state"]): value
        for (name, labels), value in samples.items()
        if name == "continuity_charges_unanswered"
    }


def test_before_any_sale_every_product_metric_is_zero(demo):
    Notification.objects.all().delete()
    samples = scrape()

    assert set(charges(samples).values()) == {0}
    assert len(charges(samples)) == 4
    assert set(unanswered(samples).values()) == {0}
    assert len(unanswered(samples)) == 4
    assert samples[("continuity_child_orders_total", ())] == 0
    assert {
        value for (name, _), value in samples.items() if name == "continuity_notifications_owed"
    } == {0}
    assert not [name for name, _ in samples if name.startswith("continuity_batch_run")]


def test_a_scrape_counts_the_charges_child_orders_runs_and_owed_emails(sell, today):
    Notification.objects.all().delete()
    order = sell()  # the first shipment is charged at submit
    with pytest.raises(PaymentDeclined):
        sell(card_number=DECLINING_CARD)
    child_run = run_child_orders(today, item_number="88000", order_number=order.number)
    second_ship_date = order.subscriptions.get().occurrences.order_by("sequence")[1].ship_date
    payment_run = run_payments(second_ship_date - days(5))

    samples = scrape()

    assert charges(samples) == {
        ("order", "approved"): 1,
        ("order", "declined"): 1,
        ("shipment", "approved"): 1,
        ("shipment", "declined"): 0,
    }
    assert set(unanswered(samples).values()) == {0}
    assert samples[("continuity_child_orders_total", ())] == 1
    for run in (child_run, payment_run):
        assert run.status == BatchRunStatus.SUCCEEDED
        labels = (("job", run.job), ("status", "succeeded"))
        seconds = (run.finished_at - run.started_at).total_seconds()
        assert samples[("continuity_batch_run_duration_seconds_count", labels)] == 1
        assert samples[("continuity_batch_run_duration_seconds_sum", labels)] == pytest.approx(
            seconds
        )
        assert (
            samples[
                (
                    "continuity_batch_run_duration_seconds_bucket",
                    (*labels[:1], ("le", "+Inf"), labels[1]),
                )
            ]
            == 1
        )
    owed = {
        dict(labels)["kind"]: value
        for (name, labels), value in samples.items()
        if name == "continuity_notifications_owed"
    }
    assert owed == {
        "charged": 2,  # the order's submit, the second shipment
        "payment_failed": 0,
        "child_order_created": 1,
        "subscription_cancelled": 0,
        "order_shipped": 0,
    }


def test_run_durations_fall_in_their_buckets(demo):
    started = timezone.now() - timedelta(hours=1)
    for seconds, status in ((0.5, "succeeded"), (40, "succeeded"), (4000, "failed")):
        BatchRun.objects.create(
            job=BatchJob.PROCESS_PAYMENTS,
            status=status,
            run_date=started.date(),
            started_at=started,
            finished_at=started + timedelta(seconds=seconds),
        )

    samples = scrape()

    def bucket(status, le):
        key = (("job", "process_payments"), ("le", le), ("status", status))
        return samples[("continuity_batch_run_duration_seconds_bucket", key)]

    assert [bucket("succeeded", le) for le in ("1.0", "30.0", "60.0", "+Inf")] == [1, 1, 2, 2]
    assert [bucket("failed", le) for le in ("3600.0", "7200.0", "+Inf")] == [0, 1, 1]


def test_request_metrics_of_django_prometheus_are_there(demo):
    Client().get("/accounts/login/")

    samples = scrape()

    assert any(
        name == "django_http_responses_total_by_status_total" and dict(labels)["status"] == "200"
        for name, labels in samples
    )


@override_settings(SECURE_SSL_REDIRECT=True)
def test_prometheus_scrapes_in_plain_http(demo):
    assert Client().get("/metrics").status_code == 200


def test_metrics_are_refused_outside_the_allowed_networks(demo):
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 404
    assert b"continuity_" not in response.content


@override_settings(METRICS_ALLOWED_NETWORKS=[ipaddress.ip_network("10.1.0.0/16")])
def test_a_configured_network_may_scrape_and_others_may_not(demo):
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 404
    assert Client().get("/metrics").status_code == 404  # 127.0.0.1 is no longer listed


@override_settings(
    PROXY_COUNT=1,
    TRUSTED_PROXY_NETWORKS=[
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/24"),
    ],
)
def test_behind_a_proxy_the_forwarded_address_is_checked(demo):
    outside = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9", REMOTE_ADDR="127.0.0.1")
    inside = Client().get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1", REMOTE_ADDR="10.0.0.1")
    # A peer that is not the proxy cannot claim an allowed address.
    spoofed = Client().get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1", REMOTE_ADDR="203.0.113.50")

    assert outside.status_code == 404
    assert inside.status_code == 200
    assert spoofed.status_code == 404


def test_a_made_up_http_method_is_refused_before_it_becomes_a_metric(demo):
    scrape()
    before = set(scrape())

    response = Client().generic("FROBNICATE", "/metrics")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert response["X-Request-ID"]
    after = scrape()
    assert set(after) == before
    assert not [labels for _, labels in after if ("method", "FROBNICATE") in labels]


def test_signed_in_staff_may_scrape_from_anywhere_and_other_users_may_not(demo):
    staff = Client()
    staff.force_login(get_user_model().objects.get(username="admin"))
    agent = Client()
    agent.force_login(get_user_model().objects.get(username="agent"))

    assert staff.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert agent.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


def test_a_bad_network_list_stops_start_up():
    from tests.test_settings import PRODUCTION, run

    finished = run("import config.wsgi", **PRODUCTION, METRICS_ALLOWED_NETWORKS="10.0.0.0/33")

    assert finished.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS must be a list of networks (CIDR)" in finished.stderr


def test_gunicorn_workers_report_their_requests_together(demo, tmp_path):
    """config/gunicorn.py with PROMETHEUS_MULTIPROC_DIR: whichever worker answers the
    scrape, it counts the requests every worker served."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "prometheus"
    env = subprocess_env(
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="3",
        SECURE_SSL_REDIRECT="false",
        # Static files from the app folders: the production storage needs collectstatic.
        DEBUG="true",
    )
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.py"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("wb"),
    )
    try:

        def get(path):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers={"Host": "localhost"})
            response = connection.getresponse()
            body = response.read().decode()
            connection.close()
            return response.status, body

        deadline = time.monotonic() + 60
        while True:
            try:
                assert get("/accounts/login/")[0] == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        # Six at a time: three sync workers share them.
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda _: get("/accounts/login/")[0], range(11)))
        assert statuses == [200] * 11

        status, body = get("/metrics")
    finally:
        web.terminate()
        web.wait(timeout=30)

    assert status == 200
    served = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "django_http_responses_total_by_status_total"
    }
    assert served == {"200": 12}
    # Each worker froze the loaded application before its first request (config.startup).
    log = (tmp_path / "gunicorn.log").read_text()
    assert log.count("objects of the loaded application") == 3, log


def test_charges_still_waiting_for_an_answer_are_a_gauge_not_a_counted_outcome(demo):
    """A sale whose answer was lost is 'unknown' until reconcile settles it; then it is
    counted once, as approved, and the gauge goes back down: the counter never drops. A
    sale refunded or voided later was approved when it was charged. Order and shipment
    charges are counted apart."""
    unknown = PaymentFactory(status="unknown")
    PaymentFactory(status="pending")
    PaymentFactory(status="unknown", occurrence=OccurrenceFactory())
    PaymentFactory(status="refunded")
    PaymentFactory(status="voided")

    waiting = scrape()
    assert unanswered(waiting) == {
        ("order", "unknown"): 1,
        ("order", "pending"): 1,
        ("shipment", "unknown"): 1,
        ("shipment", "pending"): 0,
    }
    assert charges(waiting)[("order", "approved")] == 2

    unknown.status = "approved"
    unknown.save(update_fields=["status"])
    settled = scrape()
    assert unanswered(settled)[("order", "unknown")] == 0
    assert charges(settled)[("order", "approved")] == 3
