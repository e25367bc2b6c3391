"""The one lock order of continuity's writes (docs/money.md, "Locks").

Every transaction that changes a shipment, its money or its subscription takes, in this
order and only going down it:

1. the batch chunk's row (batch runs only: ChunkLedger),
2. the subscriptions' rows, in id order,
3. the shipments' rows, in id order,
4. a shipment's child order's row (orders.fulfilment: the row a release, a warehouse
   confirmation and a cancel meet on),
5. the payments' rows: a sale, then its refunds and voids,
6. the batch run's row (its counters).

Agents and supervisors wait for these locks; batch chunks take 2 and 3 with SKIP LOCKED
and come back later for what they skipped. Holding the subscription's row is what lets
an action read the state of its shipments and act on it: no other writer can change them
until it commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from continuity.models import Subscription


def subscriptions_lock(subscription_ids: Iterable[int] | QuerySet) -> list[int]:
    """Lock these subscriptions' rows (waiting for them), in id order, inside the
    caller's transaction. Returns the ids locked."""
    return list(
        Subscription.objects.select_for_update()
        .filter(pk__in=subscription_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
