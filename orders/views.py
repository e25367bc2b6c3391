"""Order entry pages: thin over orders.services. Each POST calls one service and shows its
refusal next to the field it concerns."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import localize
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from core.actors import Actor
from core.errors import Conflict
from core.formatting import amount_text, money_text
from core.forms import form_service_call
from core.roles import can_supervise, can_take_orders, role_required
from customers.models import Customer
from orders.forms import DeliveryModeForm, OrderLineForm, PaymentForm, StartDateForm
from orders.fulfilment.services import RELEASABLE_KINDS, sales_order_release
from orders.models import SalesOrder, SalesOrderKind, SalesOrderStatus
from orders.programs import programs_read_once
from orders.selectors import (
    delivery_mode_list,
    sales_order_continuity_previews,
    sales_order_delivery,
    sales_order_page_get,
)
from orders.services import (
    sales_order_complete,
    sales_order_delivery_mode_set,
    sales_order_line_add,
    sales_order_line_remove,
    sales_order_line_set_start_date,
    sales_order_payment_set,
    sales_order_submit,
)
from orders.tax.selectors import tax_tables_read_once
from payments.forms import CardForm, card_form_add
from payments.models import Card, PaymentMethod
from payments.services import PaymentDeclined, PaymentOutcomeUnknown


def _order(number: str) -> SalesOrder:
    try:
        return sales_order_page_get(number=number)
    except SalesOrder.DoesNotExist:
        raise Http404 from None


def _order_id(number: str) -> int:
    """The order's id alone, for a POST whose service reads (and locks) the order itself:
    the page's full read (_order, a dozen statements) only for what is shown after."""
    return _order_ref(number)[0]


def _order_ref(number: str) -> tuple[int, int]:
    """The order's id and its customer's, in one statement (see _order_id)."""
    if "\x00" in number:  # PostgreSQL refuses NUL in a query: no such order
        raise Http404
    try:
        return SalesOrder.objects.values_list("pk", "customer_id").get(number=number)
    except SalesOrder.DoesNotExist:
        raise Http404 from None


def _is_fragment(request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def rate_text(rate: Decimal) -> str:
    """A tax rate as a receipt prints it: 10.25 %, 20 %, 5,5 % in French."""
    rate = rate.normalize()
    if rate == rate.to_integral_value():
        rate = rate.quantize(Decimal(1))
    return f"{localize(rate)}\N{NO-BREAK SPACE}%"


@dataclass(frozen=True)
class ReceiptRow:
    """One row of the totals under the lines: `key` names it for the page (data-total)."""

    key: str
    label: str
    text: str


def order_receipt(order: SalesOrder, *, amount_due: bool, delivery=None) -> dict:
    """The lines, the delivery line and the totals as a receipt shows them, in the order's
    currency and the page's language, as priced and stored on the order (nothing is
    computed again here). The table's amounts come without their currency, which the
    template adds in a span a phone's narrow grid hides, as on the other grids; the
    totals are money_text.

    Where prices include tax (French TVA), the amounts are shown with their tax, the
    total is "Total TTC" and the tax is what it contains ("dont TVA"), never added on top;
    where they exclude it (US sales tax), Subtotal + Delivery + Tax = Total.
    `delivery`: the order's sales_order_delivery, when the caller has it already."""
    currency = order.currency
    include = order.prices_include_tax
    delivery = delivery or sales_order_delivery(order)
    lines = [
        {
            "line": line,
            "unit_price": amount_text(line.unit_price),
            "amount": amount_text(line.amount),
            # A continuity parent's line mixing its shipments' rates has none of its own.
            "tax_rate": rate_text(line.tax_rate) if line.tax_rate is not None else "",
            "tax": amount_text(line.tax_amount),
        }
        for line in order.lines.all()
    ]
    if include:
        rows = [
            ReceiptRow("subtotal", _("Subtotal"), money_text(order.subtotal, currency)),
            ReceiptRow("delivery", _("Delivery"), money_text(order.delivery_amount, currency)),
            ReceiptRow("total", _("Total incl. VAT"), money_text(order.total, currency)),
            ReceiptRow("tax", _("of which VAT"), money_text(order.tax_amount, currency)),
        ]
    else:
        rows = [
            ReceiptRow(
                "subtotal",
                pgettext("before tax", "Subtotal"),
                money_text(order.subtotal, currency),
            ),
            ReceiptRow("delivery", _("Delivery"), money_text(order.delivery_amount, currency)),
            ReceiptRow("tax", _("Tax"), money_text(order.tax_amount, currency)),
            ReceiptRow("total", _("Total"), money_text(order.total, currency)),
        ]
    if amount_due:
        rows.append(
            ReceiptRow("amount_due", _("Amount due now"), money_text(order.amount_due, currency))
        )
    return {
        "lines": lines,
        "delivery": {
            "shown": delivery.shown,
            "names": delivery.names,
            "amount": amount_text(delivery.amount),
            "tax_rate": rate_text(delivery.tax_rate) if delivery.modes else "",
            "tax": amount_text(delivery.tax),
        },
        "rows": rows,
        "amount_due": money_text(order.amount_due, currency),
        "prices_include_tax": include,
        "tax_jurisdiction": order.tax_jurisdiction,
    }


def _entry_context(order, line_form=None, error=None, delivery_form=None):
    delivery = sales_order_delivery(order)
    if delivery_form is None:
        code = order.delivery_mode.code if order.delivery_mode else ""
        delivery_form = DeliveryModeForm(initial={"delivery_mode": code})
    # A refused delivery mode keeps the focus (the template's autofocus), as a refused
    # method of payment does; otherwise Item number has it.
    return {
        "order": order,
        "line_form": line_form or OrderLineForm(initial={"quantity": 1}),
        "delivery_form": delivery_form,
        "delivery": delivery,
        "delivery_modes": delivery_mode_list(),
        "receipt": order_receipt(order, amount_due=False, delivery=delivery),
        "previews": sales_order_continuity_previews(order),
        "error": error,
    }


def _render_entry(request, order, *, line_form=None, error=None, delivery_form=None, status=200):
    context = _entry_context(order, line_form, error, delivery_form)
    template = "orders/partials/entry.html" if _is_fragment(request) else "orders/entry.html"
    return render(request, template, context, status=status)


@require_GET
@role_required(can_take_orders)
def order_detail(request, number):
    order = _order(number)
    if order.status == SalesOrderStatus.OPEN:
        return _render_entry(request, order)
    # Submitted: what was charged is on its payments (a child order's, on its shipment's
    # charge); nothing more is due.
    receipt = order_receipt(order, amount_due=False)
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "receipt": receipt,
            "child": order.kind == SalesOrderKind.CONTINUITY_CHILD,
            "shipments": [
                {
                    "shipment": shipment,
                    "tracking_url": shipment.carrier.tracking_link(shipment.tracking_number),
                }
                for shipment in order.warehouse_shipments.all()
            ],
            "invoices": order.invoices.all(),
            "shows_shipped": order.kind in RELEASABLE_KINDS
            and order.status != SalesOrderStatus.CANCELLED,
            "can_release": can_supervise(request.user)
            and order.kind in RELEASABLE_KINDS
            and order.status == SalesOrderStatus.SUBMITTED,
        },
    )


