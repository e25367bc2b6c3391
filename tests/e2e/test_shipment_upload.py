"""A supervisor uploads the warehouse's ship confirmations in the browser: one good row
and one bad, the preview with the row's error, confirm, the result. Only the good
shipment is recorded."""

import re

import pytest
from playwright.sync_api import expect

from core.dates import business_date
from orders.models import SalesOrderStatus, ShipmentSource, WarehouseShipment
from tests.orders.conftest import child_order, released  # noqa: F401  (fixtures)

from . import seed
from .conftest import log_in
from .words import Words

HEADER = (
    "order_number,warehouse_shipment_id,carrier,tracking_number,shipped_date,line_number,"
    "quantity,item_number"
)

WORDS = {
    "en": {
        "menu": "Ship confirmations",
        "file": "File of ship confirmations (CSV)",
        "preview": "Preview",
        "record": "Record 1 shipment",
        "ready": "OK",
        "not recorded": "Not recorded",
        "summary": "Shipments recorded: 1. Already recorded: 0. Not recorded: 1.",
    },
    "fr": {
        "menu": "Confirmations d'expédition",
        "file": "Fichier des confirmations d'expédition (CSV)",
        "preview": "Aperçu",
        "record": "Enregistrer 1 expédition",
        "ready": "OK",
        "not recorded": "Non enregistrée",
        "summary": "Expéditions enregistrées : 1. Déjà enregistrées : 0. Non enregistrées : 1.",
    },
}


@pytest.mark.parametrize(("language", "locale"), [("en", "en-US"), ("fr", "fr-FR")])
def test_a_supervisor_uploads_ship_confirmations(new_page, shots, released, language, locale):  # noqa: F811
    words = WORDS[language]
    order = released()
    today = business_date().isoformat()
    content = "\n".join(
        [
            HEADER,
            f"{order.number},WH-E2E-1,UPS,1Z999AA10123456784,{today},1,1,0013",
            # Line 2 has one unit to ship, not 3.
            f"{order.number},WH-E2E-2,COLISSIMO,6A12345678901,{today},2,3,0015",
        ]
    )
    page = new_page(locale)
    labels = Words(language)
    log_in(page, "supervisor", user_label=labels["User name"], password_label=labels["Password"])

    page.get_by_role("link", name=words["menu"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["menu"])
    page.get_by_label(words["file"], exact=True).set_input_files(
        {"name": "confirmations.csv", "mimeType": "text/csv", "buffer": content.encode()}
    )
    seed.look(page, shots, "upload")
    seed.button(page, words["preview"]).click()

    page.wait_for_url(re.compile(r"/orders/shipments/upload/[0-9a-f-]+/$"))
    expect(page.locator('tr[data-row="2"]')).to_have_attribute("data-outcome", "ready")
    expect(page.locator('tr[data-row="3"]')).to_have_attribute("data-outcome", "refused")
    expect(page.locator('tr[data-row="3"] [data-row-error]')).to_contain_text("3")
    seed.look(page, shots, "preview")
    assert not WarehouseShipment.objects.exists()

    seed.button(page, words["record"]).click()

    page.wait_for_url(re.compile(r"/orders/shipments/upload/[0-9a-f-]+/result/$"))
    expect(page.locator("[data-upload-summary]")).to_have_text(words["summary"])
    expect(page.locator('tr[data-row="2"]')).to_have_attribute("data-outcome", "recorded")
    expect(page.locator('tr[data-row="3"]')).to_have_attribute("data-outcome", "refused")
    expect(page.locator('tr[data-row="3"]')).to_contain_text(words["not recorded"])
    seed.look(page, shots, "result")

    shipment = WarehouseShipment.objects.get()
    assert (shipment.warehouse_reference, shipment.source) == ("WH-E2E-1", ShipmentSource.CSV)
    order.refresh_from_db()
    assert order.status == SalesOrderStatus.PARTIALLY_SHIPPED
