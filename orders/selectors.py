import datetime
from collections.abc import Collection

from django.db.models import Prefetch

from core.dates import business_date
from customers.models import Customer
from orders.models import Item, SalesOrder, SalesOrderLine
from orders.programs import program_sales
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
            *program_sales().order_prefetches(),
        )
        .get(number=number)
    )


def sales_order_continuity_previews(order: SalesOrder) -> list[tuple[SalesOrderLine, object]]:
    """For each continuity line of an open order: its program and planned shipments as
    they would be if the order were submitted today."""
    today = business_date()
    previews = []
    for line in order.lines.all():
        if not line.item.is_continuity:
            continue
        quote = program_sales().line_quote(
            line.item, start_date=line.continuity_start_date, quantity=line.quantity, today=today
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


def item_quote(item: Item, *, start_date: datetime.date | None = None) -> object | None:
    """The planned shipments of a continuity item sold today, its program starting on
    `start_date` (default: today, the order date); None for any other item."""
    if not item.is_continuity:
        return None
    return program_sales().line_quote(item, start_date=start_date, today=business_date())


def customer_sales_order_list_recent(customer: Customer, *, limit: int = 50) -> list[SalesOrder]:
    """A customer's latest orders, newest first, each with its parent (one query)."""
    return list(customer.sales_orders.select_related("parent").order_by("-id")[:limit])


def sales_order_labels(order_ids: Collection[int]) -> list[tuple[int, str]]:
    """Each order's id with its number."""
    return list(SalesOrder.objects.filter(pk__in=order_ids).values_list("pk", "number"))
