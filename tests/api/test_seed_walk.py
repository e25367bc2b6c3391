"""The seed procedure through the API, as an integration would walk it: search Karen,
create the order, add 88000, add a card, set the payment, submit, run both batch jobs, and find the
child order on the parent order. Then the reads an integration follows up with: the
subscription with its shipments, payments and child order; items and programs.

The batch runs are carried out in-process (Celery's eager mode, the dispatch run when the
request's transaction would commit): this test is about the API; real workers are tested
in tests/batch/test_reliability.py."""

import pytest

from batch.models import BatchRun, BatchRunStatus
from config.celery import app
from continuity.models import Subscription
from core.dates import business_date
from orders.models import SalesOrder

from .conftest import GOOD_CARD, gateway_ledger_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def start_run(client, capture, **parameters):
    """POST /batch-runs/, the run carried out when the request's work commits; the run as
    GET /batch-runs/{id}/ then shows it."""
    with capture(execute=True):
        response = client.post("/api/v1/batch-runs/", parameters)
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued"
    run = client.get(f"/api/v1/batch-runs/{queued['id']}/")
    assert run.status_code == 200
    return run.json()


def test_the_seed_procedure_through_the_api(
    supervisor_api, eager_celery, django_capture_on_commit_callbacks
):
    api = supervisor_api
    # 1. Search Karen: one of the matches is Karen Berg.
    found = api.get("/api/v1/customers/", {"search": "Karen"})
    assert found.status_code == 200
    karens = found.json()["results"]
    assert len(karens) > 1
    (karen,) = [c for c in karens if c["full_name"] == "Karen Berg"]
    account = karen["account_number"]

    # 2. New sales order.
    created = api.post("/api/v1/sales-orders/", {"customer": account})
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["status"] == "open"

    # 3. Item number 88000: the line, and the program with its planned shipments.
    added = api.post(f"/api/v1/sales-orders/{number}/lines/", {"item_number": "88000"})
    assert added.status_code == 201
    order = added.json()
    assert [(line["item_number"], line["amount"]) for line in order["lines"]] == [
        ("88000", "27.98")
    ]
    (preview,) = order["continuity_previews"]
    assert preview["program"]["code"] == "WELLNESS6"
    shipments = preview["quote"]["shipments"]
    assert len(shipments) == 6
    assert shipments[0]["ship_date"] == business_date().isoformat()
    assert {shipment["amount"] for shipment in shipments} == {"27.98"}

    # 4. Complete: totals and the amount due now.
    completed = api.post(f"/api/v1/sales-orders/{number}/complete/")
    assert completed.status_code == 200
    assert (completed.json()["total"], completed.json()["amount_due"]) == ("27.98", "27.98")

    # 5. Add credit card.
    card = api.post(
        f"/api/v1/customers/{account}/cards/",
        {
            "card_number": GOOD_CARD,
            "expiry_month": 12,
            "expiry_year": business_date().year + 3,
            "security_code": "737",
            "name_on_card": "Karen Berg",
        },
    )
    assert card.status_code == 201
    assert (card.json()["brand"], card.json()["last4"]) == ("visa", "4242")

    # 6. Payments: Visa with that card.
    paid = api.post(
        f"/api/v1/sales-orders/{number}/payments/",
        {"payment_method": "Visa", "card": card.json()["id"]},
    )
    assert paid.status_code == 200
    assert paid.json()["payment_method"] == "Visa"
    assert paid.json()["payment_card"]["id"] == card.json()["id"]

    # 7. Submit: charged once; a submitted continuity parent with its subscription.
    ledger = gateway_ledger_count()
    submitted = api.post(f"/api/v1/sales-orders/{number}/submit/")
    assert submitted.status_code == 200
    order = submitted.json()
    assert (order["status"], order["kind"]) == ("submitted", "continuity_parent")
    assert [(p["operation"], p["status"], p["amount"]) for p in order["payments"]] == [
        ("sale", "approved", "27.98")
    ]
    (subscription,) = order["subscriptions"]
    assert len(subscription["occurrences"]) == 6
    assert subscription["occurrences"][0]["status"] == "paid"
    assert gateway_ledger_count() == ledger + 1

    # 8. Process continuity payments, 88000: nothing is due yet (the first shipment was
    # paid at submit, the second is a month away).
    payments_run = start_run(
        api, django_capture_on_commit_callbacks, job="process_payments", item_number="88000"
    )
    assert payments_run["status"] == BatchRunStatus.SUCCEEDED
    assert (payments_run["job"], payments_run["item_number"]) == ("process_payments", "88000")
    assert payments_run["selected_count"] == 0

    # 9. Create continuity child orders, 88000, this order: one child order.
    child_run = start_run(
        api,
        django_capture_on_commit_callbacks,
        job="create_child_orders",
        item_number="88000",
        sales_order=number,
    )
    assert child_run["status"] == BatchRunStatus.SUCCEEDED
    assert child_run["summary"]["created"] == 1
    assert child_run["summary_line"] == (
        "Child orders created: 1. Not created: awaiting payment 0, payment declined 0, "
        "card expired 0, on hold 0"
    )
    (child_number,) = child_run["child_orders"]

    # The parent order lists its child order; the first shipment names it.
    parent = api.get(f"/api/v1/sales-orders/{number}/").json()
    assert [child["number"] for child in parent["child_orders"]] == [child_number]
    first = parent["subscriptions"][0]["occurrences"][0]
    assert (first["status"], first["child_order"]) == ("child_created", child_number)
    child = api.get(f"/api/v1/sales-orders/{child_number}/").json()
    assert (child["kind"], child["parent"]) == ("continuity_child", number)

    # The subscription, with its shipments, payments and child order.
    listed = api.get("/api/v1/subscriptions/", {"customer": account, "status": "active"})
    assert [s["parent_order"] for s in listed.json()["results"]] == [number]
    detail = api.get(f"/api/v1/subscriptions/{subscription['id']}/").json()
    assert [o["sequence"] for o in detail["occurrences"]] == [1, 2, 3, 4, 5, 6]
    assert [p["sales_order"] for p in detail["payments"]] == [number]
    assert [c["number"] for c in detail["child_orders"]] == [child_number]

    # Both runs are listed, newest first.
    runs = api.get("/api/v1/batch-runs/").json()
    assert [r["id"] for r in runs["results"]] == [child_run["id"], payments_run["id"]]
    assert BatchRun.objects.count() == 2
    assert SalesOrder.objects.get(number=child_number).parent.number == number


