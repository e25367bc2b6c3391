"""The subscriptions of a generated load: each with the plan it was sold with and every
planned shipment with its lines, the shipments paid at submit allocated to the sale."""

from continuity.models import (
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    PaymentAllocation,
    Subscription,
    SubscriptionStatus,
)
from core.bulk import copy_rows
from devdata.continuity_load.batch import LoadBatch, LoadShape
from orders.pricing import item_tax_groups


def subscription_rows_copy(shape: LoadShape, batch: LoadBatch) -> int:
    """Subscriptions, shipments, their lines and allocations; returns the rows."""
    customer_ids, address_ids, card_ids = batch.customer_ids, batch.address_ids, batch.card_ids
    order_ids, order_line_ids = batch.order_ids, batch.order_line_ids
    payment_ids, subscription_ids = batch.payment_ids, batch.subscription_ids
    occurrence_ids, shipments = batch.occurrence_ids, shape.quote.occurrences
    rows = 0
    rows += copy_rows(
        Subscription,
        (
            "id",
            "customer_id",
            "parent_order_id",
            "parent_line_id",
            "program_id",
            "item_id",
            "quantity",
            "start_date",
            "first_shipment_date",
            "open_ended",
            "plan",
            "planned_through",
            "payment_method_id",
            "card_id",
            "ship_to_id",
            "currency",
            "status",
            "hold_reason",
            "schedule_shift_days",
            "created_at",
        ),
        (
            (
                subscription_id,
                customer_id,
                order_id,
                line_id,
                shape.program_id,
                shape.item.pk,
                1,
                shape.start_date,
                shape.quote.first_shipment_date,
                shape.quote.open_ended,
                shape.plan_json,
                shape.quote.planned_through,
                shape.method.pk,
                card_id,
                address_id,
                shape.currency,
                SubscriptionStatus.ACTIVE.value,
                "",
                0,
                shape.sold_at,
            )
            for subscription_id, customer_id, order_id, line_id, card_id, address_id in zip(
                subscription_ids,
                customer_ids,
                order_ids,
                order_line_ids,
                card_ids,
                address_ids,
                strict=True,
            )
        ),
    )
    occurrence_rows = []
    line_rows = []
    allocation_rows = []
    ids = iter(occurrence_ids)
    # Lines carry their item's tax group, as a sold shipment's do (untaxed: the load's
    # shipments are written without tax; those shipped where tax is collected are taxed
    # at their charge, as after a change of rates).
    tax_groups = item_tax_groups(line.item_id for shipment in shipments for line in shipment.lines)
    for subscription_id, payment_id, address_id in zip(
        subscription_ids, payment_ids, batch.address_ids, strict=True
    ):
        for shipment in shipments:
            occurrence_id = next(ids)
            paid = shipment.sequence in shape.paid_sequences
            occurrence_rows.append(
                (
                    occurrence_id,
                    subscription_id,
                    shipment.sequence,
                    shipment.event_number,
                    shipment.ship_date,
                    shipment.amount,
                    shipment.amount,
                    shape.currency,
                    OccurrenceStatus.PAID.value if paid else OccurrenceStatus.SCHEDULED.value,
                    payment_id if paid else None,
                    0,
                    None,
                    "",
                    None,
                    address_id,
                )
            )
            if paid and shipment.amount > 0:
                # The sale taken at submit pays this shipment: its allocation, as
                # continuity.services.occurrences_create writes for a sold order.
                allocation_rows.append((occurrence_id, payment_id, shipment.amount, shape.sold_at))
            for number, line in enumerate(shipment.lines, start=1):
                line_rows.append(
                    (
                        occurrence_id,
                        number,
                        line.item_id,
                        line.quantity,
                        line.unit_price,
                        line.amount,
                        line.amount,
                        tax_groups.get(line.item_id) or "",
                    )
                )
    rows += copy_rows(
        Occurrence,
        (
            "id",
            "subscription_id",
            "sequence",
            "event_number",
            "ship_date",
            "amount",
            "subtotal",
            "currency",
            "status",
            "payment_id",
            "payment_attempts",
            "next_payment_attempt_on",
            "decline_reason",
            "child_order_id",
            "priced_ship_to_id",
        ),
        occurrence_rows,
    )
    rows += copy_rows(
        OccurrenceLine,
        (
            "occurrence_id",
            "line_number",
            "item_id",
            "quantity",
            "unit_price",
            "amount",
            "gross_amount",
            "tax_group",
        ),
        line_rows,
    )
    rows += copy_rows(
        PaymentAllocation,
        ("occurrence_id", "payment_id", "amount", "created_at"),
        allocation_rows,
    )
    return rows
