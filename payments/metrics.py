"""continuity_charges_total: card charges (sales) by what the gateway answered (see
core.metrics for why it is read from the database)."""

from collections.abc import Iterator

from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from core.metrics import counts_by
from payments.models import Payment, PaymentOperation, PaymentStatus

# A sale refunded or voided later was approved when it was charged.
CHARGE_OUTCOMES = {
    PaymentStatus.APPROVED: "approved",
    PaymentStatus.REFUNDED: "approved",
    PaymentStatus.VOIDED: "approved",
    PaymentStatus.DECLINED: "declined",
    # The gateway did not confirm (a timeout, an error): looked up before any retry.
    PaymentStatus.UNKNOWN: "unknown",
    PaymentStatus.PENDING: "pending",
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
        totals: dict[tuple[str, str], int] = {}
        for (shipment, status), n in counts.items():
            key = ("shipment" if shipment else "order", CHARGE_OUTCOMES[status])
            totals[key] = totals.get(key, 0) + n
        for charge in ("order", "shipment"):
            for outcome in dict.fromkeys(CHARGE_OUTCOMES.values()):
                charges.add_metric([charge, outcome], totals.get((charge, outcome), 0))
        yield charges
