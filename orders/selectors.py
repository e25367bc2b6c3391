from django.db.models import Prefetch

from continuity.models import Occurrence, Subscription
from continuity.selectors import ProgramQuote, program_get_for_quote, program_quote
from core.dates import business_date
from orders.models import SalesOrder, SalesOrderLine
from payments.models import Payment


def sales_order_get(*, number: str) -> SalesOrder:
    """An order with everything its page shows, in a fixed number of queries."""
    return (
        SalesOrder.objects.select_related(
            "customer", "parent", "ship_to", "payment_method", "payment_card"
        )
        .prefetch_related(
            "lines__item__continuity_program",
            Prefetch(
                "payments",
                queryset=Payment.objects.select_related("card", "method").order_by("id"),
            ),
            "child_orders",
            Prefetch(
                "subscriptions",
                queryset=Subscription.objects.select_related("program", "item").prefetch_related(
                    Prefetch(
                        "occurrences",
                        queryset=Occurrence.objects.select_related(
                            "child_order", "payment"
                        ).order_by("sequence"),
                    )
                ),
            ),
        )
        .get(number=number)
    )


def sales_order_continuity_previews(order: SalesOrder) -> list[tuple[SalesOrderLine, ProgramQuote]]:
    """For each continuity line of an open order: its program and planned shipments as
    they would be if the order were submitted today."""
    today = business_date()
    previews = []
    for line in order.lines.all():
        if not line.item.is_continuity:
            continue
        program = program_get_for_quote(program_id=line.item.continuity_program_id)
        quote = program_quote(
            program=program,
            start_date=line.continuity_start_date or today,
            quantity=line.quantity,
            horizon_from=today,
        )
        previews.append((line, quote))
    return previews
