"""The subscription page and the agent's actions on it: each action shows its form, then
a preview of its effect, then does it on confirmation. Thin over continuity.actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from continuity import actions
from continuity.forms import (
    ActionForm,
    ChangeCardForm,
    ChangeShipToForm,
    NewAddressForm,
    PauseForm,
    RescheduleForm,
    SkipForm,
)
from continuity.models import Subscription, SubscriptionAction
from continuity.presenters import effect_text
from continuity.selectors import forecast, subscription_page_get
from core.actors import Actor
from core.dates import business_date
from core.errors import Conflict, ServiceError
from core.forms import add_service_errors, form_service_call
from core.roles import can_supervise, can_take_orders, role_required
from customers.services import address_add
from orders.forms import CardForm, card_form_add
from orders.models import Item


@dataclass(frozen=True)
class ActionPage:
    form: type[ActionForm]
    # The form's cleaned data as the services' keyword arguments.
    arguments: Callable[[dict], dict]

    def preview(self, action, **kwargs):
        return actions.SERVICES[action][0](**kwargs)

    def act(self, action, **kwargs):
        return actions.SERVICES[action][1](**kwargs)


ACTIONS = {
    SubscriptionAction.SKIP: ActionPage(
        SkipForm, lambda data: {"occurrence_id": data["occurrence"]}
    ),
    SubscriptionAction.RESCHEDULE: ActionPage(
        RescheduleForm,
        lambda data: {"occurrence_id": data["occurrence"], "new_date": data["new_date"]},
    ),
    SubscriptionAction.PAUSE: ActionPage(PauseForm, lambda data: {"until": data["until"]}),
    SubscriptionAction.RESUME: ActionPage(ActionForm, lambda data: {}),
    SubscriptionAction.CHANGE_CARD: ActionPage(
        ChangeCardForm, lambda data: {"card_id": data["card"]}
    ),
    SubscriptionAction.CHANGE_SHIP_TO: ActionPage(
        ChangeShipToForm, lambda data: {"address_id": data["address"]}
    ),
    SubscriptionAction.CANCEL: ActionPage(ActionForm, lambda data: {}),
    SubscriptionAction.REACTIVATE: ActionPage(ActionForm, lambda data: {}),
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
    return render(
        request,
        "continuity/subscription.html",
        {"subscription": subscription, "actions": SubscriptionAction},
    )


@require_http_methods(["GET", "POST"])
@role_required(can_take_orders)
def subscription_action(request, subscription_id, action):
    if action not in ACTIONS:
        raise Http404
    page = ACTIONS[action]
    subscription = _subscription(subscription_id)
    data = request.POST or None
    if request.method == "GET" and request.GET.get("card"):
        data = None
    form = page.form(
        data, subscription=subscription, action=action, initial={"card": request.GET.get("card")}
    )
    context = {
        "subscription": subscription,
        "action": action,
        "action_label": SubscriptionAction(action).label,
        "form": form,
        "card_form": CardForm(initial={"name_on_card": subscription.customer.full_name}),
        "address_form": NewAddressForm(prefix="address"),
    }
    status = 200
    if request.method == "POST" and form.is_valid():
        arguments = page.arguments(form.cleaned_data)
        try:
            preview = page.preview(action, subscription_id=subscription.pk, **arguments)
            if request.POST.get("step") == "confirm":
                page.act(
                    action,
                    subscription_id=subscription.pk,
                    actor=Actor.of_user(request.user),
                    reason_code=form.cleaned_data["reason_code"],
                    **arguments,
                )
                messages.success(
                    request, _("%(action)s: done.") % {"action": SubscriptionAction(action).label}
                )
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
            for field in form.fields.values():
                field.disabled = True
    elif request.method == "POST":
        status = 400
    return render(request, "continuity/action.html", context, status=status)


@require_POST
@role_required(can_take_orders)
def subscription_card_add(request, subscription_id):
    """Add credit card from the change-card page: the new card comes back selected."""
    subscription = _subscription(subscription_id)
    form = CardForm(request.POST)
    url = reverse("continuity:action", args=[subscription.pk, SubscriptionAction.CHANGE_CARD])
    card = card_form_add(form, customer=subscription.customer, actor=Actor.of_user(request.user))
    if card is not None:
        return redirect(f"{url}?card={card.pk}")
    page = ACTIONS[SubscriptionAction.CHANGE_CARD]
    return render(
        request,
        "continuity/action.html",
        {
            "subscription": subscription,
            "action": SubscriptionAction.CHANGE_CARD,
            "action_label": SubscriptionAction.CHANGE_CARD.label,
            "form": page.form(subscription=subscription, action=SubscriptionAction.CHANGE_CARD),
            "card_form": form,
            "card_dialog_open": True,
            "address_form": NewAddressForm(prefix="address"),
        },
        status=400,
    )


@require_POST
@role_required(can_take_orders)
def subscription_address_add(request, subscription_id):
    """A new shipping address from the change-ship-to page, then back to it."""
    subscription = _subscription(subscription_id)
    form = NewAddressForm(request.POST, prefix="address")
    url = reverse("continuity:action", args=[subscription.pk, SubscriptionAction.CHANGE_SHIP_TO])
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
    page = ACTIONS[SubscriptionAction.CHANGE_SHIP_TO]
    return render(
        request,
        "continuity/action.html",
        {
            "subscription": subscription,
            "action": SubscriptionAction.CHANGE_SHIP_TO,
            "action_label": SubscriptionAction.CHANGE_SHIP_TO.label,
            "form": page.form(subscription=subscription, action=SubscriptionAction.CHANGE_SHIP_TO),
            "card_form": CardForm(),
            "address_form": form,
        },
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
    days = forecast(start=business_date(), days=60, item_id=item.pk if item else None)
    context = {
        "days": days,
        "items": items,
        "item": item,
        "charge_bars": list(zip(days, _bars([day.charge_amount for day in days]), strict=True)),
        "shipment_bars": list(zip(days, _bars([day.shipments for day in days]), strict=True)),
        "totals": {
            "charges": sum(day.charges for day in days),
            "charge_amount": sum((day.charge_amount for day in days), 0),
            "shipments": sum(day.shipments for day in days),
        },
        "currency": settings.CURRENCY,
    }
    return render(request, "continuity/forecast.html", context)
