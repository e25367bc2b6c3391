from django.db.models import Prefetch

from continuity.models import Occurrence, Subscription
from orders.models import SalesOrder


def sales_order_get(*, number: str) -> SalesOrder:
    """An order with everything its page shows, in a fixed number of queries."""
    return (
        SalesOrder.objects.select_related(
            "customer", "parent", "ship_to", "payment_method", "payment_card"
        )
        .prefetch_related(
            "lines__item",
            "payments__card",
            "child_orders",
            Prefetch(
                "subscriptions",
                queryset=Subscription.objects.select_related("program", "item").prefetch_related(
                    Prefetch(
                        "occurrences",
                        queryset=Occurrence.objects.select_related("child_order", "payment"),
                    )
                ),
            ),
        )
        .get(number=number)
    )
