import datetime

from django.db.models import Prefetch

from continuity.models import Occurrence, Subscription
from continuity.selectors import ProgramQuote, program_get_for_quote, program_quote
from core.dates import business_date
from orders.models import Item, SalesOrder, SalesOrderLine
from payments.models import Payment


def sales_order_id_get(*, number: str) -> int:
    """The id the order-entry services take, from the order number people use."""
    return SalesOrder.objects.values_list("pk", flat=True).get(number=number)


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
                queryset=Subscription.objects.select_related(
                    "program", "item", "customer", "card", "parent_order"
                ).prefetch_related(
                    Prefetch(
                        "occurrences",
                        queryset=Occurrence.objects.select_related("child_order", "payment")
                        .prefetch_related("lines__item")
                        .order_by("sequence"),
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


def item_list(*, continuity: bool | None = None):
    items = Item.objects.select_related("continuity_program").order_by("item_number")
    if continuity is not None:
        items = items.filter(continuity_program__isnull=not continuity)
    return items


def item_get(*, item_number: str) -> Item:
    return Item.objects.select_related("continuity_program").get(item_number=item_number)


def item_quote(item: Item, *, start_date: datetime.date | None = None) -> ProgramQuote | None:
    """The planned shipments of a continuity item sold today, its program starting on
    `start_date` (default: today, the order date); None for any other item."""
    if not item.is_continuity:
        return None
    today = business_date()
    program = program_get_for_quote(program_id=item.continuity_program_id)
    return program_quote(program=program, start_date=start_date or today, horizon_from=today)
