"""Order entry: the seed procedure as services (create, add lines, complete, pay, submit)."""

from __future__ import annotations

import contextlib
import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict
from core.formatting import money_text
from core.limits import amount_check, business_date_check, quantity_check
from core.models import NotificationKind
from core.money import ZERO
from core.notifications import NotificationEvent, notifications_add
from core.services import audit_record, status_change
from customers.models import Customer
from customers.selectors import customer_default_ship_to
from orders.delivery import delivery_mode_default, delivery_mode_get_by_code
from orders.models import (
    SALES_ORDER_STATUS,
    Item,
    SalesOrder,
    SalesOrderKind,
    SalesOrderLine,
    SalesOrderStatus,
)
from orders.numbers import next_sales_order_numbers
from orders.pricing import (
    GoodsLine,
    delivery_mode_or_default,
    document_price,
    item_tax_groups,
)
from orders.programs import program_sales, programs_read_once
from orders.tax.selectors import tax_tables_read_once
from payments.models import (
    LIVE_SALE_STATUSES,
    UNANSWERED_STATUSES,
    Card,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    PaymentOperation,
    PaymentStatus,
)
from payments.services import (
    PaymentDeclined,
    PaymentOutcomeUnknown,
    payment_claim_for_sending,
    payment_record_answer,
    payment_sale_create,
    payment_sale_send,
    payment_settle,
)


def _audit(order: SalesOrder, actor: Actor, action: str, **details) -> None:
    audit_record(
        actor=actor, action=action, obj=order, customer_id=order.customer_id, details=details
    )