@require_POST
@role_required(can_supervise)
def order_release(request, number):
    """A supervisor hands a submitted child order to the warehouse: from then on the
    subscription's actions no longer change it."""
    order_id = _order_id(number)
    try:
        sales_order_release(order_id=order_id, actor=Actor.of_user(request.user))
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Sales order %(number)s is released to the warehouse.") % {"number": number},
        )
    return redirect("orders:detail", number=number)


@require_POST
@role_required(can_take_orders)
def order_line_add(request, number):
    # One request prices the line (its program read for its price, then for the
    # shipments it pays) and shows the order again (the program read for its planned
    # shipments, the default delivery mode, the tax basis): each read once, 8 to 10
    # statements fewer than the 43 it took.
    with programs_read_once(), tax_tables_read_once():
        return _order_line_add(request, number)


def _order_line_add(request, number):
    order_id = _order_id(number)
    form = OrderLineForm(request.POST)
    if form.is_valid():
        form_service_call(
            form,
            sales_order_line_add,
            order_id=order_id,
            item_number=form.cleaned_data["item_number"],
            quantity=form.cleaned_data["quantity"],
            actor=Actor.of_user(request.user),
        )
    if form.errors:
        return _render_entry(request, _order(number), line_form=form, status=400)
    if _is_fragment(request):
        return _render_entry(request, _order(number))
    return redirect("orders:detail", number=number)


