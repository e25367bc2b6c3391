"""An order's life after submit: released to the warehouse, shipped (the warehouse's
confirmations), invoiced, completed; or cancelled while it is not released yet.

Every move locks the order's row first: the order row is what a release, a shipment
confirmation and a subscription's cancel meet on, so that exactly one of "released" and
"cancelled" wins, and two confirmations of one order never both ship its last units."""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict, NotFound
from core.models import NotificationKind
from core.money import ZERO
from core.notifications import NotificationEvent, notifications_add
from core.services import (
    AuditSubject,
    audit_entries_insert,
    audit_entry_build,
    audit_record,
    status_change,
)
from orders.fulfilment.invoicing import invoice_price
from orders.models import (
    SALES_ORDER_STATUS,
    WITH_WAREHOUSE,
    Carrier,
    Invoice,
    InvoiceLine,
    SalesOrder,
    SalesOrderKind,
    SalesOrderLine,
    SalesOrderStatus,
    ShipmentSource,
    WarehouseShipment,
    WarehouseShipmentLine,
)
from orders.numbers import next_invoice_number
from orders.programs import program_sales

# What may be released: the orders the warehouse ships. A parent order's program line is
# shipped by its child orders; a parent order is never released itself.
RELEASABLE_KINDS = frozenset({SalesOrderKind.CONTINUITY_CHILD})

REFERENCE_MAX = 64
TRACKING_MAX = 64
CARRIER_CODE_MAX = 20


def _lock_order(order_id: int) -> SalesOrder:
    return SalesOrder.objects.select_for_update().get(pk=order_id)


def _status_text(order: SalesOrder) -> str:
    return str(SalesOrderStatus(order.status).label)


# -- Release -------------------------------------------------------------------------


