"""What each shipment of a program costs: its lines, its delivery charge and their tax,
priced as a billed document of its own (orders.pricing), stored on the shipment and
its lines, and priced again just before it is charged when its ship-to or the tax rates
changed since (docs/tax.md).

Every shipment is its own document, billed up front or not: it is what one allocation
of a sale pays for and what a refund of a skipped or cancelled shipment gives back,
delivery and tax included, so its parts must be its own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from continuity.models import Occurrence, OccurrenceLine, Subscription
from continuity.planning import PlannedLine, PlannedOccurrence, ProgramPlan
from core.actors import Actor
from core.models import AuditEntry
from core.services import audit_entries_insert, audit_entry_build, audit_record
from core.sql_arrays import rows_update_from_arrays
from orders.delivery import DeliveryMode
from orders.pricing import DocumentPrice, GoodsLine, document_price, item_tax_groups
from orders.tax.provider import LineTax
from orders.tax.selectors import tax_tables_read_once


@dataclass(frozen=True)
class ShipmentPrice:
    """One planned shipment priced: `price.lines` are in the order of its lines."""

    sequence: int
    ship_date: datetime.date
    price: DocumentPrice
    # The goods as priced, so that a shipment paid at submit is written with the lines its
    # sale took, even if the program is edited while the payment service answers. Empty
    # for a price kept before the goods were.
    goods: tuple[PlannedLine, ...] = ()
    event_number: int = 0

    def to_json(self) -> dict:
        """As an order line keeps the shipments it charged (SalesOrderLine.paid_shipments)."""
        price = self.price
        return {
            "sequence": self.sequence,
            "event_number": self.event_number,
            "ship_date": self.ship_date.isoformat(),
            "currency": price.currency,
            "prices_include_tax": price.prices_include_tax,
            "jurisdiction": price.jurisdiction,
            "delivery_mode_id": price.delivery_mode_id,
            "delivery": str(price.delivery),
            "delivery_tax": _line_tax_json(price.delivery_tax) if price.delivery_tax else None,
            "lines": [_line_tax_json(line) for line in price.lines],
            "goods": [
                {
                    "item_id": line.item_id,
                    "item_number": line.item_number,
                    "item_name": line.item_name,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                }
                for line in self.goods
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> ShipmentPrice:
        return cls(
            sequence=data["sequence"],
            event_number=data.get("event_number", 0),
            ship_date=datetime.date.fromisoformat(data["ship_date"]),
            price=DocumentPrice(
                currency=data["currency"],
                prices_include_tax=data["prices_include_tax"],
                jurisdiction=data["jurisdiction"],
                lines=tuple(_line_tax_of(line) for line in data["lines"]),
                delivery_mode_id=data["delivery_mode_id"],
                delivery=Decimal(data["delivery"]),
                delivery_tax=_line_tax_of(data["delivery_tax"]) if data["delivery_tax"] else None,
            ),
            goods=tuple(
                PlannedLine(
                    item_id=line["item_id"],
                    item_number=line["item_number"],
                    item_name=line["item_name"],
                    quantity=line["quantity"],
                    unit_price=Decimal(line["unit_price"]),
                )
                for line in data.get("goods", [])
            ),
        )


def _line_tax_json(line: LineTax) -> dict:
    return {
        "key": line.key,
        "net": str(line.net),
        "tax": str(line.tax),
        "gross": str(line.gross),
        "rate": str(line.rate),
        "tax_group": line.tax_group,
        "jurisdiction_id": line.jurisdiction_id,
        "jurisdiction": line.jurisdiction,
    }


def _line_tax_of(data: dict) -> LineTax:
    return LineTax(
        key=data["key"],
        net=Decimal(data["net"]),
        tax=Decimal(data["tax"]),
        gross=Decimal(data["gross"]),
        rate=Decimal(data["rate"]),
        tax_group=data["tax_group"],
        jurisdiction_id=data["jurisdiction_id"],
        jurisdiction=data["jurisdiction"],
    )


def shipment_delivery_mode(
    plan: ProgramPlan,
    event_number: int,
    order_mode: DeliveryMode | None,
    modes: dict | None = None,
) -> DeliveryMode | None:
    """The mode a shipment goes by: its event's own, as the program was sold, overrides
    the order's (docs/delivery.md); None: the default mode. `modes`: modes already read,
    by id, for a caller pricing many shipments."""
    mode_id = plan.delivery_modes.get(event_number)
    if mode_id is None:
        return order_mode
    modes = {} if modes is None else modes
    if mode_id not in modes:
        modes[mode_id] = DeliveryMode.objects.get(pk=mode_id)
    return modes[mode_id]


def shipments_price(
    *,
    plan: ProgramPlan,
    shipments: list[PlannedOccurrence],
    ship_to,
    order_mode: DeliveryMode | None,
    currency: str,
    prices_include_tax: bool | None = None,
) -> list[ShipmentPrice]:
    """Price planned shipments, each at the rates in force on its ship date (the day it is
    supplied), by the delivery mode of its event or of the order."""
    with tax_tables_read_once():
        return _shipments_price(
            plan=plan,
            shipments=shipments,
            ship_to=ship_to,
            order_mode=order_mode,
            currency=currency,
            prices_include_tax=prices_include_tax,
        )


def _shipments_price(
    *, plan, shipments, ship_to, order_mode, currency, prices_include_tax
) -> list[ShipmentPrice]:
    # One place and one set of groups for every shipment: the tables are read once.
    groups = item_tax_groups(line.item_id for shipment in shipments for line in shipment.lines)
    modes: dict = {}
    priced = []
    for shipment in shipments:
        goods = [
            GoodsLine(
                key=str(number),
                amount=line.amount,
                units=line.quantity,
                tax_group=groups.get(line.item_id),
            )
            for number, line in enumerate(shipment.lines, start=1)
        ]
        price = document_price(
            goods=goods,
            ship_to=ship_to,
            delivery_mode=shipment_delivery_mode(plan, shipment.event_number, order_mode, modes),
            currency=currency,
            on_date=shipment.ship_date,
            prices_include_tax=prices_include_tax,
        )
        priced.append(
            ShipmentPrice(
                shipment.sequence,
                shipment.ship_date,
                price,
                goods=shipment.lines,
                event_number=shipment.event_number,
            )
        )
    return priced


def occurrence_price_apply(
    occurrence: Occurrence, lines: list[OccurrenceLine], price: DocumentPrice
) -> None:
    """Put a price on a shipment and its lines (in line-number order); the caller saves."""
    occurrence.price_set(price)
    occurrence.amount = price.total
    occurrence.delivery_mode_id = price.delivery_mode_id
    for line, line_tax in zip(lines, price.lines, strict=True):
        line.tax_set(line_tax)


# What a shipment priced again writes: its price and ship-to, and of its lines the tax.
_REPRICED_FIELDS = (*Occurrence.PRICE_FIELDS, "amount", "priced_ship_to")


@dataclass
class RepricedShipments:
    """New prices of a slice's shipments, written together (repriced_shipments_write)
    instead of three or four statements each: the shipments, the lines whose tax changed,
    the audit entries of the charges that changed."""

    occurrences: list[Occurrence] = field(default_factory=list)
    lines: list[OccurrenceLine] = field(default_factory=list)
    entries: list[AuditEntry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.occurrences)


def occurrence_price_again(
    occurrence: Occurrence,
    *,
    subscription: Subscription,
    actor: Actor,
    together: RepricedShipments | None = None,
) -> bool:
    """Just before a shipment is charged: tax it again for its subscription's ship-to and
    the rates in force on its ship date. Its goods and its delivery charge are what was
    sold and stay as they are. Returns True when the charge changed (and was saved, with
    an audit row saying from what to what and why); the caller holds the shipment's lock.

    `together`: the writes are added to it, for the caller to make in the same savepoint
    as the shipment's charge (repriced_shipments_write); the shipment in memory has its
    new price at once. A caller whose savepoint is undone reads the shipments again: in
    memory they are priced, in the database they are not.
    """
    fresh, lines = occurrence_fresh_price(occurrence, ship_to=subscription.ship_to)
    # A shipment written before its ship-to was kept with its price (priced_ship_to empty)
    # is compared by its price alone.
    moved = occurrence.priced_ship_to_id not in (None, subscription.ship_to_id)
    if not moved and not price_differs(occurrence, lines, fresh):
        return False
    old_amount = occurrence.amount
    before = [tuple(getattr(line, name) for name in OccurrenceLine.TAX_FIELDS) for line in lines]
    occurrence_price_apply(occurrence, lines, fresh)
    occurrence.priced_ship_to_id = subscription.ship_to_id
    changed_lines = [
        line
        for line, was in zip(lines, before, strict=True)
        if tuple(getattr(line, name) for name in OccurrenceLine.TAX_FIELDS) != was
    ]
    audit = None
    if old_amount != occurrence.amount:
        audit = {
            "actor": actor,
            "action": "shipment_repriced",
            "obj": occurrence,
            "customer_id": subscription.customer_id,
            "details": {
                "from": str(old_amount),
                "to": str(occurrence.amount),
                "why": "ship_to" if moved else "tax_rates",
            },
        }
    if together is not None:
        together.occurrences.append(occurrence)
        together.lines += changed_lines
        if audit is not None:
            together.entries.append(audit_entry_build(**audit))
        return True
    _repriced_rows_write([occurrence], changed_lines)
    if audit is not None:
        audit_record(**audit)
    return True


def repriced_shipments_write(repriced: RepricedShipments) -> None:
    """Write the new prices occurrence_price_again gathered: on PostgreSQL, one UPDATE of
    the shipments and one of their lines, each from arrays (unnest), and the entries in
    one INSERT with their outbound events; elsewhere row by row. The caller holds the
    shipments' locks and the transaction."""
    if not repriced:
        return
    if connection.vendor != "postgresql":
        _repriced_rows_write(repriced.occurrences, repriced.lines)
    else:
        rows_update_from_arrays(Occurrence, repriced.occurrences, _REPRICED_FIELDS)
        rows_update_from_arrays(OccurrenceLine, repriced.lines, OccurrenceLine.TAX_FIELDS)
    audit_entries_insert(repriced.entries)


