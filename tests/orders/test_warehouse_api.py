"""The warehouse API: the pick list, shipment confirmations idempotent by the warehouse's
own shipment id, a supervisor's release; and the Warehouse role reaching nothing else."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from continuity.models import ChildOrderRelease, ContinuityParameters
from core.dates import business_date
from core.models import AuditEntry
from orders.models import (
    Invoice,
    SalesOrder,
    SalesOrderStatus,
    WarehouseShipment,
    WarehouseShipmentLine,
)
from tests.api.conftest import assert_error, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def warehouse_api(demo):
    return token_client(get_user_model().objects.get(username="warehouse"))


@pytest.fixture
def supervisor_api(demo):
    return token_client(get_user_model().objects.get(username="supervisor"))


@pytest.fixture
def agent_api(demo):
    return token_client(get_user_model().objects.get(username="agent"))


def written() -> tuple[int, int, int, int]:
    return (
        WarehouseShipment.objects.count(),
        WarehouseShipmentLine.objects.count(),
        Invoice.objects.count(),
        AuditEntry.objects.filter(action="shipment_recorded").count(),
    )


def body(order, **changes) -> dict:
    """A confirmation of the order's first line (the demo's child order has two: 0013
    and 0015, one unit each)."""
    line = order.lines.get(line_number=1)
    confirmation = {
        "warehouse_shipment_id": "WH-1001",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "shipped_date": business_date().isoformat(),
        "lines": [
            {"line_number": 1, "quantity": line.quantity, "item_number": line.item.item_number}
        ],
    }
    confirmation.update(changes)
    return confirmation


def ship(api, order_number, confirmation):
    return api.post(f"/api/v1/sales-orders/{order_number}/shipments/", confirmation, format="json")


# --- The pick list -----------------------------------------------------------------------


def test_pick_list_lists_released_orders_with_their_lines(warehouse_api, released):
    order = released()
    lines = list(order.lines.select_related("item").order_by("line_number"))

    response = warehouse_api.get("/api/v1/sales-orders/?status=released")

    assert response.status_code == 200, response.content
    page = response.json()
    assert page["count"] == 1
    [listed] = page["results"]
    assert listed["number"] == order.number
    assert listed["status"] == "released"
    assert listed["kind"] == "continuity_child"
    assert listed["customer"] == {"account_number": "004021", "full_name": "Karen Berg"}
    assert listed["ship_to"]["city"] == "Seattle"
    assert listed["released_at"] is not None
    assert listed["lines"] == [
        {
            "line_number": line.line_number,
            "item_number": line.item.item_number,
            "item_name": line.item.name,
            "quantity": 1,
            "shipped_quantity": 0,
            "quantity_left": 1,
        }
        for line in lines
    ]
    assert [line["item_number"] for line in listed["lines"]] == ["0013", "0015"]


def test_pick_list_oldest_release_first_and_without_status_lists_what_is_with_the_warehouse(
    warehouse_api, released
):
    first = released()
    second = released()
    SalesOrder.objects.filter(pk=second.pk).update(
        released_at=first.released_at - datetime.timedelta(hours=1)
    )
    SalesOrder.objects.filter(pk=first.pk).update(status=SalesOrderStatus.PARTIALLY_SHIPPED)

    default = warehouse_api.get("/api/v1/sales-orders/").json()
    released_only = warehouse_api.get("/api/v1/sales-orders/?status=released").json()
    both = warehouse_api.get("/api/v1/sales-orders/?status=Released, partially_shipped").json()

    assert [o["number"] for o in default["results"]] == [second.number, first.number]
    assert [o["number"] for o in released_only["results"]] == [second.number]
    assert [o["number"] for o in both["results"]] == [second.number, first.number]


def test_pick_list_reads_a_page_in_a_fixed_number_of_queries(warehouse_api, released):
    released()
    with CaptureQueriesContext(connection) as one:
        warehouse_api.get("/api/v1/sales-orders/?status=released")
    released()
    released()
    with CaptureQueriesContext(connection) as three:
        response = warehouse_api.get("/api/v1/sales-orders/?status=released")
    assert response.json()["count"] == 3
    assert len(three) == len(one)


@pytest.mark.parametrize("status", ["shipping", "released,shipping", ",", "open;released"])
def test_pick_list_refuses_an_unknown_status(warehouse_api, status):
    error = assert_error(warehouse_api.get(f"/api/v1/sales-orders/?status={status}"), 400)
    assert list(error["fields"]) == ["status"]


def test_the_warehouse_does_not_list_orders_before_their_release(
    warehouse_api, supervisor_api, sell
):
    parent = sell()

    error = assert_error(warehouse_api.get("/api/v1/sales-orders/?status=submitted"), 400)
    supervised = supervisor_api.get("/api/v1/sales-orders/?status=submitted")

    assert list(error["fields"]) == ["status"]
    assert supervised.status_code == 200
    assert [o["number"] for o in supervised.json()["results"]] == [parent.number]


# --- Shipment confirmations ---------------------------------------------------------------


def test_a_shipment_confirmed_is_recorded_with_its_invoice(warehouse_api, released, carriers):
    order = released()

    response = ship(warehouse_api, order.number, body(order))

    assert response.status_code == 201, response.content
    answer = response.json()
    shipment = WarehouseShipment.objects.get()
    invoice = Invoice.objects.get()
    assert answer["id"] == shipment.pk
    assert answer["warehouse_shipment_id"] == "WH-1001"
    assert answer["order"] == order.number
    assert answer["carrier"] == {"code": "UPS", "name": "UPS"}
    assert answer["tracking_number"] == "1Z999AA10123456784"
    assert answer["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert answer["shipped_date"] == business_date().isoformat()
    assert answer["source"] == "api"
    assert answer["lines"] == [{"line_number": 1, "item_number": "0013", "quantity": 1}]
    assert answer["invoice"]["number"] == invoice.number
    assert answer["invoice"]["total"] == str(invoice.total)
    order.refresh_from_db()
    assert answer["order_status"] == order.status == SalesOrderStatus.PARTIALLY_SHIPPED
    assert shipment.recorded_by.username == "warehouse"
    assert written() == (1, 1, 1, 1)


def test_the_same_confirmation_again_answers_200_and_writes_nothing(
    warehouse_api, released, carriers
):
    order = released()
    first = ship(warehouse_api, order.number, body(order))
    before = written()

    again = ship(warehouse_api, order.number.lower(), body(order, carrier="ups"))

    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert written() == before == (1, 1, 1, 1)


def test_the_same_id_with_other_content_is_a_conflict(warehouse_api, released, carriers):
    order = released()
    ship(warehouse_api, order.number, body(order))
    before = written()

    response = ship(warehouse_api, order.number, body(order, tracking_number="OTHER"))

    error = assert_error(response, 409, "conflict")
    assert "WH-1001" in error["message"]
    assert written() == before


def test_the_rest_shipped_later_invoices_the_order(warehouse_api, released, carriers):
    order = released()
    ship(warehouse_api, order.number, body(order))

    rest = ship(
        warehouse_api,
        order.number,
        body(
            order,
            warehouse_shipment_id="WH-1002",
            carrier="COLISSIMO",
            lines=[{"line_number": 2, "quantity": 1}],
        ),
    )

    assert rest.status_code == 201, rest.content
    order.refresh_from_db()
    assert rest.json()["order_status"] == order.status
    assert order.status == SalesOrderStatus.COMPLETED
    assert rest.json()["tracking_url"].startswith("https://www.laposte.fr/")
    assert list(order.lines.order_by("line_number").values_list("shipped_quantity", flat=True)) == [
        1,
        1,
    ]
    assert written() == (2, 2, 2, 2)


def test_an_order_not_released_is_a_conflict(warehouse_api, sell, carriers):
    parent = sell()

    response = ship(warehouse_api, parent.number, body(parent))

    assert_error(response, 409, "conflict")
    assert written() == (0, 0, 0, 0)


def test_an_order_already_shipped_is_a_conflict(warehouse_api, released, carriers):
    order = released()
    ship(warehouse_api, order.number, body(order))
    ship(
        warehouse_api,
        order.number,
        body(order, warehouse_shipment_id="WH-1002", lines=[{"line_number": 2, "quantity": 1}]),
    )
    before = written()

    response = ship(warehouse_api, order.number, body(order, warehouse_shipment_id="WH-1003"))

    assert_error(response, 409, "conflict")
    assert written() == before


def test_an_unknown_order_is_not_found(warehouse_api, released, carriers):
    order = released()

    response = ship(warehouse_api, "SO-NOPE", body(order))

    assert_error(response, 404, "not_found")
    assert written() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shipped_date": "07/12/2026"}, "shipped_date"),
        ({"shipped_date": "2199-01-01"}, "shipped_date"),
        ({"carrier": "DHL"}, "carrier"),
        ({"tracking_number": ""}, "tracking_number"),
        ({"warehouse_shipment_id": "x" * 65}, "warehouse_shipment_id"),
        ({"lines": []}, "lines"),
        ({"lines": [{"line_number": 1, "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"line_number": 1, "quantity": "1"}]}, "lines.0.quantity"),
        ({"lines": [{"line_number": 9, "quantity": 1}]}, "lines"),
        ({"lines": [{"line_number": 1, "quantity": 2}]}, "lines"),
        ({"lines": [{"line_number": 1, "quantity": 1, "item_number": "0015"}]}, "lines"),
        (
            {"lines": [{"line_number": 1, "quantity": 1}, {"line_number": 1, "quantity": 1}]},
            "lines",
        ),
    ],
)
def test_bad_input_is_refused_with_its_field(warehouse_api, released, carriers, changes, field):
    order = released()

    response = ship(warehouse_api, order.number, body(order, **changes))

    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field]
    assert written() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "missing", ["warehouse_shipment_id", "carrier", "tracking_number", "shipped_date", "lines"]
)
def test_a_missing_field_is_refused(warehouse_api, released, carriers, missing):
    order = released()
    confirmation = body(order)
    del confirmation[missing]

    error = assert_error(ship(warehouse_api, order.number, confirmation), 400, "invalid")

    assert list(error["fields"]) == [missing]
    assert written() == (0, 0, 0, 0)


def test_a_supervisor_may_confirm_a_shipment(supervisor_api, released, carriers):
    order = released()

    response = ship(supervisor_api, order.number, body(order))

    assert response.status_code == 201
    assert WarehouseShipment.objects.get().recorded_by.username == "supervisor"


def test_an_agent_may_not_confirm_a_shipment_nor_list(agent_api, released, carriers):
    order = released()

    assert_error(ship(agent_api, order.number, body(order)), 403)
    assert_error(agent_api.get("/api/v1/sales-orders/?status=released"), 403)
    assert written() == (0, 0, 0, 0)


# --- Release ------------------------------------------------------------------------------


def test_a_supervisor_releases_a_submitted_child_order(supervisor_api, child_order):
    parameters = ContinuityParameters.load()
    parameters.child_order_release = ChildOrderRelease.BY_SUPERVISOR
    parameters.save()
    order = child_order()
    assert order.status == SalesOrderStatus.SUBMITTED

    response = supervisor_api.post(f"/api/v1/sales-orders/{order.number}/release/")

    assert response.status_code == 200, response.content
    assert response.json()["number"] == order.number
    assert response.json()["status"] == "released"
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.RELEASED
    assert order.released_at is not None


def test_release_refuses_an_order_already_released_or_unknown(
    supervisor_api, warehouse_api, released
):
    order = released()
    released_at = order.released_at

    assert_error(supervisor_api.post(f"/api/v1/sales-orders/{order.number}/release/"), 409)
    assert_error(supervisor_api.post("/api/v1/sales-orders/SO-NOPE/release/"), 404)
    assert_error(warehouse_api.post(f"/api/v1/sales-orders/{order.number}/release/"), 403)
    order.refresh_from_db()
    assert order.released_at == released_at


# --- The Warehouse role reaches these endpoints only --------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/customers/?q=Berg"),
        ("get", "/api/v1/customers/004021/"),
        ("post", "/api/v1/customers/004021/cards/"),
        ("get", "/api/v1/items/"),
        ("get", "/api/v1/items/88000/"),
        ("get", "/api/v1/continuity-programs/"),
        ("post", "/api/v1/sales-orders/"),
        ("get", "/api/v1/sales-orders/SO-000001/"),
        ("post", "/api/v1/sales-orders/SO-000001/lines/"),
        ("post", "/api/v1/sales-orders/SO-000001/submit/"),
        ("post", "/api/v1/sales-orders/SO-000001/release/"),
        ("get", "/api/v1/invoices/INV-000001/"),
        ("get", "/api/v1/subscriptions/"),
        ("get", "/api/v1/subscriptions/1/"),
        ("post", "/api/v1/subscriptions/1/skip/"),
        ("post", "/api/v1/subscriptions/1/release-hold/"),
        ("get", "/api/v1/batch-runs/"),
        ("post", "/api/v1/batch-runs/"),
        ("get", "/api/v1/batch-runs/1/"),
        ("get", "/api/v1/payment-exceptions/"),
    ],
)
def test_the_warehouse_role_reaches_no_other_endpoint(warehouse_api, method, path):
    response = getattr(warehouse_api, method)(path, {}, format="json")
    assert_error(response, 403, "permission_denied")
