"""The supervisor's upload of ship confirmations: the file read, the preview (nothing
written), the confirm (every good shipment recorded, nothing of a shipment with a bad
row), a file uploaded again, and who may use the page."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from core.actors import Actor
from core.dates import business_date
from core.models import AuditEntry
from devdata.demo import DEMO_PASSWORD
from orders.fulfilment.services import ShipmentConfirmation, warehouse_shipment_record
from orders.models import (
    Invoice,
    SalesOrderStatus,
    ShipmentSource,
    WarehouseShipment,
    WarehouseShipmentLine,
)
from orders.shipment_upload import MAX_ROWS, UploadError, rows_read

pytestmark = pytest.mark.django_db

HEADER = (
    "order_number,warehouse_shipment_id,carrier,tracking_number,shipped_date,line_number,"
    "quantity,item_number"
)
UPLOAD = "/orders/shipments/upload/"


def signed_in(username: str, **client_kwargs) -> Client:
    client = Client(**client_kwargs)
    assert client.login(request=HttpRequest(), username=username, password=DEMO_PASSWORD)
    return client


@pytest.fixture
def supervisor(demo):
    return signed_in("supervisor")


def csv_file(*rows: str, header: str = HEADER, name: str = "ship.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join([header, *rows]) + "\n").encode(), "text/csv")


def row(order, reference="WH-1", line=1, quantity=1, carrier="UPS", item="", date=None) -> str:
    date = date or business_date().isoformat()
    return f"{order.number},{reference},{carrier},1Z{reference},{date},{line},{quantity},{item}"


def written() -> tuple[int, int, int, int]:
    return (
        WarehouseShipment.objects.count(),
        WarehouseShipmentLine.objects.count(),
        Invoice.objects.count(),
        AuditEntry.objects.filter(action="shipment_recorded").count(),
    )


def upload(client, file):
    response = client.post(UPLOAD, {"file": file})
    assert response.status_code == 302, response.content.decode()[:2000]
    preview = client.get(response.url)
    assert preview.status_code == 200
    return preview


def outcomes(response) -> dict[int, str]:
    """Row number -> outcome, as the page's table says."""
    html = response.content.decode()
    return {
        int(number): outcome
        for number, outcome in re.findall(r'data-row="(\d+)" data-outcome="(\w+)"', html)
    }


def confirm(client, preview):
    action = re.search(r'action="([^"]+/confirm/)"', preview.content.decode()).group(1)
    response = client.post(action)
    assert response.status_code == 302
    return client.get(response.url)


# --- Reading the file ----------------------------------------------------------------------


def test_a_file_with_bom_semicolons_and_header_in_any_case_is_read():
    content = (
        "\ufeffORDER_NUMBER;Warehouse_Shipment_Id;carrier;tracking_number;shipped_date;"
        "line_number;quantity;extra\nSO-1;WH-1;ups;1Z;2026-12-07;1;2;x\n\n"
    ).encode()

    rows = rows_read(content)

    assert rows == [
        {
            "row": 2,
            "order_number": "SO-1",
            "warehouse_shipment_id": "WH-1",
            "carrier": "ups",
            "tracking_number": "1Z",
            "shipped_date": "2026-12-07",
            "line_number": "1",
            "quantity": "2",
            "item_number": "",
        }
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"  \n", "The file is empty."),
        (HEADER.encode() + b"\n", "The file has a header but no rows."),
        (b"order_number,quantity\nSO-1,1\n", "missing: warehouse_shipment_id, carrier"),
        ("é".encode("latin-1") + b"\n", "The file is not UTF-8 text."),
        (HEADER.encode() + b",quantity\n", "A column appears twice: quantity."),
        (b"x" * 1_000_001, "The file is larger than 1000 kB."),
        (
            (HEADER + "\n" + "SO-1,WH,UPS,1Z,2026-12-07,1,1,\n" * (MAX_ROWS + 1)).encode(),
            "The file has more than 5000 rows",
        ),
    ],
)
def test_a_file_that_cannot_be_read_says_why(content, message):
    with pytest.raises(UploadError) as refusal:
        rows_read(content)
    assert message in refusal.value.message


