"""The product's metrics on /metrics, next to django-prometheus' request metrics.

They are read from the database at scrape time, not counted in memory: charges are made
and child orders created in Celery workers, other processes in other containers than the
web's, and the database is where every one of them already records what it did. So the
numbers are exact, survive restarts, and need no shared folder or push gateway; every
web process answers the same totals. The price is a few grouped counts per scrape, on
indexed columns.

Each app registers its collector in its AppConfig.ready() (metrics_collector_register):
core, below every other app, never imports them.
"""

from collections.abc import Iterable, Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from core.models import Notification, NotificationKind, NotificationStatus

_collectors: dict[str, Collector] = {}


class _Registered(Collector):
    def collect(self) -> Iterator[Metric]:
        for collector in _collectors.values():
            yield from collector.collect()


# auto_describe off: registering must not query the database (apps are still loading).
BUSINESS_METRICS = CollectorRegistry(auto_describe=False)
BUSINESS_METRICS.register(_Registered())


def metrics_collector_register(name: str, collector: Collector) -> None:
    """Add (or, on a second ready(), replace) the collector known as `name`."""
    _collectors[name] = collector


def counts_by(rows: Iterable[dict], *keys: str) -> dict[tuple, int]:
    return {tuple(row[key] for key in keys): row["n"] for row in rows}


class NotificationsOwedCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        owed = GaugeMetricFamily(
            "continuity_notifications_owed",
            "Customer emails written and not sent yet (pending), by kind.",
            labels=["kind"],
        )
        counts = counts_by(
            Notification.objects.filter(status=NotificationStatus.PENDING)
            .values("kind")
            .annotate(n=Count("id")),
            "kind",
        )
        for kind in NotificationKind.values:
            owed.add_metric([kind], counts.get((kind,), 0))
        yield owed
