"""A sale: committed with its key by the caller's transaction, sent after it commits."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from core.actors import Actor
from core.services import audit_entries_insert, audit_entry_build, audit_record
from payments.gateways.base import GatewayResult
from payments.models import Card, Payment, PaymentMethod, PaymentOperation, PaymentStatus
from payments.services.sending import claim_end, gateway_send


def _sale_key(*, sales_order_id: int, occurrence_id: int | None, attempt: int) -> str:
    # Deterministic keys: two processes that both decide to make attempt N of the same
    # charge collide on the unique key instead of charging twice.
    if occurrence_id is not None:
        return f"occurrence-{occurrence_id}-sale-{attempt}"
    return f"order-{sales_order_id}-sale-{attempt}"


def payment_sale_create(
    *,
    sales_order,
    occurrence=None,
    method: PaymentMethod,
    card: Card,
    amount: Decimal,
    actor: Actor,
) -> Payment:
    """A pending sale with its idempotency key, claimed for sending by its creator. The
    caller holds the transaction and the lock on the order or occurrence, and calls the
    gateway only after it commits."""
    previous = Payment.objects.filter(
        sales_order=sales_order, occurrence=occurrence, operation=PaymentOperation.SALE
    ).count()
    attempt = previous + 1
    payment = Payment.objects.create(
        sales_order=sales_order,
        occurrence=occurrence,
        customer_id=sales_order.customer_id,
        method=method,
        card=card,
        operation=PaymentOperation.SALE,
        status=PaymentStatus.PENDING,
        amount=amount,
        currency=sales_order.currency,
        attempt_number=attempt,
        idempotency_key=_sale_key(
            sales_order_id=sales_order.pk,
            occurrence_id=occurrence.pk if occurrence else None,
            attempt=attempt,
        ),
        sending_until=claim_end(),
    )
    audit_record(
        actor=actor,
        action="payment_created",
        obj=payment,
        customer_id=payment.customer_id,
        to_status=payment.status,
        details={
            "operation": payment.operation,
            "amount": str(amount),
            "attempt": attempt,
            "key": payment.idempotency_key,
        },
    )
    return payment


def payment_sales_create(*, sales: list[dict], actor: Actor) -> list[Payment]:
    """payment_sale_create for many shipments' sales at once, in the same order: the same
    rows, keys, sending claims and audit entries (with their outbound events), in three
    statements instead of four a sale. Each of `sales` holds payment_sale_create's
    arguments, with an `occurrence` (a shipment's sale). The caller holds the transaction
    and the shipments' locks, and calls the gateway only after it commits; a key that
    exists already fails the whole statement (the caller's savepoint)."""
    if not sales:
        return []
    previous = Counter(
        Payment.objects.filter(
            occurrence__in=[sale["occurrence"].pk for sale in sales],
            operation=PaymentOperation.SALE,
        ).values_list("sales_order_id", "occurrence_id")
    )
    until = claim_end()
    payments = []
    for sale in sales:
        order, occurrence = sale["sales_order"], sale["occurrence"]
        attempt = previous[(order.pk, occurrence.pk)] + 1
        payments.append(
            Payment(
                sales_order=order,
                occurrence=occurrence,
                customer_id=order.customer_id,
                method=sale["method"],
                card=sale["card"],
                operation=PaymentOperation.SALE,
                status=PaymentStatus.PENDING,
                amount=sale["amount"],
                currency=order.currency,
                attempt_number=attempt,
                idempotency_key=_sale_key(
                    sales_order_id=order.pk, occurrence_id=occurrence.pk, attempt=attempt
                ),
                sending_until=until,
            )
        )
    Payment.objects.bulk_create(payments)
    audit_entries_insert(
        [
            audit_entry_build(
                actor=actor,
                action="payment_created",
                obj=payment,
                customer_id=payment.customer_id,
                to_status=payment.status,
                details={
                    "operation": payment.operation,
                    "amount": str(payment.amount),
                    "attempt": payment.attempt_number,
                    "key": payment.idempotency_key,
                },
            )
            for payment in payments
        ]
    )
    return payments


def payment_sale_send(payment: Payment, *, fresh: bool) -> GatewayResult | None:
    """Ask the gateway to charge `payment`; None when the answer did not come.

    A payment that is not fresh (unknown, or pending from a process that died) is first
    looked up by its key; only a gateway that never saw the key is asked to charge, and
    with the same key, so the gateway itself can never charge it twice. The caller holds
    a sending claim (payment_claim_for_sending, or the creation of the sale).
    Must run outside any transaction.
    """
    return gateway_send(
        payment,
        fresh=fresh,
        request=lambda gateway: gateway.sale(
            token=payment.card.token,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=payment.idempotency_key,
        ),
    )