def test_a_wrong_file_is_refused_on_the_upload_page_and_nothing_is_kept(supervisor):
    response = supervisor.post(UPLOAD, {"file": csv_file("SO-1,1", header="order,qty")})

    assert response.status_code == 400
    assert "missing: order_number" in response.content.decode()
    assert "shipment_upload" not in supervisor.session


# --- Preview and confirm ---------------------------------------------------------------


def test_preview_shows_each_row_and_writes_nothing(supervisor, released, carriers):
    order = released()
    file = csv_file(
        row(order, "WH-GOOD", line=1),
        row(order, "WH-BAD", line=2, carrier="DHL"),
    )

    preview = upload(supervisor, file)

    assert outcomes(preview) == {2: "ready", 3: "refused"}
    html = preview.content.decode()
    assert "No active carrier has the code DHL." in html
    assert "Record 1 shipment" in html
    assert written() == (0, 0, 0, 0)


def test_confirm_records_the_good_shipments_and_nothing_of_a_bad_one(
    supervisor, released, carriers
):
    good, bad = released(), released()
    file = csv_file(
        row(good, "WH-GOOD", line=1),
        row(good, "WH-GOOD", line=2),
        # One shipment, one good row and one bad: none of it is written.
        row(bad, "WH-BAD", line=1),
        row(bad, "WH-BAD", line=2, quantity=5),
    )
    preview = upload(supervisor, file)
    assert outcomes(preview) == {2: "ready", 3: "ready", 4: "refused", 5: "refused"}

    result = confirm(supervisor, preview)

    assert outcomes(result) == {2: "recorded", 3: "recorded", 4: "refused", 5: "refused"}
    html = result.content.decode()
    assert "Shipments recorded: 1. Already recorded: 0. Not recorded: 1." in html
    assert "Line 2 has 1 left to ship, not 5." in html
    shipment = WarehouseShipment.objects.get()
    assert shipment.warehouse_reference == "WH-GOOD"
    assert shipment.source == ShipmentSource.CSV
    assert shipment.recorded_by.username == "supervisor"
    assert written() == (1, 2, 1, 1)
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == SalesOrderStatus.COMPLETED
    assert bad.status == SalesOrderStatus.RELEASED
    assert list(bad.lines.values_list("shipped_quantity", flat=True)) == [0, 0]
    assert "shipment_upload" not in supervisor.session


def test_rows_of_one_shipment_that_disagree_are_each_refused(supervisor, released, carriers):
    order = released()
    file = csv_file(
        row(order, "WH-1", line=1, carrier="UPS"),
        row(order, "WH-1", line=2, carrier="COLISSIMO"),
    )

    preview = upload(supervisor, file)

    assert outcomes(preview) == {2: "refused", 3: "refused"}
    assert preview.content.decode().count("disagree on carrier") == 2
    assert "Record" not in preview.content.decode().split("data-upload-rows")[0]
    assert written() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"line": "one"}, "The line number is a whole number from 1."),
        ({"quantity": "0"}, "The quantity is a whole number from 1 to 9999."),
        ({"date": "07/12/2026"}, "The shipped date is written YYYY-MM-DD"),
        ({"reference": ""}, "Enter the warehouse&#x27;s shipment id."),
    ],
)
def test_a_row_that_cannot_be_read_is_refused_with_its_message(
    supervisor, released, carriers, cells, message
):
    order = released()

    preview = upload(supervisor, csv_file(row(order, **cells)))

    assert outcomes(preview) == {2: "refused"}
    assert message in preview.content.decode()
    assert written() == (0, 0, 0, 0)


