"""Payment exceptions: the supervisors' page of declined, unknown and on-hold shipments,
refunds owed, unanswered order charges and the money audit's findings (served under
/payments/exceptions/, namespace "exceptions").

It lives in continuity, not payments, because it works on shipments and subscriptions
(the layers go one way: payments knows nothing of them)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from continuity.charging import ChargeOutcome
from continuity.dunning import (
    occurrence_retry_now,
    payment_unknown_mark_declined,
    subscription_change_card,
    subscription_release_hold,
)
from continuity.exception_forms import ChangeCardForm, ReasonForm
from continuity.models import Occurrence, ShipmentProblem, Subscription
from continuity.money_audit import finding_label
from continuity.selectors import payment_exceptions_list
from core.actors import Actor
from core.errors import ServiceError
from core.forms import form_service_call
from core.roles import can_supervise, role_required
from payments.forms import CardForm, card_form_add
from payments.services import payment_reconcile


def _exceptions_url() -> str:
    return reverse("exceptions:exceptions")


def _outcome_message(results) -> str:
    if not results:
        return _("Nothing was left to charge.")
    labels = {**dict(ChargeOutcome.choices), **dict(ShipmentProblem.choices)}
    return "; ".join(
        _("shipment %(id)s: %(outcome)s")
        % {"id": result.occurrence_id, "outcome": labels.get(result.outcome, result.outcome)}
        + (f" ({result.detail})" if result.detail and result.outcome != "skipped" else "")
        for result in results
    )


@require_GET
@role_required(can_supervise)
def payment_exceptions(request):
    exceptions = payment_exceptions_list()
    audit = exceptions.money_audit
    context = {
        "occurrences": exceptions.occurrences,
        "holds": exceptions.holds,
        "orders_unanswered": exceptions.orders_unanswered,
        "refunds_owed": exceptions.refunds_owed,
        "money_audit": audit,
        "findings": [
            {**finding, "label": finding_label(finding["kind"])}
            for finding in (audit.findings if audit else [])
        ],
        "reason_form": ReasonForm(),
    }
    return render(request, "exceptions/exceptions.html", context)


@require_POST
@role_required(can_supervise)
def exception_retry(request, occurrence_id):
    try:
        results = occurrence_retry_now(
            occurrence_id=occurrence_id,
            actor=Actor.of_user(request.user),
            reason=_("Retried from payment exceptions"),
        )
    except Occurrence.DoesNotExist:
        raise Http404 from None
    except (ServiceError, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, _outcome_message(results))
    return redirect(_exceptions_url())


@require_POST
@role_required(can_supervise)
def exception_mark_declined(request, occurrence_id):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect(_exceptions_url())
    try:
        payment_unknown_mark_declined(
            occurrence_id=occurrence_id,
            actor=Actor.of_user(request.user),
            reason=form.cleaned_data["reason"],
        )
    except Occurrence.DoesNotExist:
        raise Http404 from None
    except (ServiceError, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, _("The outcome was settled."))
    return redirect(_exceptions_url())


@require_POST
@role_required(can_supervise)
def exception_release_hold(request, subscription_id):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect(_exceptions_url())
    try:
        subscription_release_hold(
            subscription_id=subscription_id,
            actor=Actor.of_user(request.user),
            reason=form.cleaned_data["reason"],
        )
    except Subscription.DoesNotExist:
        raise Http404 from None
    except (ServiceError, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(
            request,
            _("The hold was released; the next payment run charges its declined shipments."),
        )
    return redirect(_exceptions_url())


@require_POST
@role_required(can_supervise)
def exception_order_check(request, payment_id):
    try:
        payment = payment_reconcile(payment_id=payment_id, actor=Actor.of_user(request.user))
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Payment %(key)s reconciled: its status is %(status)s.")
            % {"key": payment.idempotency_key, "status": payment.get_status_display()},
        )
    return redirect(_exceptions_url())


@sensitive_post_parameters("card_number", "security_code")
@require_http_methods(["GET", "POST"])
@role_required(can_supervise)
def exception_change_card(request, subscription_id):
    subscription = (
        Subscription.objects.select_related("customer", "card", "parent_order")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        raise Http404
    cards = list(subscription.customer.cards.filter(active=True).order_by("-created_at"))
    form = ChangeCardForm(request.POST or None, cards=cards, initial={"card": subscription.card_id})
    card_form = CardForm(initial={"name_on_card": subscription.customer.full_name})
    status = 200
    if request.method == "POST" and "card_number" in request.POST:
        card_form = CardForm(request.POST)
        card = card_form_add(
            card_form, customer=subscription.customer, actor=Actor.of_user(request.user)
        )
        if card is not None:
            return redirect(
                reverse("exceptions:change_card", args=[subscription.pk]) + f"?card={card.pk}"
            )
        status = 400
        form = ChangeCardForm(cards=cards, initial={"card": subscription.card_id})
    elif request.method == "POST" and form.is_valid():
        changed = form_service_call(
            form,
            subscription_change_card,
            subscription_id=subscription.pk,
            card_id=form.cleaned_data["card"],
            actor=Actor.of_user(request.user),
            reason=form.cleaned_data["reason"],
        )
        status = 400
        if changed is not None:
            subscription, results = changed
            messages.success(
                request,
                _("Card changed to %(card)s. %(outcome)s")
                % {"card": subscription.card, "outcome": _outcome_message(results)},
            )
            return redirect(_exceptions_url())
    elif request.GET.get("card"):
        form = ChangeCardForm(cards=cards, initial={"card": request.GET["card"]})
    return render(
        request,
        "exceptions/change_card.html",
        {
            "subscription": subscription,
            "form": form,
            "card_form": card_form,
            "card_dialog_open": bool(card_form.errors),
        },
        status=status,
    )