def _lock_open_order(order_id: int) -> SalesOrder:
    """The order, row-locked until the transaction ends; refused unless still open and
    with no charge being confirmed.

    A charge in flight was made for the amount due when it was sent: lines, totals and
    the payment stay as they were until it is settled (the next submit looks it up), or
    an answer for the old amount could submit an order that now costs more.
    """
    order = SalesOrder.objects.select_for_update().get(pk=order_id)
    if order.status != SalesOrderStatus.OPEN:
        raise Conflict(
            _("Sales order %(number)s can no longer be changed: its status is %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )
    if order.payments.filter(
        operation=PaymentOperation.SALE, occurrence=None, status__in=UNANSWERED_STATUSES
    ).exists():
        raise Conflict(
            _(
                "A charge for this order is being confirmed with the payment service. "
                "Submit again to check it before changing the order."
            )
        )
    return order


def _order_price(
    order: SalesOrder, *, lines: list[SalesOrderLine] | None = None
) -> list[SalesOrderLine]:
    """Price the order as it stands (orders.pricing), on the order and its lines in memory;
    returns the lines for _order_price_save.

    What is due now is two kinds of billed document: the order's own lines, which ship
    with it (with the order's delivery mode), and the shipments of its programs paid at
    submit (the first one, or all of a program billed up front), each priced as it will be
    stored on the shipment. A program line carries its paid shipments' goods tax; their
    delivery is in the order's delivery line. Raises TaxUnavailable when a line cannot
    be taxed (nothing is priced, or charged, without its tax).
    """
    today = business_date()
    if lines is None:
        lines = list(order.lines.select_related("item"))
    lines = sorted(lines, key=lambda line: line.line_number)
    own = [line for line in lines if not line.item.is_continuity]
    groups = item_tax_groups(line.item_id for line in own)
    own_price = document_price(
        goods=[
            GoodsLine(
                key=str(line.line_number),
                amount=line.amount,
                units=line.quantity,
                tax_group=groups.get(line.item_id),
            )
            for line in own
        ],
        ship_to=order.ship_to,
        delivery_mode=order.delivery_mode,
        currency=order.currency,
        on_date=today,
    )
    for line in own:
        line.tax_set(own_price.line(str(line.line_number)))
    parts = [own_price]
    for line in lines:
        if not line.item.is_continuity:
            continue
        program_as_sold, shipments = program_sales().line_paid_shipments(
            line.item,
            start_date=line.continuity_start_date,
            quantity=line.quantity,
            today=today,
            ship_to=order.ship_to,
            order_mode=order.delivery_mode,
            currency=order.currency,
        )
        if sum((shipment.price.subtotal for shipment in shipments), ZERO) != line.amount:
            raise Conflict(_price_changed_message(line.item))
        taxes = [line_tax for shipment in shipments for line_tax in shipment.price.lines]
        line.tax_amount = sum((line_tax.tax for line_tax in taxes), ZERO)
        line.gross_amount = sum((line_tax.gross for line_tax in taxes), ZERO)
        rates = {line_tax.rate for line_tax in taxes}
        tax_groups = {line_tax.tax_group for line_tax in taxes}
        # One rate when the shipments' lines share it; empty when they mix rates.
        line.tax_rate = rates.pop() if len(rates) == 1 else None
        line.tax_group = tax_groups.pop() if len(tax_groups) == 1 else ""
        places = {line_tax.jurisdiction for line_tax in taxes}
        line.tax_jurisdiction = places.pop() if len(places) == 1 else ""
        line.paid_shipments = [shipment.to_json() for shipment in shipments]
        line.program_as_sold = program_as_sold
        parts += [shipment.price for shipment in shipments]
    # The order's parts are the sums of its documents' (its own lines and each shipment
    # paid now); the basis is the currency's, the same for all of them.
    order.prices_include_tax = own_price.prices_include_tax
    order.subtotal = sum((line.amount for line in lines), ZERO)
    order.delivery_amount = sum((part.delivery for part in parts), ZERO)
    order.delivery_tax_amount = sum((part.delivery_tax_amount for part in parts), ZERO)
    order.tax_amount = sum((part.tax for part in parts), ZERO)
    order.total = sum((part.total for part in parts), ZERO)
    delivered = [part for part in parts if part.delivery_tax is not None]
    order.delivery_tax_rate = delivered[0].delivery_tax_rate if delivered else ZERO
    order.tax_jurisdiction = next((part.jurisdiction for part in parts if part.jurisdiction), "")
    order.amount_due = order.total
    return lines


def _order_price_save(
    order: SalesOrder, lines: list[SalesOrderLine], *, also: tuple[str, ...] = ()
) -> None:
    """Save the order's price and its lines' (`also`: more of the order's fields, in the
    same UPDATE)."""
    amount_check(order.total, field="quantity")
    order.save(
        update_fields=[*SalesOrder.PRICE_FIELDS, "total", "amount_due", "completed_at", *also]
    )
    fields = [*SalesOrderLine.TAX_FIELDS, "paid_shipments", "program_as_sold"]
    if len(lines) == 1:
        # The common order, one line: a plain UPDATE, where bulk_update's CASE for each
        # field costs more to build than the statement to run.
        (line,) = lines
        SalesOrderLine.objects.filter(pk=line.pk).update(
            **{name: getattr(line, name) for name in fields}
        )
    else:
        SalesOrderLine.objects.bulk_update(lines, fields)


def _recompute_totals(order: SalesOrder) -> None:
    lines = _order_price(order)
    # Any change to the lines sends the agent back through Complete, so the amount charged
    # is always the one shown on the summary.
    order.completed_at = None
    _order_price_save(order, lines)


def _price_changed_message(item) -> str:
    return _(
        "The price of item %(number)s changed since it was added. Remove the line and add it again."
    ) % {"number": item.item_number}


def sales_order_create(*, customer: Customer, actor: Actor) -> SalesOrder:
    if customer.blocked:
        raise ValidationError(
            {
                "customer": _("Customer %(account)s is blocked and cannot place orders.")
                % {"account": customer.account_number}
            }
        )
    with transaction.atomic():
        order = SalesOrder.objects.create(
            number=next_sales_order_numbers(1)[0],
            customer=customer,
            ship_to=customer_default_ship_to(customer),
            # The customer's price list: their currency, and with it whether prices
            # include tax (orders.tax.models.PriceTaxBasis).
            currency=customer.currency,
            created_by_id=actor.user_id,
        )
        audit_record(
            actor=actor,
            action="order_created",
            obj=order,
            customer_id=customer.pk,
            to_status=order.status,
        )
    return order


def sales_order_line_add(
    *,
    order_id: int,
    item_number: str,
    actor: Actor,
    quantity=1,
    start_date: datetime.date | None = None,
) -> SalesOrderLine:
    """Add an item by its number. A continuity item is priced at what is due now for it:
    its first shipment, or the whole program when the program is billed up front."""
    quantity = quantity_check(quantity)
    number = (item_number or "").strip()
    if not number:
        raise ValidationError({"item_number": _("Enter an item number.")})
    item = Item.objects.filter(item_number=number).first()
    if item is None:
        raise ValidationError(
            {"item_number": _("Item number %(number)s does not exist.") % {"number": number}}
        )
    if not item.active:
        raise ValidationError(
            {
                "item_number": _("Item %(number)s is not active and cannot be sold.")
                % {"number": number}
            }
        )
    if start_date is not None:
        business_date_check(start_date, field="start_date")
    today = business_date()
    continuity_start = None
    if item.is_continuity:
        unit_price, continuity_start = program_sales().line_price(
            item, start_date=start_date, today=today
        )
    elif start_date is not None:
        raise ValidationError({"start_date": _("Only a continuity item takes a start date.")})
    else:
        unit_price = item.unit_price
    with transaction.atomic():
        order = _lock_open_order(order_id)
        last = order.lines.aggregate(last=Max("line_number"))["last"] or 0
        # A price set high in the admin times a large quantity: refused, not overflowed.
        amount = amount_check(quantity * unit_price, field="quantity")
        amount_check(order.total + amount, field="quantity")
        line = SalesOrderLine.objects.create(
            order=order,
            line_number=last + 1,
            item=item,
            quantity=quantity,
            unit_price=unit_price,
            amount=amount,
            continuity_start_date=continuity_start,
        )
        _recompute_totals(order)
        _audit(
            order,
            actor,
            "order_line_added",
            line=line.line_number,
            item=item.item_number,
            quantity=quantity,
            amount=str(line.amount),
        )
    return line


def sales_order_line_remove(*, order_id: int, line_number: int, actor: Actor) -> SalesOrder:
    with transaction.atomic():
        order = _lock_open_order(order_id)
        line = order.lines.filter(line_number=line_number).first()
        if line is None:
            raise ValidationError(
                {
                    "line_number": _("Sales order %(number)s has no line %(line)s.")
                    % {"number": order.number, "line": line_number}
                }
            )
        line.delete()
        _recompute_totals(order)
        _audit(order, actor, "order_line_removed", line=line_number)
    return order


def sales_order_line_set_start_date(
    *, order_id: int, line_number: int, start_date: datetime.date, actor: Actor
) -> SalesOrderLine:
    """Choose when a continuity program that asks for a start date begins."""
    business_date_check(start_date, field="start_date")
    today = business_date()
    with transaction.atomic():
        order = _lock_open_order(order_id)
        line = order.lines.select_related("item").filter(line_number=line_number).first()
        if line is None:
            raise ValidationError(
                {
                    "line_number": _("Sales order %(number)s has no line %(line)s.")
                    % {"number": order.number, "line": line_number}
                }
            )
        if not line.item.is_continuity:
            raise ValidationError({"start_date": _("Only a continuity item takes a start date.")})
        unit_price, start = program_sales().line_price(
            line.item, start_date=start_date, today=today
        )
        new_amount = amount_check(line.quantity * unit_price, field="start_date")
        # The order's total too (as a new line's is): a repriced line must not push it past
        # what the money columns hold.
        amount_check(order.total - line.amount + new_amount, field="start_date")
        line.continuity_start_date = start
        line.unit_price = unit_price
        line.amount = new_amount
        line.save(update_fields=["continuity_start_date", "unit_price", "amount"])
        _recompute_totals(order)
        _audit(
            order,
            actor,
            "order_line_start_date_set",
            line=line_number,
            start_date=start.isoformat(),
        )
    return line


def sales_order_delivery_mode_set(*, order_id: int, code: str, actor: Actor) -> SalesOrder:
    """How the order's goods, and its programs' shipments whose event names no mode of its
    own, are delivered: an active mode by its code, in any case; an empty code, the
    default mode. The order is priced again and goes back through Complete."""
    mode = delivery_mode_get_by_code(code) if (code or "").strip() else None
    with transaction.atomic():
        order = _lock_open_order(order_id)
        order.delivery_mode = mode
        order.save(update_fields=["delivery_mode"])
        _recompute_totals(order)
        _audit(
            order,
            actor,
            "order_delivery_mode_set",
            delivery_mode=mode.code if mode else "",
            total=str(order.total),
        )
    return order


def sales_order_complete(*, order_id: int, actor: Actor) -> SalesOrder:
    """Finish line entry: totals and the amount due now are fixed for the payment step."""
    # The pricing asks the program and the tax tables several times: read once (and
    # kept by the process while the configuration does not change, core.read_once).
    with transaction.atomic(), tax_tables_read_once(), programs_read_once():
        order = _lock_open_order(order_id)
        if not order.lines.exists():
            raise ValidationError(_("Add at least one line before completing the order."))
        _recompute_totals(order)
        order.completed_at = timezone.now()
        order.save(update_fields=["completed_at"])
        _audit(
            order,
            actor,
            "order_entry_completed",
            total=str(order.total),
            amount_due=str(order.amount_due),
        )
    return order


def _payment_method(code: str) -> PaymentMethod:
    code = (code or "").strip()
    if not code:
        raise ValidationError({"payment_method": _("Enter a method of payment.")})
    # A NUL names no code, and PostgreSQL refuses to compare text with one.
    method = None if "\x00" in code else PaymentMethod.objects.filter(code__iexact=code).first()
    if method is None or not method.active:
        raise ValidationError(
            {
                "payment_method": _("Method of payment %(code)s does not exist.")
                % {"code": code.replace("\x00", "")}
            }
        )
    return method


def _check_card(order: SalesOrder, method: PaymentMethod, card: Card | None) -> None:
    if card is None:
        raise ValidationError(
            {"card": _("Add a credit card for method of payment %(code)s.") % {"code": method.code}}
        )
    if card.customer_id != order.customer_id or not card.active:
        raise ValidationError({"card": _("This card does not belong to the customer.")})
    if method.card_brand and card.brand != method.card_brand:
        raise ValidationError(
            {
                "card": _(
                    "Method of payment %(code)s takes %(brand)s cards only; this card is "
                    "a %(card_brand)s."
                )
                % {
                    "code": method.code,
                    "brand": method.get_card_brand_display(),
                    "card_brand": card.get_brand_display(),
                }
            }
        )
    if card.is_expired_on(business_date()):
        raise ValidationError({"card": _("This card has expired.")})


def sales_order_payment_set(
    *, order_id: int, method_code: str, actor: Actor, card_id: int | None = None
) -> SalesOrder:
    """The payment line: a method of payment (and card) that covers the amount due."""
    method = _payment_method(method_code)
    with transaction.atomic():
        order = _lock_open_order(order_id)
        if order.completed_at is None:
            raise ValidationError(_("Complete the order before entering the payment."))
        card = None
        if method.kind == PaymentMethodKind.CARD:
            card = Card.objects.filter(pk=card_id).first() if card_id else None
            _check_card(order, method, card)
        elif order.lines.filter(item__continuity_program__isnull=False).exists():
            raise ValidationError(
                {
                    "payment_method": _(
                        "A continuity program is paid by card: its later "
                        "shipments are charged to it."
                    )
                }
            )
        order.payment_method = method
        order.payment_card = card
        order.save(update_fields=["payment_method", "payment_card"])
        _audit(
            order,
            actor,
            "order_payment_set",
            method=method.code,
            card=str(card) if card else "",
            amount=str(order.amount_due),
        )
    return order


def _check_ready_to_submit(order: SalesOrder) -> None:
    lines = list(order.lines.select_related("item"))
    if not lines or order.completed_at is None:
        raise ValidationError(_("Complete the order before submitting it."))
    if order.customer.blocked:
        raise ValidationError(
            {
                "customer": _("Customer %(account)s is blocked and cannot place orders.")
                % {"account": order.customer.account_number}
            }
        )
    today = business_date()
    for line in lines:
        if not line.item.is_continuity:
            continue
        # Prices are copied into the subscription at submit; they must still be the ones
        # the agent saw, or the charge and the first shipment would disagree.
        unit_price, _start = program_sales().line_price(
            line.item, start_date=line.continuity_start_date, today=today
        )
        if unit_price != line.unit_price:
            raise Conflict(_price_changed_message(line.item))
    if order.payment_method_id is None:
        raise ValidationError({"payment_method": _("Enter a method of payment.")})
    if order.payment_method.kind == PaymentMethodKind.CARD:
        _check_card(order, order.payment_method, order.payment_card)
    # Priced again as it stands: a tax rate, a delivery mode or the date may have moved
    # since Complete. Charged only if it still comes to what the agent read out; the
    # shipments paid now are kept on their lines as priced here, for the subscription.
    agreed = order.amount_due
    lines = _order_price(order, lines=lines)
    if order.amount_due != agreed:
        raise Conflict(
            _(
                "The amount due changed since the order was completed (%(before)s, now "
                "%(after)s): the tax rates or the delivery charge changed. Complete the order "
                "again."
            )
            % {
                "before": money_text(agreed, order.currency),
                "after": money_text(order.amount_due, order.currency),
            }
        )
    also = ()
    if order.delivery_mode_id is None:
        # The default mode this price used is kept on the order now, in the transaction
        # that commits the sale: a default the administrator changes while the gateway
        # answers must not become the order's mode (its later shipments go by it).
        mode = delivery_mode_or_default(None)
        if mode is not None:
            order.delivery_mode = mode
            also = ("delivery_mode",)
    _order_price_save(order, lines, also=also)


def _submit(order: SalesOrder, *, payment, actor: Actor) -> None:
    """Make an open order a submitted one (caller holds the lock and the transaction)."""
    order.order_date = business_date()
    order.submitted_at = timezone.now()
    continuity_lines = [
        line for line in order.lines.select_related("item") if line.item.is_continuity
    ]
    order.kind = SalesOrderKind.CONTINUITY_PARENT if continuity_lines else SalesOrderKind.STANDARD
    # The default mode it was priced with is kept by name: a submitted order says which
    # mode its delivery line charged even after the administrator picks another default.
    if order.delivery_mode_id is None:
        order.delivery_mode = delivery_mode_default()
    status_change(
        order,
        machine=SALES_ORDER_STATUS,
        to_status=SalesOrderStatus.SUBMITTED,
        actor=actor,
        customer_id=order.customer_id,
        details={"payment": payment.idempotency_key if payment else ""},
        update_fields=("order_date", "submitted_at", "kind", "delivery_mode"),
    )
    # Each program line starts its subscription (the continuity app, orders.programs).
    programs = [
        program_sales().line_submitted(order=order, line=line, payment=payment, actor=actor)
        for line in continuity_lines
    ]
    if payment is not None:
        notifications_add(
            [
                NotificationEvent(
                    NotificationKind.CHARGED,
                    f"charged:payment:{payment.pk}",
                    order.customer_id,
                    {
                        "order": order.number,
                        "program": ", ".join(programs),
                        "amount": str(payment.amount),
                        "currency": payment.currency,
                        "card": str(payment.card),
                        "ship_date": "",
                        # What the amount is made of, as the receipt shows it.
                        "subtotal": str(order.subtotal),
                        "delivery": str(order.delivery_amount),
                        "tax": str(order.tax_amount),
                        "prices_include_tax": "yes" if order.prices_include_tax else "",
                    },
                )
            ]
        )


def _order_locked_with(order_id: int, *related: str) -> SalesOrder:
    """The order, row-locked until the transaction ends, then read with the rows that
    `related` names in one query: each as committed once the lock is held, as when they
    were read one by one after it. Not joined in the locking statement itself: after a
    wait for the lock, PostgreSQL checks the locked row again but keeps the joined rows
    as they were when the statement began."""
    SalesOrder.objects.select_for_update().filter(pk=order_id).values_list("pk").get()
    return SalesOrder.objects.select_related(*related).get(pk=order_id)


def sales_order_submit(*, order_id: int, actor: Actor) -> SalesOrder:
    """Charge the amount due and submit the order; for a continuity item, start its
    subscription with the first shipment paid.

    Submitting a submitted order returns it and charges nothing. A decline raises
    PaymentDeclined and leaves the order open, to be paid with another card; a charge
    whose outcome did not come back raises PaymentOutcomeUnknown, and the next submit
    looks it up at the gateway before anything else.
    """
    # 1. Under the order's lock: check, and commit the sale and its key before the call.
    # Each step reads the tax tables and the program once (its checks and its pricing
    # ask the same); a rate changed while the gateway answers applies to step 3's
    # shipments after the first (tests/continuity/test_tax_attacks.py).
    with transaction.atomic(), tax_tables_read_once(), programs_read_once():
        order = _order_locked_with(
            order_id, "customer", "payment_method", "payment_card", "ship_to", "delivery_mode"
        )
        if order.status == SalesOrderStatus.SUBMITTED:
            return order
        if order.status != SalesOrderStatus.OPEN:
            raise Conflict(
                _("Sales order %(number)s cannot be submitted: its status is %(status)s.")
                % {"number": order.number, "status": order.get_status_display()}
            )
        payment = (
            order.payments.filter(
                operation=PaymentOperation.SALE, occurrence=None, status__in=LIVE_SALE_STATUSES
            )
            # The sale's own lock, as payment_claim_for_sending asks (order, then payment):
            # a settler that locks only the payment sees this claim.
            .select_for_update(of=("self",))
            .select_related("card")
            .first()
        )
        fresh = payment is None
        if payment is not None and payment.status in UNANSWERED_STATUSES:
            if payment.amount != order.amount_due:
                # Lines cannot change while a charge is in flight (_lock_open_order):
                # this would be a bug, and charging the old amount an undercharge.
                raise Conflict(
                    _("The charge in flight does not cover the amount due; call support.")
                )
            if not payment_claim_for_sending(payment):
                raise PaymentOutcomeUnknown(payment)
        if payment is None:
            _check_ready_to_submit(order)
            if order.amount_due == ZERO or order.payment_method.kind != PaymentMethodKind.CARD:
                _submit(order, payment=None, actor=actor)
                return order
            payment = payment_sale_create(
                sales_order=order,
                method=order.payment_method,
                card=order.payment_card,
                amount=order.amount_due,
                actor=actor,
            )
    # 2. The gateway, outside any transaction.
    answer = None
    if payment.status != PaymentStatus.APPROVED:
        answer = payment_sale_send(payment, fresh=fresh)
    # 3. Record the answer and, if approved, submit: both or neither.
    with transaction.atomic(), tax_tables_read_once(), programs_read_once():
        order = _order_locked_with(order_id, "ship_to", "delivery_mode")
        if payment.status != PaymentStatus.APPROVED:
            card = payment.card
            payment = payment_record_answer(
                payment_id=payment.pk, result=answer, actor=actor, savepoint=False
            )
            if card is not None and payment.card_id == card.pk:
                # Read with the sale in step 1 (a card's brand and number never change):
                # the receipt names it without reading it again. A sale without a card
                # (none is sent to the gateway today) is recorded all the same.
                payment.card = card
        if payment.status == PaymentStatus.APPROVED and order.status == SalesOrderStatus.OPEN:
            _submit(order, payment=payment, actor=actor)
    if payment.status == PaymentStatus.DECLINED:
        raise PaymentDeclined(payment)
    if payment.status in UNANSWERED_STATUSES:
        raise PaymentOutcomeUnknown(payment)
    return order


def is_order_sale(payment: Payment) -> bool:
    return payment.operation == PaymentOperation.SALE and payment.occurrence_id is None


def order_sale_settle(*, payment_id: int, actor: Actor) -> Payment:
    """Settle the sale taken at submit (payments.settlement): an open order's submit looks
    its key up, sends it again under the same key only if the gateway never saw it, and on
    approval submits the order and starts its subscriptions in the same transaction."""
    payment = Payment.objects.select_related("sales_order").get(pk=payment_id)
    if payment.sales_order.status != SalesOrderStatus.OPEN:
        return payment_settle(payment_id=payment_id, actor=actor)
    # A decline or a missing answer is recorded on the payment returned below.
    with contextlib.suppress(PaymentDeclined, PaymentOutcomeUnknown):
        sales_order_submit(order_id=payment.sales_order_id, actor=actor)
    payment.refresh_from_db()
    return payment
