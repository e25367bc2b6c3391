"""The parent orders of a generated load: each submitted with its one continuity line
and the approved sale taken at submit (in our payments and in the gateway's ledger)."""

from core.bulk import copy_rows
from devdata.continuity_load.batch import LEDGER, LoadBatch, LoadShape
from orders.models import SalesOrder, SalesOrderKind, SalesOrderLine, SalesOrderStatus
from payments.gateways.base import minor_units
from payments.gateways.simulator.models import SimulatedTransaction
from payments.models import Payment, PaymentOperation, PaymentStatus

# What made the parent orders, so that generated rows can be told from sold ones.
SOURCE_REFERENCE = "generated-load"


def sale_rows_copy(shape: LoadShape, batch: LoadBatch) -> int:
    """Parent orders, their lines and their sales (ours and the gateway's); returns the rows."""
    customer_ids, address_ids, card_ids = batch.customer_ids, batch.address_ids, batch.card_ids
    order_ids, order_line_ids, numbers = batch.order_ids, batch.order_line_ids, batch.order_numbers
    payment_ids, tokens, references = batch.payment_ids, batch.tokens, batch.references
    rows = 0
    rows += copy_rows(
        SalesOrder,
        (
            "id",
            "number",
            "customer_id",
            "kind",
            "status",
            "parent_id",
            "ship_to_id",
            "currency",
            "total",
            "subtotal",
            "amount_due",
            "completed_at",
            "payment_method_id",
            "payment_card_id",
            "order_date",
            "requested_ship_date",
            "submitted_at",
            "source_reference",
            "created_by_id",
            "created_at",
        ),
        (
            (
                order_id,
                number,
                customer_id,
                SalesOrderKind.CONTINUITY_PARENT.value,
                SalesOrderStatus.SUBMITTED.value,
                None,
                address_id,
                shape.currency,
                shape.due_now,
                shape.due_now,
                shape.due_now,
                shape.sold_at,
                shape.method.pk,
                card_id,
                shape.start_date,
                None,
                shape.sold_at,
                SOURCE_REFERENCE,
                None,
                shape.written_at,
            )
            for order_id, number, customer_id, address_id, card_id in zip(
                order_ids, numbers, customer_ids, address_ids, card_ids, strict=True
            )
        ),
    )
    # The continuity line is priced at what is due now for one unit (as
    # sales_order_line_add prices it); the program starts on the order date.
    rows += copy_rows(
        SalesOrderLine,
        (
            "id",
            "order_id",
            "line_number",
            "item_id",
            "quantity",
            "unit_price",
            "amount",
            "gross_amount",
            "continuity_start_date",
            "occurrence_line_id",
        ),
        (
            (
                line_id,
                order_id,
                1,
                shape.item.pk,
                1,
                shape.due_now,
                shape.due_now,
                shape.due_now,
                shape.start_date if shape.quote.program.prompt_for_start_date else None,
                None,
            )
            for line_id, order_id in zip(order_line_ids, order_ids, strict=True)
        ),
    )
    # The sale taken at submit: approved by the gateway (its ledger) and in our payments.
    amount_minor = minor_units(shape.due_now, shape.currency)
    rows += copy_rows(
        SimulatedTransaction,
        (
            "idempotency_key",
            "operation",
            "token",
            "original_reference",
            "amount_minor",
            "currency",
            "approved",
            "decline_code",
            "reference",
            "created_at",
        ),
        (
            (
                f"order-{order_id}-sale-1",
                "sale",
                token,
                "",
                amount_minor,
                shape.currency,
                True,
                "",
                reference,
                shape.sold_at,
            )
            for order_id, token, reference in zip(order_ids, tokens, references, strict=True)
        ),
        using=LEDGER,
    )
    rows += copy_rows(
        Payment,
        (
            "id",
            "sales_order_id",
            "occurrence_id",
            "customer_id",
            "method_id",
            "card_id",
            "original_id",
            "operation",
            "status",
            "amount",
            "currency",
            "attempt_number",
            "idempotency_key",
            "gateway_reference",
            "decline_code",
            "decline_class",
            "message",
            "created_at",
            "answered_at",
        ),
        (
            (
                payment_id,
                order_id,
                None,
                customer_id,
                shape.method.pk,
                card_id,
                None,
                PaymentOperation.SALE.value,
                PaymentStatus.APPROVED.value,
                shape.due_now,
                shape.currency,
                1,
                f"order-{order_id}-sale-1",
                reference,
                "",
                "",
                "Approved",
                shape.sold_at,
                shape.sold_at,
            )
            for payment_id, order_id, customer_id, card_id, reference in zip(
                payment_ids, order_ids, customer_ids, card_ids, references, strict=True
            )
        ),
    )
    return rows
