import datetime
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Prefetch, prefetch_related_objects

from core.dates import business_date
from customers.models import Customer
from orders.delivery import DeliveryMode, delivery_mode_default
from orders.models import (
    Invoice,
    Item,
    SalesOrder,
    SalesOrderKind,
    SalesOrderLine,
    SalesOrderStatus,
    WarehouseShipment,
)
from orders.programs import program_sales
from payments.models import Payment


def sales_order_id_get(*, number: str) -> int:
    """The id the order-entry services take, from the order number people use."""
    return SalesOrder.objects.values_list("pk", flat=True).get(number=number)


def sales_order_get(*, number: str) -> SalesOrder:
    """An order with everything the API shows of it, in a fixed number of queries. Raises
    SalesOrder.DoesNotExist."""
    if "\x00" in number:  # PostgreSQL refuses NUL in a query: no such order
        raise SalesOrder.DoesNotExist
    return (
        SalesOrder.objects.select_related(*_ORDER_JOINED)
        .prefetch_related(
            *_ORDER_FETCHED_APART,
            _order_lines(),
            *_submitted_order_prefetches(program_sales().order_prefetches),
        )
        .get(number=number)
    )


# The order's own row joins only these: PostgreSQL took 1 to 2.5 ms to plan the join of
# all seven tables (for 0.1 ms of execution), a cost every order page paid. The parent
# (a child order's only) and the delivery mode (empty unless one was chosen) come by
# their own query, which Django skips when the order names none.
_ORDER_JOINED = ("customer", "ship_to", "payment_method", "payment_card")
_ORDER_FETCHED_APART = ("parent", "delivery_mode")


def _order_lines() -> Prefetch:
    # One query for the lines, their items and programs (three with a prefetch each),
    # in line order (that of the model, whose "order" key joined the orders table).
    return Prefetch(
        "lines",
        queryset=SalesOrderLine.objects.select_related("item__continuity_program").order_by(
            "line_number"
        ),
    )


def sales_order_page_get(*, number: str) -> SalesOrder:
    """An order with what its page shows (orders.views): an open order's pages (lines,
    summary) show its lines, nothing of payments, shipments, invoices, child orders or
    subscriptions, which an open order is read without; a submitted order's page shows
    them all, its subscriptions' schedules with what that page shows of them. Raises
    SalesOrder.DoesNotExist."""
    if "\x00" in number:  # PostgreSQL refuses NUL in a query: no such order
        raise SalesOrder.DoesNotExist
    order = SalesOrder.objects.select_related(*_ORDER_JOINED).get(number=number)
    hooks = program_sales()
    lookups = [*_ORDER_FETCHED_APART, _order_lines()]
    if order.status != SalesOrderStatus.OPEN:
        lookups += _submitted_order_prefetches(
            hooks.order_page_prefetches or hooks.order_prefetches
        )
    prefetch_related_objects([order], *lookups)
    return order


def _submitted_order_prefetches(program_prefetches) -> list:
    """What a submitted order shows beyond its lines: payments, child orders, invoices,
    warehouse shipments, and its programs' part (`program_prefetches()`, a hook of
    orders.programs)."""
    return [
        Prefetch(
            "payments",
            queryset=Payment.objects.select_related("card", "method").order_by("id"),
        ),
        "child_orders",
        Prefetch("invoices", queryset=Invoice.objects.order_by("id")),
        Prefetch(
            "warehouse_shipments",
            queryset=WarehouseShipment.objects.select_related("carrier", "invoice")
            .prefetch_related("lines__order_line__item")
            .order_by("id"),
        ),
        *program_prefetches(),
    ]


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


def delivery_mode_list() -> list[DeliveryMode]:
    """The modes an agent may type, by code (the page's list of suggestions)."""
    return list(DeliveryMode.objects.filter(active=True).order_by("code"))


@dataclass(frozen=True)
class OrderDelivery:
    """An order's delivery line, as stored when it was priced (orders.services).

    chosen: the mode the order names (None: the default mode); default: the default mode
    (read for an open order only, which may still take it); modes: the modes the
    delivery amount was charged by, in code order: the order's own (or the default) for
    its goods, and each paid shipment's, whose program event may name another."""

    chosen: DeliveryMode | None
    default: DeliveryMode | None
    modes: tuple[DeliveryMode, ...]
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal

    @property
    def names(self) -> str:
        return ", ".join(mode.name for mode in self.modes)

    @property
    def shown(self) -> bool:
        """A line of its own on the receipt: some mode was charged (0.00 when free)."""
        return bool(self.modes) or bool(self.amount)


def sales_order_delivery(order: SalesOrder) -> OrderDelivery:
    """The delivery line of an order fetched by sales_order_get (one query at most, for
    the modes of its paid shipments or its default)."""
    lines = list(order.lines.all())
    mode_ids: set[int] = set()
    default = None
    if order.kind == SalesOrderKind.CONTINUITY_CHILD:
        # A child order keeps the mode its shipment was charged by.
        if order.delivery_mode_id:
            mode_ids.add(order.delivery_mode_id)
    else:
        for line in lines:
            if line.item.is_continuity:
                mode_ids.update(
                    shipment["delivery_mode_id"]
                    for shipment in line.paid_shipments or []
                    if shipment.get("delivery_mode_id")
                )
        own_goods = any(not line.item.is_continuity for line in lines)
        if order.status == SalesOrderStatus.OPEN or (own_goods and not order.delivery_mode_id):
            default = delivery_mode_default()
        if own_goods:
            own = order.delivery_mode or default
            if own is not None:
                mode_ids.add(own.pk)
    known = {mode.pk: mode for mode in (order.delivery_mode, default) if mode is not None}
    missing = mode_ids - set(known)
    if missing:
        known.update(DeliveryMode.objects.in_bulk(missing))
    modes = sorted((known[pk] for pk in mode_ids if pk in known), key=lambda mode: mode.code)
    return OrderDelivery(
        chosen=order.delivery_mode,
        default=default,
        modes=tuple(modes),
        amount=order.delivery_amount,
        tax_rate=order.delivery_tax_rate,
        tax=order.delivery_tax_amount,
    )


# --- The warehouse ---------------------------------------------------------------------


def sales_order_pick_list(*, statuses: Collection[str]):
    """Orders in these statuses for the warehouse, oldest release first (the pick list:
    released and partially shipped orders, which the partial index
    sales_order_pick_list_idx serves), each with its customer, ship-to address, delivery
    mode and lines with their items: a page costs three queries whatever its length."""
    return (
        SalesOrder.objects.filter(status__in=list(statuses))
        .select_related("customer", "ship_to", "delivery_mode")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=SalesOrderLine.objects.select_related("item").order_by("line_number"),
            )
        )
        .order_by(F("released_at").asc(nulls_last=True), "id")
    )


def warehouse_shipment_get(*, shipment_id: int) -> WarehouseShipment:
    """A recorded shipment with its order, carrier, invoice and lines (what the warehouse
    API answers)."""
    return (
        WarehouseShipment.objects.select_related("order", "carrier", "invoice")
        .prefetch_related("lines__order_line__item")
        .get(pk=shipment_id)
    )
