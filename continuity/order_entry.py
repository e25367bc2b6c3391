"""What continuity tells order entry about items sold with a program (orders.programs):
the price of a program line, its planned shipments, the subscription started at submit,
and the program data of the API's sales orders and items. Registered from
ContinuityConfig.ready()."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from continuity.models import Occurrence, Subscription
from continuity.planning import program_get_for_quote, program_quote, programs_read_once
from continuity.pricing import ShipmentPrice, shipments_price
from continuity.serializers import (
    ContinuityPreviewSerializer,
    ProgramQuoteSerializer,
    ProgramSummarySerializer,
    SubscriptionScheduleSerializer,
)
from continuity.services import subscription_create
from core.formatting import day_text
from orders.programs import ProgramSales, program_sales_register


def program_line_price(
    item, *, start_date: datetime.date | None, today: datetime.date
) -> tuple[Decimal, datetime.date | None]:
    """What is due now for one unit of a continuity item, and the start date to keep on
    the line (None: the program starts on the order date, fixed at submit)."""
    program = program_get_for_quote(program_id=item.continuity_program_id)
    if not program.active:
        raise ValidationError(
            {
                "item_number": _("The continuity program of item %(number)s is not active.")
                % {"number": item.item_number}
            }
        )
    if start_date is not None and not program.prompt_for_start_date:
        raise ValidationError(
            {
                "start_date": _(
                    "Program %(code)s starts on the order date; it takes no start date."
                )
                % {"code": program.code}
            }
        )
    if start_date is not None and start_date < today:
        raise ValidationError(
            {
                "start_date": _("The start date cannot be before the order date (%(today)s).")
                % {"today": day_text(today)}
            }
        )
    quote = program_quote(program=program, start_date=start_date or today, horizon_from=today)
    return quote.due_now, start_date


def program_line_quote(
    item, *, start_date: datetime.date | None, quantity: int = 1, today: datetime.date
):
    """The planned shipments of a program line, as if the order were submitted today."""
    program = program_get_for_quote(program_id=item.continuity_program_id)
    return program_quote(
        program=program, start_date=start_date or today, quantity=quantity, horizon_from=today
    )


def program_line_paid_shipments(
    item, *, start_date, quantity: int, today: datetime.date, ship_to, order_mode, currency: str
) -> tuple[dict, list[ShipmentPrice]]:
    """The program as it is now (the plan a subscription would be made from) and the
    shipments of the line paid at submit (the first, or every shipment of a program billed
    up front), each priced as it will be stored on the shipment."""
    quote = program_line_quote(item, start_date=start_date, quantity=quantity, today=today)
    paid = quote.occurrences if quote.program.bill_up_front else quote.occurrences[:1]
    return quote.program.to_json(), shipments_price(
        plan=quote.program,
        shipments=list(paid),
        ship_to=ship_to,
        order_mode=order_mode,
        currency=currency,
    )


def program_line_submitted(*, order, line, payment, actor) -> str:
    subscription = subscription_create(
        order=order, line=line, payment=payment, order_date=order.order_date, actor=actor
    )
    return subscription.plan.get("name", "")


def order_prefetches() -> list:
    """A submitted order's subscriptions with their shipments, for its page and the API."""
    return [
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
        )
    ]


def order_page_prefetches() -> list:
    """A submitted order's subscriptions with what its page shows of them
    (partials/subscription.html): program, item, shipments with their child orders. The
    API's (order_prefetches) join five tables to each subscription and read every
    shipment's lines and payment, none of which the page shows."""
    return [
        Prefetch(
            "subscriptions",
            queryset=Subscription.objects.select_related("program", "item").prefetch_related(
                Prefetch(
                    "occurrences",
                    queryset=Occurrence.objects.select_related("child_order").order_by("sequence"),
                )
            ),
        )
    ]


def order_fields() -> dict:
    return {
        "continuity_previews": ContinuityPreviewSerializer(
            many=True,
            help_text="An open order's continuity lines with their planned shipments.",
        ),
        "subscriptions": SubscriptionScheduleSerializer(
            many=True,
            source="subscriptions.all",
            help_text="A submitted continuity parent: its subscriptions and their shipments.",
        ),
    }


def item_fields() -> dict:
    return {
        "continuity_program": ProgramSummarySerializer(allow_null=True),
        "quote": ProgramQuoteSerializer(
            allow_null=True,
            help_text="A continuity item: its planned shipments from the start date, and what "
            "is due at submit. null for any other item.",
        ),
    }


def child_order_charges(order_id: int):
    # Imported here: continuity.fulfilment imports orders' fulfilment services, and this
    # module is loaded while the app registry is not ready.
    from continuity.fulfilment import child_order_charges as charges

    return charges(order_id)


def register() -> None:
    program_sales_register(
        ProgramSales(
            line_price=program_line_price,
            line_quote=program_line_quote,
            line_paid_shipments=program_line_paid_shipments,
            line_submitted=program_line_submitted,
            order_prefetches=order_prefetches,
            order_page_prefetches=order_page_prefetches,
            programs_read_once=programs_read_once,
            order_fields=order_fields,
            item_fields=item_fields,
            child_order_charges=child_order_charges,
        )
    )