def test_two_parcels_of_one_line_that_ship_too_much_together_are_told_in_the_preview(
    supervisor, released, carriers
):
    order = released()
    file = csv_file(
        row(order, "WH-1", line=1),
        row(order, "WH-2", line=2),
        # Line 1 has one unit: the first parcel ships it.
        row(order, "WH-3", line=1),
    )

    preview = upload(supervisor, file)

    assert outcomes(preview) == {2: "ready", 3: "ready", 4: "refused"}
    assert (
        "With this file&#x27;s earlier shipments of the same lines: Line 1 has 1 left to ship, "
        "not 2." in preview.content.decode()
    )
    result = confirm(supervisor, preview)
    assert outcomes(result) == {2: "recorded", 3: "recorded", 4: "refused"}
    assert written() == (2, 2, 2, 2)


def test_the_same_file_again_is_harmless(supervisor, released, carriers):
    order = released()
    file_rows = (row(order, "WH-1", line=1), row(order, "WH-2", line=2))
    confirm(supervisor, upload(supervisor, csv_file(*file_rows)))
    before = written()

    preview = upload(supervisor, csv_file(*file_rows))
    assert outcomes(preview) == {2: "replay", 3: "replay"}
    assert "Already recorded (no change)" in preview.content.decode()
    assert 'id="upload-confirm"' not in preview.content.decode()

    assert written() == before == (2, 2, 2, 2)


def test_confirm_checks_again_what_changed_since_the_preview(supervisor, released, carriers):
    order = released()
    preview = upload(supervisor, csv_file(row(order, "WH-FILE", line=1)))
    assert outcomes(preview) == {2: "ready"}
    # Meanwhile the warehouse confirmed the same line through the API.
    warehouse_shipment_record(
        ShipmentConfirmation(
            order_number=order.number,
            warehouse_reference="WH-API",
            carrier_code="UPS",
            tracking_number="1ZAPI",
            shipped_date=business_date(),
            lines=((1, 1, ""),),
        ),
        source=ShipmentSource.API,
        actor=Actor.job("test"),
    )
    before = written()

    result = confirm(supervisor, preview)

    assert outcomes(result) == {2: "refused"}
    assert "Line 1 has 0 left to ship, not 1." in result.content.decode()
    assert written() == before


def test_a_confirm_without_a_waiting_upload_records_nothing(supervisor, released, carriers):
    released()
    response = supervisor.post(f"{UPLOAD}00000000-0000-0000-0000-000000000000/confirm/")

    assert response.status_code == 302
    assert response.url == UPLOAD
    assert written() == (0, 0, 0, 0)


def test_confirm_needs_the_csrf_token(demo, released, carriers):
    order = released()
    client = signed_in("supervisor", enforce_csrf_checks=True)
    page = client.get(UPLOAD)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(UPLOAD, {"file": csv_file(row(order)), "csrfmiddlewaretoken": token})
    confirm_url = response.url + "confirm/"

    refused = client.post(confirm_url)

    assert refused.status_code == 403
    assert written() == (0, 0, 0, 0)


# --- Who may use it ------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["agent", "warehouse"])
def test_only_supervisors_reach_the_upload_page(demo, released, carriers, username):
    order = released()
    client = signed_in(username)

    assert client.get(UPLOAD).status_code == 403
    assert client.post(UPLOAD, {"file": csv_file(row(order))}).status_code == 403
    assert "shipment_upload" not in client.session
    assert written() == (0, 0, 0, 0)


def test_the_supervisor_menu_links_to_the_upload_page(supervisor):
    html = supervisor.get(reverse("batch:history")).content.decode()
    assert f'href="{UPLOAD}"' in html


def test_the_warehouse_user_opens_no_page(demo, released):
    order = released()
    client = signed_in("warehouse")

    for path in [
        "/",
        reverse("customers:detail", args=["004021"]),
        reverse("orders:detail", args=[order.number]),
        reverse("batch:history"),
        reverse("exceptions:exceptions"),
        reverse("continuity:forecast"),
        UPLOAD,
    ]:
        assert client.get(path).status_code == 403, path
    # The admin site lets in staff only: it sends anyone else to its sign-in page.
    for path in ["/admin/", "/admin/orders/warehouseshipment/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url.startswith("/admin/login/")
    assert not get_user_model().objects.get(username="warehouse").is_staff
    # The API's documentation is for whoever calls the API.
    assert client.get("/api/docs/").status_code == 200
