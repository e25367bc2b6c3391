"""Items sold with a program: what order entry asks of the app that runs programs.

An item may carry a continuity program (`Item.continuity_program`). Order entry prices
such a line at what is due now, shows its planned shipments, and starts a subscription
for it when the order is submitted. All of that is the continuity app's knowledge, and
continuity sits above orders (it writes child orders), so orders does not import it:
continuity registers a `ProgramSales` here from its AppConfig.ready()
(continuity/order_entry.py), and order entry calls `program_sales()`.

The API's sales order and item carry the program's data too (planned shipments, the
subscriptions of a submitted order): the hook hands orders' serializers the extra fields.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ProgramSales:
    # (item, *, start_date, today) -> (unit price due now, start date to keep on the
    # line: None when the program starts on the order date). Raises ValidationError
    # (field "item_number" or "start_date") when the item cannot be sold so.
    line_price: Callable[..., tuple[Decimal, datetime.date | None]]
    # (item, *, start_date, quantity, today) -> the planned shipments of one line, as the
    # order page and the API show them.
    line_quote: Callable[..., object]
    # (item, *, start_date, quantity, today, ship_to, order_mode, currency) -> (the
    # program as priced, as JSON; the shipments of one line paid at submit, each priced
    # with its delivery and tax: objects with .sequence, .price
    # (orders.pricing.DocumentPrice) and .to_json()). Raises TaxUnavailable when one
    # cannot be taxed.
    line_paid_shipments: Callable[..., tuple[dict, list]]
    # (*, order, line, payment, actor) -> the name of the program started. Called inside
    # the submit transaction, under the order's lock, once per program line.
    line_submitted: Callable[..., str]
    # () -> prefetch lookups that load what an order page shows of its programs.
    order_prefetches: Callable[[], list]
    # () -> {name: serializer field}: fresh fields added to the API's sales order and item.
    order_fields: Callable[[], dict]
    item_fields: Callable[[], dict]
    # (order_id) -> [(payment id, amount)]: what paid a child order's shipments, the
    # payment its invoices apply (orders.fulfilment).
    child_order_charges: Callable[[int], list[tuple[int, Decimal]]] | None = None
    # () -> prefetch lookups that load what the order page (orders.views) shows of its
    # programs, no more; None: order_prefetches.
    order_page_prefetches: Callable[[], list] | None = None
    # () -> a context manager in which each program is read once, however many times
    # its lines are priced and quoted (one request of order entry); None: read each time.
    programs_read_once: Callable[[], AbstractContextManager] | None = None


_registered: ProgramSales | None = None


def program_sales_register(hooks: ProgramSales) -> None:
    """Register (or replace, on a second ready()) the app that sells programs."""
    global _registered
    _registered = hooks


def programs_read_once() -> AbstractContextManager:
    """The registered app's programs_read_once() block, or a block that changes nothing."""
    hook = program_sales().programs_read_once
    return hook() if hook is not None else nullcontext()


def program_sales() -> ProgramSales:
    if _registered is None:
        raise ImproperlyConfigured(
            "No app registered orders.programs.ProgramSales: the continuity app does so "
            "in its AppConfig.ready(); is it in INSTALLED_APPS?"
        )
    return _registered