def sales_order_release(*, order_id: int, actor: Actor) -> SalesOrder:
    """Hand one submitted child order to the warehouse (a supervisor's action)."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.kind not in RELEASABLE_KINDS:
            raise Conflict(
                _("Sales order %(number)s is not shipped by the warehouse itself.")
                % {"number": order.number}
            )
        if order.status != SalesOrderStatus.SUBMITTED:
            raise Conflict(
                _("Sales order %(number)s cannot be released: its status is %(status)s.")
                % {"number": order.number, "status": _status_text(order)}
            )
        order.released_at = timezone.now()
        status_change(
            order,
            machine=SALES_ORDER_STATUS,
            to_status=SalesOrderStatus.RELEASED,
            actor=actor,
            customer_id=order.customer_id,
            update_fields=("released_at",),
        )
    return order


def sales_orders_release(*, order_ids: list[int], actor: Actor) -> list[int]:
    """Release these child orders where they are still submitted, set-based (the
    child-order job releases thousands at once). Returns the ids released; an order
    cancelled or released meanwhile is left as it is. The caller's transaction, if any,
    holds the result."""
    if not order_ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        # One UPDATE: its row locks make a concurrent cancel wait, and then see Released.
        released = list(
            SalesOrder.objects.filter(
                pk__in=order_ids,
                status=SalesOrderStatus.SUBMITTED,
                kind__in=RELEASABLE_KINDS,
            )
            # In id order, as every writer locks orders (docs/money.md): a subscription's
            # cancel that locks two of these child orders cannot deadlock with it.
            .select_for_update()
            .order_by("pk")
            .values_list("pk", "customer_id", "number")
        )
        ids = [pk for pk, _customer, _number in released]
        SalesOrder.objects.filter(pk__in=ids).update(
            status=SalesOrderStatus.RELEASED, released_at=now
        )
        audit_entries_insert(
            [
                audit_entry_build(
                    actor=actor,
                    action="status_change",
                    obj=AuditSubject(SalesOrder, pk),
                    customer_id=customer_id,
                    from_status=SalesOrderStatus.SUBMITTED,
                    to_status=SalesOrderStatus.RELEASED,
                    details={"number": number},
                )
                for pk, customer_id, number in released
            ]
        )
    return ids


def sales_order_cancel_before_release(*, order_id: int, actor: Actor, reason: str = "") -> None:
    """Cancel a child order the warehouse does not have yet. The caller (a subscription
    action) holds the transaction and refunds the shipment; the order's lines no longer
    name their shipment lines, so that the shipment, if it is scheduled again, can have
    a child order again."""
    order = _lock_order(order_id)
    if order.status != SalesOrderStatus.SUBMITTED:
        raise Conflict(
            _(
                "Sales order %(number)s is %(status)s: it is with the warehouse and can no "
                "longer be cancelled."
            )
            % {"number": order.number, "status": _status_text(order)}
        )
    SalesOrderLine.objects.filter(order=order).update(occurrence_line=None)
    status_change(
        order,
        machine=SALES_ORDER_STATUS,
        to_status=SalesOrderStatus.CANCELLED,
        actor=actor,
        customer_id=order.customer_id,
        reason=reason,
    )


# -- Shipment confirmations ------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentConfirmation:
    """What a warehouse confirms: one parcel of one order. `lines` are (line number,
    quantity, item number or "") triples; the item number, when given, must be the
    line's."""

    order_number: str
    warehouse_reference: str
    carrier_code: str
    tracking_number: str
    shipped_date: datetime.date | None
    lines: tuple[tuple[int, int, str], ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        content = {
            "order": self.order_number.strip().upper(),
            "carrier": self.carrier_code.strip().upper(),
            "tracking": self.tracking_number.strip(),
            "date": self.shipped_date.isoformat() if self.shipped_date else "",
            "lines": sorted([number, quantity] for number, quantity, _item in self.lines),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ShipmentRecorded:
    shipment: WarehouseShipment
    # False: the same confirmation was recorded before (a replay); nothing was written.
    created: bool


def _check_fields(confirmation: ShipmentConfirmation) -> Carrier:
    """The confirmation's own fields, before any row is read but the carrier. Raises
    ValidationError naming every bad field."""
    errors: dict[str, str] = {}
    reference = confirmation.warehouse_reference.strip()
    if not reference:
        errors["warehouse_shipment_id"] = _("Enter the warehouse's shipment id.")
    elif len(reference) > REFERENCE_MAX or "\x00" in reference:
        errors["warehouse_shipment_id"] = _(
            "A warehouse shipment id has at most %(max)d characters."
        ) % {"max": REFERENCE_MAX}
    tracking = confirmation.tracking_number.strip()
    if not tracking:
        errors["tracking_number"] = _("Enter the tracking number.")
    elif len(tracking) > TRACKING_MAX or "\x00" in tracking:
        errors["tracking_number"] = _("A tracking number has at most %(max)d characters.") % {
            "max": TRACKING_MAX
        }
    carrier = None
    code = confirmation.carrier_code.strip()
    if not code:
        errors["carrier"] = _("Enter the carrier's code.")
    elif "\x00" not in code and len(code) <= CARRIER_CODE_MAX:
        # Never a prefix: a code longer than any carrier's names none.
        carrier = Carrier.objects.filter(code__iexact=code, active=True).first()
    if carrier is None and "carrier" not in errors:
        errors["carrier"] = _("No active carrier has the code %(code)s.") % {"code": code[:20]}
    today = business_date()
    if confirmation.shipped_date is None:
        errors["shipped_date"] = _("Enter the shipped date.")
    elif confirmation.shipped_date > today + datetime.timedelta(days=1):
        errors["shipped_date"] = _("The shipped date cannot be in the future.")
    elif confirmation.shipped_date < today - datetime.timedelta(days=366):
        errors["shipped_date"] = _("The shipped date is more than a year ago.")
    if not confirmation.lines:
        errors["lines"] = _("A shipment ships at least one line.")
    else:
        numbers = [number for number, _quantity, _item in confirmation.lines]
        if len(set(numbers)) != len(numbers):
            errors["lines"] = _("Each order line appears once in a shipment.")
        elif any(quantity < 1 for _number, quantity, _item in confirmation.lines):
            errors["lines"] = _("Each quantity shipped is at least 1.")
    if errors:
        raise ValidationError(errors)
    return carrier


def _order_by_number(number: str, *, lock: bool) -> SalesOrder:
    orders = SalesOrder.objects.all()
    if lock:
        orders = orders.select_for_update()
    order = orders.filter(number=number.strip().upper()[:20]).first()
    if order is None:
        raise NotFound(_("Sales order %(number)s does not exist.") % {"number": number[:20]})
    return order


def _existing(confirmation: ShipmentConfirmation) -> ShipmentRecorded | None:
    """The confirmation recorded before under the same warehouse id: a replay when its
    content is the same, refused when not."""
    existing = (
        WarehouseShipment.objects.select_related("order")
        .filter(warehouse_reference=confirmation.warehouse_reference.strip())
        .first()
    )
    if existing is None:
        return None
    if existing.fingerprint != confirmation.fingerprint():
        raise Conflict(
            _(
                "Warehouse shipment %(reference)s is already recorded, for sales order "
                "%(number)s, with other content."
            )
            % {"reference": existing.warehouse_reference, "number": existing.order.number}
        )
    return ShipmentRecorded(existing, created=False)


def _shipped_lines(
    order: SalesOrder, confirmation: ShipmentConfirmation
) -> list[tuple[SalesOrderLine, int]]:
    if order.status not in WITH_WAREHOUSE:
        if order.status == SalesOrderStatus.SUBMITTED:
            message = _("Sales order %(number)s is not released to the warehouse yet.")
        else:
            message = _("Sales order %(number)s cannot ship: its status is %(status)s.")
        raise Conflict(message % {"number": order.number, "status": _status_text(order)})
    by_number = {line.line_number: line for line in order.lines.select_related("item")}
    shipped, errors = [], []
    for number, quantity, item_number in confirmation.lines:
        line = by_number.get(number)
        if line is None:
            errors.append(
                _("Sales order %(order)s has no line %(line)s.")
                % {"order": order.number, "line": number}
            )
            continue
        if item_number and item_number.strip().upper() != line.item.item_number.upper():
            errors.append(
                _("Line %(line)s is item %(item)s, not %(given)s.")
                % {"line": number, "item": line.item.item_number, "given": item_number[:20]}
            )
            continue
        left = line.quantity - line.shipped_quantity
        if quantity > left:
            errors.append(
                _("Line %(line)s has %(left)s left to ship, not %(quantity)s.")
                % {"line": number, "left": left, "quantity": quantity}
            )
            continue
        shipped.append((line, quantity))
    if errors:
        raise ValidationError({"lines": errors})
    return shipped


def _fields_checked(confirmation: ShipmentConfirmation) -> Carrier | ShipmentRecorded:
    """The carrier of a confirmation whose fields are good, or the first record of a
    replay whose fields no longer are (its carrier deactivated since, its date now more
    than a year ago): a replay is answered as recorded, whatever changed since. Raises
    the fields' ValidationError otherwise."""
    try:
        return _check_fields(confirmation)
    except ValidationError:
        reference = confirmation.warehouse_reference.strip()
        if 0 < len(reference) <= REFERENCE_MAX and "\x00" not in reference:
            existing = (
                WarehouseShipment.objects.select_related("order")
                .filter(warehouse_reference=reference, fingerprint=confirmation.fingerprint())
                .first()
            )
            if existing is not None:
                return ShipmentRecorded(existing, created=False)
        raise


def warehouse_shipment_check(confirmation: ShipmentConfirmation) -> ShipmentRecorded | None:
    """What recording would do, without writing (the upload's preview): raises the same
    errors, returns the earlier record of a replay, or None for a new shipment."""
    checked = _fields_checked(confirmation)
    if isinstance(checked, ShipmentRecorded):
        return checked
    if replay := _existing(confirmation):
        return replay
    order = _order_by_number(confirmation.order_number, lock=False)
    _shipped_lines(order, confirmation)
    return None


def warehouse_shipment_record(
    confirmation: ShipmentConfirmation, *, source: str, actor: Actor
) -> ShipmentRecorded:
    """Record one parcel the warehouse shipped, with its invoice; idempotent by the
    warehouse's shipment id. A confirmation sent again with the same content returns the
    first record and writes nothing; with other content it is refused."""
    if source not in ShipmentSource.values:
        raise ValueError(source)
    carrier = _fields_checked(confirmation)
    if isinstance(carrier, ShipmentRecorded):
        return carrier
    try:
        with transaction.atomic():
            order = _order_by_number(confirmation.order_number, lock=True)
            # Read under the order's lock: a replay racing its original waits for it.
            if replay := _existing(confirmation):
                return replay
            shipped = _shipped_lines(order, confirmation)
            return _record(order, shipped, confirmation, carrier, source=source, actor=actor)
    except IntegrityError:
        # The same warehouse id recorded meanwhile for another order (the unique
        # constraint): answer as the replay or refusal it is.
        if replay := _existing(confirmation):
            return replay
        raise


def _record(order, shipped, confirmation, carrier, *, source, actor) -> ShipmentRecorded:
    shipment = WarehouseShipment.objects.create(
        order=order,
        warehouse_reference=confirmation.warehouse_reference.strip(),
        carrier=carrier,
        tracking_number=confirmation.tracking_number.strip(),
        shipped_date=confirmation.shipped_date,
        source=source,
        fingerprint=confirmation.fingerprint(),
        recorded_by_id=actor.user_id,
    )
    WarehouseShipmentLine.objects.bulk_create(
        [
            WarehouseShipmentLine(shipment=shipment, order_line=line, quantity=quantity)
            for line, quantity in shipped
        ]
    )
    for line, quantity in shipped:
        line.shipped_quantity += quantity
        line.save(update_fields=["shipped_quantity"])
    invoice = _invoice_create(order, shipment, shipped)
    audit_record(
        actor=actor,
        action="shipment_recorded",
        obj=order,
        customer_id=order.customer_id,
        details={
            "warehouse_shipment_id": shipment.warehouse_reference,
            "carrier": carrier.code,
            "tracking_number": shipment.tracking_number,
            "shipped_date": shipment.shipped_date.isoformat(),
            "lines": [[line.line_number, quantity] for line, quantity in shipped],
            "invoice": invoice.number,
        },
    )
    all_shipped = not order.lines.filter(shipped_quantity__lt=F("quantity")).exists()
    if all_shipped:
        for to_status in (SalesOrderStatus.SHIPPED, SalesOrderStatus.INVOICED):
            status_change(
                order,
                machine=SALES_ORDER_STATUS,
                to_status=to_status,
                actor=actor,
                customer_id=order.customer_id,
            )
        if _balance(order) == ZERO:
            status_change(
                order,
                machine=SALES_ORDER_STATUS,
                to_status=SalesOrderStatus.COMPLETED,
                actor=actor,
                customer_id=order.customer_id,
            )
    elif order.status == SalesOrderStatus.RELEASED:
        status_change(
            order,
            machine=SALES_ORDER_STATUS,
            to_status=SalesOrderStatus.PARTIALLY_SHIPPED,
            actor=actor,
            customer_id=order.customer_id,
        )
    _shipped_notify(order, shipment, carrier, invoice, shipped)
    return ShipmentRecorded(shipment, created=True)


def _balance(order: SalesOrder) -> Decimal:
    totals = order.invoices.aggregate(total=Sum("total"), applied=Sum("payment_applied"))
    return (totals["total"] or ZERO) - (totals["applied"] or ZERO)


def _order_charges(order: SalesOrder) -> list[tuple[int, Decimal]]:
    hook = program_sales().child_order_charges
    if order.kind != SalesOrderKind.CONTINUITY_CHILD or hook is None:
        return []
    return hook(order.pk)


def _invoice_create(order, shipment, shipped) -> Invoice:
    earlier = (
        InvoiceLine.objects.filter(invoice__order=order)
        .values("order_line_id")
        .annotate(
            quantity=Sum("quantity"),
            amount=Sum("amount"),
            tax=Sum("tax_amount"),
            gross=Sum("gross_amount"),
        )
    )
    billed = {
        row["order_line_id"]: (row["quantity"], row["amount"], row["tax"], row["gross"])
        for row in earlier
    }
    # Every invoice has lines: none billed yet is the order's first invoice.
    price = invoice_price(order, shipped, billed=billed, first_invoice=not billed)
    # The payment applied: what paid the order, less what its earlier invoices applied.
    charges = _order_charges(order)
    paid = sum((amount for _payment, amount in charges), ZERO)
    applied_before = order.invoices.aggregate(applied=Sum("payment_applied"))["applied"] or ZERO
    applied = min(price.total, max(paid - applied_before, ZERO))
    invoice = Invoice(
        number=next_invoice_number(),
        order=order,
        shipment=shipment,
        customer_id=order.customer_id,
        invoice_date=shipment.shipped_date,
        currency=order.currency,
        total=price.total,
        subtotal=price.subtotal,
        delivery_amount=price.delivery_amount,
        delivery_tax_rate=price.delivery_tax_rate,
        delivery_tax_amount=price.delivery_tax_amount,
        tax_amount=price.tax_amount,
        prices_include_tax=order.prices_include_tax,
        tax_jurisdiction=order.tax_jurisdiction,
        payment_id=charges[0][0] if charges and applied else None,
        payment_applied=applied,
    )
    invoice.save()
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                line_number=number,
                order_line=line.order_line,
                item_id=line.order_line.item_id,
                quantity=line.quantity,
                unit_price=line.order_line.unit_price,
                amount=line.amount,
                tax_group=line.order_line.tax_group,
                tax_rate=line.order_line.tax_rate,
                tax_amount=line.tax_amount,
                tax_jurisdiction=line.order_line.tax_jurisdiction,
                gross_amount=line.gross_amount,
            )
            for number, line in enumerate(price.lines, start=1)
        ]
    )
    return invoice


def _shipped_notify(order, shipment, carrier, invoice, shipped) -> None:
    notifications_add(
        [
            NotificationEvent(
                NotificationKind.ORDER_SHIPPED,
                f"order_shipped:shipment:{shipment.pk}",
                order.customer_id,
                {
                    "order": order.number,
                    "carrier": carrier.name,
                    "tracking_number": shipment.tracking_number,
                    "tracking_url": carrier.tracking_link(shipment.tracking_number),
                    "shipped_date": shipment.shipped_date.isoformat(),
                    "invoice": invoice.number,
                    "total": str(invoice.total),
                    "currency": invoice.currency,
                    "lines": [
                        {
                            "item_number": line.item.item_number,
                            "name": line.item.name,
                            "quantity": quantity,
                        }
                        for line, quantity in shipped
                    ],
                    "rest_to_follow": order.status == SalesOrderStatus.PARTIALLY_SHIPPED,
                },
            )
        ]
    )


__all__ = [
    "RELEASABLE_KINDS",
    "ShipmentConfirmation",
    "ShipmentRecorded",
    "sales_order_cancel_before_release",
    "sales_order_release",
    "sales_orders_release",
    "warehouse_shipment_check",
    "warehouse_shipment_record",
]
