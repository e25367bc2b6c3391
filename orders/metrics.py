"""continuity_child_orders_total: child orders the batch created (see core.metrics for
why it is read from the database)."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from orders.models import SalesOrder, SalesOrderKind


class ChildOrdersCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "continuity_child_orders",
            "Continuity child orders created (one per shipment, or per consolidated group).",
            value=SalesOrder.objects.filter(kind=SalesOrderKind.CONTINUITY_CHILD).count(),
        )
