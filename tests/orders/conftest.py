"""Fixtures for the life of an order after submit: a child order made by the real
child-order job from a real sale, and carriers."""

import pytest

from batch.models import BatchJob
from batch.services import batch_run_inline, batch_run_request
from core.actors import Actor
from orders.fulfilment.services import sales_order_release
from orders.models import Carrier, SalesOrder, SalesOrderStatus
from tests.batch.conftest import on_day, sell, today  # noqa: F401  (fixtures)

JOB = Actor.job("test")


@pytest.fixture
def carriers(db):
    # get_or_create: the demo data with pricing (demo_priced) has these two already.
    return {
        "UPS": Carrier.objects.get_or_create(
            code="UPS",
            defaults={
                "name": "UPS",
                "tracking_url": "https://www.ups.com/track?tracknum={tracking_number}",
            },
        )[0],
        "COLISSIMO": Carrier.objects.get_or_create(
            code="COLISSIMO",
            defaults={
                "name": "Colissimo",
                "tracking_url": (
                    "https://www.laposte.fr/outils/suivre-vos-envois?code={tracking_number}"
                ),
            },
        )[0],
    }


@pytest.fixture
def child_order(sell, today):  # noqa: F811
    """Sell 88000 to Karen Berg and run the child-order job: her first shipment's child
    order (released at creation, the default)."""

    def make(**sell_kwargs) -> SalesOrder:
        parent = sell(**sell_kwargs)
        with on_day(today):
            run = batch_run_request(
                job=BatchJob.CREATE_CHILD_ORDERS,
                actor=JOB,
                run_date=today,
                order_number=parent.number,
            )
            batch_run_inline(run)
        return parent.child_orders.get()

    return make


@pytest.fixture
def released(child_order):
    """released() makes a child order (child_order) and hands it to the warehouse, if the
    child-order job has not already."""

    def make(**sell_kwargs) -> SalesOrder:
        order = child_order(**sell_kwargs)
        if order.status == SalesOrderStatus.SUBMITTED:
            sales_order_release(order_id=order.pk, actor=JOB)
        order.refresh_from_db()
        return order

    return make