@require_POST
@role_required(can_take_orders)
def order_line_remove(request, number, line_number):
    order_id = _order_id(number)
    try:
        sales_order_line_remove(
            order_id=order_id, line_number=line_number, actor=Actor.of_user(request.user)
        )
    except (ValidationError, Conflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("orders:detail", number=number)


@require_POST
@role_required(can_take_orders)
def order_line_start_date(request, number, line_number):
    order_id = _order_id(number)
    form = StartDateForm(request.POST)
    error = None
    if form.is_valid():
        try:
            sales_order_line_set_start_date(
                order_id=order_id,
                line_number=line_number,
                start_date=form.cleaned_data["start_date"],
                actor=Actor.of_user(request.user),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except Conflict as exc:
            error = exc.message
    else:
        error = " ".join(form.errors["start_date"])
    if error:
        return _render_entry(request, _order(number), error=error, status=400)
    return redirect("orders:detail", number=number)


@require_POST
@role_required(can_take_orders)
def order_delivery_mode_set(request, number):
    order_id = _order_id(number)
    form = DeliveryModeForm(request.POST)
    if form.is_valid():
        form_service_call(
            form,
            sales_order_delivery_mode_set,
            order_id=order_id,
            code=form.cleaned_data["delivery_mode"],
            actor=Actor.of_user(request.user),
        )
    if form.errors:
        return _render_entry(request, _order(number), delivery_form=form, status=400)
    # As any change to the lines: the order is priced again and Complete shows the new
    # amount due before the payment.
    messages.success(request, _("Delivery mode changed: Complete shows the order's new total."))
    return redirect("orders:detail", number=number)


@require_POST
@role_required(can_take_orders)
def order_complete(request, number):
    order_id = _order_id(number)
    try:
        sales_order_complete(order_id=order_id, actor=Actor.of_user(request.user))
    except ValidationError as exc:
        return _render_entry(request, _order(number), error=" ".join(exc.messages), status=400)
    except Conflict:
        return redirect("orders:detail", number=number)
    return redirect("orders:summary", number=number)


def _summary_context(order, *, payment_form=None, card_form=None, error=None, initial=None):
    """The summary page; `initial`: the payment form's values when it is not bound."""
    if payment_form is None:
        initial = initial or {
            "method": order.payment_method.code if order.payment_method else "",
            "card": order.payment_card_id,
        }
        cards = order.customer.cards.filter(active=True).order_by("-created_at")
        payment_form = PaymentForm(initial=initial, cards=cards)
    # Where the agent's next keystroke goes: the method of payment, the payment line's OK
    # once a card is picked, or Submit once the payment line is set.
    if card_form is not None and card_form.errors:
        focus = "card"
    elif (
        order.payment_method_id
        and not payment_form.is_bound
        and not payment_form.initial.get("from_card")
    ):
        focus = "submit"
    elif payment_form.initial.get("from_card"):
        focus = "payment_ok"
    else:
        focus = "method"
        payment_form.fields["method"].widget.attrs["autofocus"] = True
    return {
        "focus": focus,
        "order": order,
        "receipt": order_receipt(order, amount_due=True),
        "payment_form": payment_form,
        "card_form": card_form or CardForm(initial={"name_on_card": order.customer.full_name}),
        "card_dialog_open": card_form is not None and bool(card_form.errors),
        "methods": PaymentMethod.objects.filter(active=True).order_by("code"),
        "error": error,
    }


@require_GET
@role_required(can_take_orders)
def order_summary(request, number):
    order = _order(number)
    if order.status != SalesOrderStatus.OPEN or order.completed_at is None:
        return redirect("orders:detail", number=number)
    initial = None
    if "card" in request.GET or "method" in request.GET:
        # Just back from Add credit card: the new card and the typed method, not yet OK'd.
        initial = {
            "method": request.GET.get("method", ""),
            "card": request.GET.get("card"),
            "from_card": True,
        }
    return render(request, "orders/summary.html", _summary_context(order, initial=initial))


@sensitive_post_parameters("card_number", "security_code")
@require_POST
@role_required(can_take_orders)
def order_card_add(request, number):
    _order_pk, customer_id = _order_ref(number)
    form = CardForm(request.POST)
    customer = Customer.objects.get(pk=customer_id)
    card = card_form_add(form, customer=customer, actor=Actor.of_user(request.user))
    if card is not None:
        # No #fragment: a page opened on a fragment ignores autofocus.
        query = f"?method={form.cleaned_data['method'] or ''}&card={card.pk}"
        return redirect(reverse("orders:summary", args=[number]) + query)
    return render(
        request,
        "orders/summary.html",
        _summary_context(_order(number), card_form=form),
        status=400,
    )


@require_POST
@role_required(can_take_orders)
def order_payment_set(request, number):
    order_id, customer_id = _order_ref(number)
    cards = list(Card.objects.filter(customer_id=customer_id, active=True))
    form = PaymentForm(request.POST, cards=cards)
    if form.is_valid():
        form_service_call(
            form,
            sales_order_payment_set,
            renamed_fields={"payment_method": "method"},
            order_id=order_id,
            method_code=form.cleaned_data["method"],
            card_id=form.cleaned_data["card"],
            actor=Actor.of_user(request.user),
        )
    if form.errors:
        return render(
            request,
            "orders/summary.html",
            _summary_context(_order(number), payment_form=form),
            status=400,
        )
    return redirect("orders:summary", number=number)


@require_POST
@role_required(can_take_orders)
def order_submit(request, number):
    order_id = _order_id(number)
    try:
        sales_order_submit(order_id=order_id, actor=Actor.of_user(request.user))
    except PaymentDeclined as exc:
        error = _("The card was declined: %(reason)s") % {"reason": exc.message}
    except (PaymentOutcomeUnknown, Conflict) as exc:
        error = exc.message
    except ValidationError as exc:
        error = " ".join(exc.messages)
    else:
        return redirect("orders:detail", number=number)
    order = _order(number)
    if order.status != SalesOrderStatus.OPEN or order.completed_at is None:
        return _render_entry(request, order, error=error, status=400)
    return render(request, "orders/summary.html", _summary_context(order, error=error), status=400)