def test_a_second_submit_returns_the_order_and_charges_nothing(order_api):
    number = order_api.ready()
    first = order_api.submit(number)
    assert first.status_code == 200
    ledger = gateway_ledger_count()
    subscriptions = Subscription.objects.count()

    second = order_api.submit(number)

    assert second.status_code == 200
    assert second.json() == first.json()
    assert gateway_ledger_count() == ledger
    assert Subscription.objects.count() == subscriptions


def test_an_item_shows_its_program_and_planned_shipments_from_a_start_date(agent_api):
    start = business_date().replace(day=1)
    response = agent_api.get("/api/v1/items/88002/", {"start_date": start.isoformat()})

    assert response.status_code == 200
    item = response.json()
    assert item["is_continuity"] is True
    assert item["continuity_program"]["code"] == "PROTEINMONTHLY"
    assert item["continuity_program"]["prompt_for_start_date"] is True
    quote = item["quote"]
    assert quote["start_date"] == start.isoformat()
    assert quote["open_ended"] is True
    assert quote["program_total"] is None
    assert quote["shipments"][0]["ship_date"] >= start.isoformat()


def test_a_regular_item_has_no_quote(agent_api):
    item = agent_api.get("/api/v1/items/0013/").json()

    assert (item["is_continuity"], item["continuity_program"], item["quote"]) == (
        False,
        None,
        None,
    )


def test_items_and_programs_are_listed_read_only(agent_api):
    continuity_items = agent_api.get("/api/v1/items/", {"continuity": "true"}).json()
    assert [i["item_number"] for i in continuity_items["results"]] == ["88000", "88001", "88002"]
    programs = agent_api.get("/api/v1/continuity-programs/").json()
    assert {p["code"] for p in programs["results"]} >= {"WELLNESS6", "TEA3PREPAID"}
    wellness = agent_api.get("/api/v1/continuity-programs/WELLNESS6/").json()
    assert wellness["items"] == ["88000"]
    assert wellness["events"][0]["repeat_count"] == 6
    assert agent_api.post("/api/v1/continuity-programs/", {}).status_code == 405
    assert agent_api.delete("/api/v1/items/88000/").status_code == 405