def _repriced_rows_write(occurrences: list[Occurrence], lines: list[OccurrenceLine]) -> None:
    """The shipments' new prices row by row, and only the lines whose tax changed, each in
    one plain UPDATE: a shipment has a line or two, and bulk_update's CASE expressions
    cost more to build than these to run."""
    for occurrence in occurrences:
        occurrence.save(update_fields=list(_REPRICED_FIELDS))
    for line in lines:
        OccurrenceLine.objects.filter(pk=line.pk).update(
            **{name: getattr(line, name) for name in OccurrenceLine.TAX_FIELDS}
        )


def occurrence_fresh_price(
    occurrence: Occurrence, *, ship_to
) -> tuple[DocumentPrice, list[OccurrenceLine]]:
    """What the shipment would be charged now if it shipped to `ship_to` (a
    customers.Address or None): its goods and delivery as sold, taxed at the rates of its
    ship date."""
    # The lines prefetched by a batch (continuity.charging.prepare), or read here.
    lines = sorted(occurrence.lines.all(), key=lambda line: line.line_number)
    groups = item_tax_groups(line.item_id for line in lines)
    goods = [
        GoodsLine(
            key=str(line.line_number),
            amount=line.amount,
            units=line.quantity,
            tax_group=groups.get(line.item_id),
        )
        for line in lines
    ]
    price = document_price(
        goods=goods,
        ship_to=ship_to,
        delivery_mode=None,
        currency=occurrence.currency,
        on_date=occurrence.ship_date,
        kept_delivery=(occurrence.delivery_mode_id, occurrence.delivery_amount),
        # Its goods were sold with or without tax: a later change of its currency's basis
        # re-taxes them on the same basis, never turns 22.00 + tax into 22.00 with tax.
        prices_include_tax=occurrence.prices_include_tax,
    )
    return price, lines


def price_differs(
    occurrence: Occurrence, lines: list[OccurrenceLine], price: DocumentPrice
) -> bool:
    # Every stored part, not only the total: a receipt shows the delivery's rate and the
    # basis, which can change while the amounts round alike (5.95 at 10.25 % or 10.26 %).
    stored = (
        occurrence.amount,
        occurrence.subtotal,
        occurrence.delivery_amount,
        occurrence.delivery_tax_rate,
        occurrence.delivery_tax_amount,
        occurrence.tax_amount,
        occurrence.prices_include_tax,
        occurrence.tax_jurisdiction,
    )
    fresh = (
        price.total,
        price.subtotal,
        price.delivery,
        price.delivery_tax_rate,
        price.delivery_tax_amount,
        price.tax,
        price.prices_include_tax,
        price.jurisdiction,
    )
    if stored != fresh:
        return True
    return any(
        (line.tax_group, line.tax_rate, line.tax_amount, line.gross_amount)
        != (line_tax.tax_group, line_tax.rate, line_tax.tax, line_tax.gross)
        for line, line_tax in zip(lines, price.lines, strict=True)
    )
