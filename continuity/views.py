"""The subscription page and the agent's actions on it: each action shows its form, then
a preview of its effect, then does it on confirmation. Each page reads the action's
declaration (continuity.subscription_actions): its form, arguments, preview, service,
permission and label."""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from continuity.forms import NewAddressForm
from continuity.models import Subscription
from continuity.presenters import effect_text
from continuity.selectors import (
    forecast,
    forecast_currencies,
    subscription_fresh_charges,
    subscription_page_get,
)
from continuity.subscription_actions import (
    SubscriptionAction,
    UnknownAction,
    action_get,
    actions_all,
)
from continuity.subscription_actions.card_and_ship_to import CHANGE_CARD, CHANGE_SHIP_TO
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict, ServiceError
from core.forms import add_service_errors, form_service_call
from core.money import ZERO
from core.roles import can_supervise, can_take_orders, role_required
from customers.services import address_add
from orders.models import Item
from orders.tax.selectors import prices_include_tax, tax_tables_read_once
from payments.forms import CardForm, card_form_add


def _page_action(name: str) -> SubscriptionAction:
    """An action with a page of its own: previewed, then confirmed."""
    try:
        action = action_get(name)
    except UnknownAction:
        raise Http404 from None
    if not action.previewed:
        raise Http404
    return action


def _action_page_context(subscription, action: SubscriptionAction, form, **extra) -> dict:
    return {
        "subscription": subscription,
        "action": action,
        "action_label": action.label,
        "form": form,
        "card_form": CardForm(initial={"name_on_card": subscription.customer.full_name}),
        "address_form": NewAddressForm(prefix="address"),
        **extra,
    }


def _subscription(subscription_id: int) -> Subscription:
    try:
        return subscription_page_get(subscription_id=subscription_id)
    except Subscription.DoesNotExist:
        raise Http404 from None


@require_GET
@role_required(can_take_orders)
def subscription_detail(request, subscription_id):
    subscription = _subscription(subscription_id)
    offered = [
        action
        for action in actions_all()
        if action.previewed and action.offered(subscription) and action.allowed(request.user)
    ]
    # The next shipments not charged yet are taxed again before their charge: the page
    # says when that charge is not the one shown.
    fresh = subscription_fresh_charges(subscription)
    for occurrence in subscription.occurrences.all():
        occurrence.fresh_charge = fresh.get(occurrence.pk)
    return render(
        request,
        "continuity/subscription.html",
        {"subscription": subscription, "actions": offered},
    )


@require_http_methods(["GET", "POST"])
@role_required(can_take_orders)
def subscription_action(request, subscription_id, action):
    action = _page_action(action)
    action.require_allowed(request.user)
    subscription = _subscription(subscription_id)
    data = request.POST or None
    if request.method == "GET" and request.GET.get("card"):
        data = None
    form = action.form(
        data,
        subscription=subscription,
        action=action.name,
        initial={"card": request.GET.get("card")},
    )
    context = _action_page_context(subscription, action, form)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            arguments = action.arguments_from(form.cleaned_data)
            confirm = request.POST.get("step") == "confirm"
            # A preview alone (nothing written) prices the next shipments for the same
            # place and items: the tax tables' answers read once for them all (two
            # statements fewer for each shipment a new ship-to prices after the first).
            # A confirmation reads as ever.
            with nullcontext() if confirm else tax_tables_read_once():
                preview = action.preview_of(subscription_id=subscription.pk, arguments=arguments)
            if confirm:
                action.do(
                    subscription_id=subscription.pk,
                    actor=Actor.of_user(request.user),
                    reason=form.cleaned_data[action.reason_keyword],
                    arguments=arguments,
                )
                messages.success(request, _("%(action)s: done.") % {"action": action.label})
                return redirect("continuity:subscription", subscription_id=subscription.pk)
        except ValidationError as error:
            add_service_errors(form, error)
            status = 400
        except (Conflict, ServiceError) as error:
            form.add_error(None, error.message)
            status = 400
        else:
            context["effects"] = [
                effect_text(effect, subscription.currency) for effect in preview.effects
            ]
            context["preview"] = preview
            # What was previewed is what gets confirmed: the fields are shown, not
            # editable, and go back as hidden values.
            context["confirmed_values"] = [
                (name, request.POST.getlist(name)) for name in form.fields
            ]
            for name, field in form.fields.items():
                field.disabled = True
                # A disabled field shows its initial value: the one previewed, not the
                # first choice (a reason, a shipment or a card the agent did not choose).
                form.initial[name] = form.data.get(name)
    elif request.method == "POST":
        status = 400
    return render(request, "continuity/action.html", context, status=status)


