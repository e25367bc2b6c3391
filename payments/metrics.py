"""continuity_charges_total: card charges (sales) the gateway has answered, by answer; and
continuity_charges_unanswered: those still waiting for one (see core.metrics for why both
are read from the database).

Only final answers are a counter: a charge moves from pending (or unknown) to approved or
declined, so a count of pending charges goes down, and Prometheus reads any drop in a
counter as a restart."""

from collections.abc import Iterator

from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.metrics import counts_by
from payments.models import Payment, PaymentOperation, PaymentStatus

# A sale refunded or voided later was approved when it was charged.
CHARGE_OUTCOMES = {
    PaymentStatus.APPROVED: "approved",
    PaymentStatus.REFUNDED: "approved",
    PaymentStatus.VOIDED: "approved",
    PaymentStatus.DECLINED: "declined",
}
CHARGE_WAITING = {
    # Sent, or about to be: no answer yet.
    PaymentStatus.PENDING: "pending",
    # The gateway did not confirm (a timeout, an error): looked up before any retry.
    PaymentStatus.UNKNOWN: "unknown",
}


class ChargesCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        charges = CounterMetricFamily(
            "continuity_charges",
            "Card charges sent to the payment gateway, by what it answered; charge is "
            "'shipment' (a batch payment run) or 'order' (an order's submit).",
            labels=["charge", "outcome"],
        )
        counts = counts_by(
            Payment.objects.filter(operation=PaymentOperation.SALE)
            .annotate(
                shipment=ExpressionWrapper(Q(occurrence__isnull=False), output_field=BooleanField())
            )
            .values("shipment", "status")
            .annotate(n=Count("id")),
            "shipment",
            "status",
        )
        waiting = GaugeMetricFamily(
            "continuity_charges_unanswered",
            "Card charges without a final answer from the gateway yet: 'pending' (on the "
            "wire) or 'unknown' (no answer; reconcile looks them up).",
            labels=["charge", "state"],
        )
        totals: dict[tuple[str, str], int] = {}
        for (shipment, status), n in counts.items():
            state = CHARGE_OUTCOMES.get(status) or CHARGE_WAITING[status]
            key = ("shipment" if shipment else "order", state)
            totals[key] = totals.get(key, 0) + n
        for charge in ("order", "shipment"):
            for outcome in dict.fromkeys(CHARGE_OUTCOMES.values()):
                charges.add_metric([charge, outcome], totals.get((charge, outcome), 0))
            for state in CHARGE_WAITING.values():
                waiting.add_metric([charge, state], totals.get((charge, state), 0))
        yield charges
        yield waiting