@sensitive_post_parameters("card_number", "security_code")
@require_POST
@role_required(can_take_orders)
def subscription_card_add(request, subscription_id):
    """Add credit card from the change-card page: the new card comes back selected."""
    subscription = _subscription(subscription_id)
    form = CardForm(request.POST)
    CHANGE_CARD.require_allowed(request.user)
    url = reverse("continuity:action", args=[subscription.pk, CHANGE_CARD.name])
    card = card_form_add(form, customer=subscription.customer, actor=Actor.of_user(request.user))
    if card is not None:
        return redirect(f"{url}?card={card.pk}")
    return render(
        request,
        "continuity/action.html",
        _action_page_context(
            subscription,
            CHANGE_CARD,
            CHANGE_CARD.form(subscription=subscription, action=CHANGE_CARD.name),
            card_form=form,
            card_dialog_open=True,
        ),
        status=400,
    )


@require_POST
@role_required(can_take_orders)
def subscription_address_add(request, subscription_id):
    """A new shipping address from the change-ship-to page, then back to it."""
    subscription = _subscription(subscription_id)
    form = NewAddressForm(request.POST, prefix="address")
    CHANGE_SHIP_TO.require_allowed(request.user)
    url = reverse("continuity:action", args=[subscription.pk, CHANGE_SHIP_TO.name])
    if form.is_valid():
        address = form_service_call(
            form,
            address_add,
            customer=subscription.customer,
            kind="shipping",
            is_default=False,
            actor=Actor.of_user(request.user),
            **form.cleaned_data,
        )
        if address is not None:
            return redirect(url)
    return render(
        request,
        "continuity/action.html",
        _action_page_context(
            subscription,
            CHANGE_SHIP_TO,
            CHANGE_SHIP_TO.form(subscription=subscription, action=CHANGE_SHIP_TO.name),
            card_form=CardForm(),
            address_form=form,
        ),
        status=400,
    )


def _bars(values: list, *, height: int = 120) -> list[dict]:
    """Bar geometry for a 60-day SVG chart drawn by the page itself (no chart library)."""
    top = max(values, default=0) or 1
    width = 12
    return [
        {
            "x": index * width,
            "height": round(height * float(value) / float(top), 1),
            "y": round(height - height * float(value) / float(top), 1),
            "value": value,
        }
        for index, value in enumerate(values)
    ]


@require_GET
@role_required(can_supervise)
def forecast_page(request):
    items = Item.objects.filter(continuity_program__isnull=False).order_by("item_number")
    item = items.filter(item_number=request.GET.get("item", "")).first()
    # One currency at a time: amounts of two currencies are never added together.
    currencies = forecast_currencies()
    currency = request.GET.get("currency", "")
    if currency not in currencies:
        currency = currencies[0]
    days = forecast(
        start=business_date(), days=60, item_id=item.pk if item else None, currency=currency
    )
    context = {
        "days": days,
        "items": items,
        "item": item,
        "charge_bars": list(zip(days, _bars([day.charge_amount for day in days]), strict=True)),
        "shipment_bars": list(zip(days, _bars([day.shipments for day in days]), strict=True)),
        "totals": {
            "charges": sum(day.charges for day in days),
            "charge_amount": sum((day.charge_amount for day in days), ZERO),
            "charge_delivery": sum((day.charge_delivery for day in days), ZERO),
            "charge_tax": sum((day.charge_tax for day in days), ZERO),
            "shipments": sum(day.shipments for day in days),
        },
        "currency": currency,
        "currencies": currencies,
        "prices_include_tax": prices_include_tax(currency),
    }
    return render(request, "continuity/forecast.html", context)
