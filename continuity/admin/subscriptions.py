"""Subscriptions, their shipments and the reason codes; the program change an
administrator applies to chosen subscriptions and the supervisors' release of a payment
hold, each through its service."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from continuity.models import Occurrence, OccurrenceLine, ReasonCode, Subscription
from continuity.program_changes import future_shipments_change, future_shipments_change_preview
from continuity.subscription_actions import actions_all
from continuity.subscription_actions.holds import RELEASE_HOLD
from core.actors import Actor
from core.admin import LargeTableAdminMixin, ReadOnlyAdminMixin, ReadOnlyInline
from core.errors import Conflict
from orders.models import Item
from payments.models import Payment

# --- Subscriptions and their occurrences: read-only ----------------------------------
#
# They change only through the subscription services and the batch jobs, which check the
# status transitions, lock the rows around money and write the audit trail.


class OccurrenceInline(ReadOnlyInline):
    model = Occurrence
    fields = (
        "sequence",
        "event_number",
        "ship_date",
        "amount",
        "currency",
        "status",
        "payment_attempts",
        "next_payment_attempt_on",
        "decline_reason",
        "payment",
        "child_order",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "child_order")


@admin.register(Subscription)
class SubscriptionAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "customer",
        "program",
        "status",
        "hold_reason",
        "start_date",
        "first_shipment_date",
        "open_ended",
        "created_at",
    )
    list_filter = ("status", "hold_reason", "open_ended", "program")
    search_fields = (
        "parent_order__number",
        "=customer__account_number",
        "customer__last_name",
        "=program__code",
    )
    search_help_text = _(
        "Parent sales order number, exact customer account number, customer last name or "
        "exact program code."
    )
    list_select_related = ("customer", "parent_order", "program")
    inlines = [OccurrenceInline]

    def get_actions(self, request):
        # Read-only rows, but this action is how a program change reaches them: through
        # its own preview and a service, for the users who may change programs.
        actions = super().get_actions(request)
        if request.user.has_perm("continuity.change_continuityprogram"):
            actions["change_future_shipments"] = self.get_action(change_future_shipments)
        else:
            actions.pop("change_future_shipments", None)
        # Releasing a payment hold is a supervisor's decision (never an agent's): who may
        # is the action's declaration's to say.
        if RELEASE_HOLD.allowed(request.user):
            actions["release_hold"] = self.get_action(release_hold)
        else:
            actions.pop("release_hold", None)
        return actions

    def get_urls(self):
        def view(request):
            if not request.user.has_perm("continuity.change_continuityprogram"):
                raise PermissionDenied
            return change_future_shipments_view(self, request)

        return [
            path(
                "change-future-shipments/",
                self.admin_site.admin_view(view),
                name="continuity_subscription_change_future",
            ),
            *super().get_urls(),
        ]


class OccurrenceLineInline(ReadOnlyInline):
    model = OccurrenceLine
    fields = (
        "line_number",
        "item",
        "quantity",
        "unit_price",
        "amount",
        "tax_rate",
        "tax_amount",
        "gross_amount",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item")


class OccurrencePaymentInline(ReadOnlyInline):
    model = Payment
    fields = (
        "created_at",
        "operation",
        "status",
        "amount",
        "currency",
        "card",
        "attempt_number",
        "decline_code",
        "gateway_reference",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("card")


@admin.register(Occurrence)
class OccurrenceAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "subscription",
        "ship_date",
        "status",
        "amount",
        "currency",
        "payment_attempts",
        "next_payment_attempt_on",
        "child_order",
    )
    list_filter = ("status", "ship_date", "subscription__program")
    search_fields = (
        "subscription__parent_order__number",
        "child_order__number",
        "=subscription__customer__account_number",
    )
    search_help_text = _("Parent or child sales order number, or exact customer account number.")
    list_select_related = ("subscription__parent_order", "subscription__program", "child_order")
    inlines = [OccurrenceLineInline, OccurrencePaymentInline]


@admin.register(OccurrenceLine)
class OccurrenceLineAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "occurrence", "line_number", "item", "quantity", "amount")
    search_fields = ("occurrence__subscription__parent_order__number", "=item__item_number")
    search_help_text = _("Parent sales order number or exact item number.")
    list_select_related = ("occurrence", "item")


class ReasonCodeForm(forms.ModelForm):
    # The actions that ask for a reason code, as declared; none ticked: every action.
    actions = forms.MultipleChoiceField(
        label=_("actions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: the reason fits every action."),
    )

    class Meta:
        model = ReasonCode
        fields = ("code", "label_en", "label_fr", "actions", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actions"].choices = [
            (action.name, action.label) for action in actions_all() if action.previewed
        ]


@admin.register(ReasonCode)
class ReasonCodeAdmin(admin.ModelAdmin):
    """The reasons agents choose from when they change a subscription."""

    form = ReasonCodeForm
    list_display = ("code", "label_en", "label_fr", "actions", "active")
    list_filter = ("active",)
    search_fields = ("code", "label_en", "label_fr")


class FutureShipmentsChangeForm(forms.Form):
    substitute_item = forms.ModelChoiceField(
        label=_("Item to replace"), queryset=Item.objects.order_by("item_number"), required=False
    )
    replacement_item = forms.ModelChoiceField(
        label=_("Replacement item"),
        queryset=Item.objects.filter(active=True).order_by("item_number"),
        required=False,
    )
    shift_days = forms.IntegerField(label=_("Shift dates by (days)"), initial=0, required=False)
    reason = forms.CharField(label=_("Reason"), max_length=255)


def change_future_shipments_view(model_admin, request):
    """Preview, then apply, a program change to the chosen subscriptions' future
    shipments (continuity.program_changes.future_shipments_change)."""
    ids = [int(pk) for pk in request.POST.getlist("ids") or request.GET.getlist("ids")]
    form = FutureShipmentsChangeForm(request.POST if "reason" in request.POST else None)
    changes = None
    if form.is_bound and form.is_valid():
        arguments = {
            "subscription_ids": ids,
            "substitute_item_id": getattr(form.cleaned_data["substitute_item"], "pk", None),
            "replacement_item_id": getattr(form.cleaned_data["replacement_item"], "pk", None),
            "shift_days": form.cleaned_data["shift_days"] or 0,
        }
        try:
            if request.POST.get("step") == "apply":
                done = future_shipments_change(
                    actor=Actor.of_user(request.user),
                    reason=form.cleaned_data["reason"],
                    **arguments,
                )
                model_admin.message_user(
                    request,
                    _("Future shipments changed: %(count)d.") % {"count": len(done)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:continuity_subscription_changelist"))
            changes = future_shipments_change_preview(**arguments)
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Change future shipments"),
        "opts": model_admin.model._meta,
        "form": form,
        "ids": ids,
        "subscriptions": Subscription.objects.filter(pk__in=ids).select_related(
            "customer", "parent_order"
        ),
        "changes": changes,
    }
    return TemplateResponse(request, "admin/continuity/change_future_shipments.html", context)


@admin.action(description=_("Release the payment hold (supervisors)"))
def release_hold(model_admin, request, queryset):
    """Ask for the reason first; then release each chosen subscription on hold, one
    service call each (the release-hold action's declaration: its form, permission,
    service and label)."""
    RELEASE_HOLD.require_allowed(request.user)
    form = RELEASE_HOLD.form(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        released, refused = 0, []
        for subscription in queryset.order_by("pk"):
            try:
                RELEASE_HOLD.do(
                    subscription_id=subscription.pk,
                    actor=Actor.of_user(request.user),
                    reason=form.cleaned_data[RELEASE_HOLD.reason_keyword],
                    arguments={},
                )
            except (Conflict, ValidationError) as error:
                refused.append(
                    f"{subscription}: {' '.join(getattr(error, 'messages', [str(error)]))}"
                )
            else:
                released += 1
        if released:
            model_admin.message_user(
                request, _("Holds released: %(count)d.") % {"count": released}, messages.SUCCESS
            )
        for message in refused:
            model_admin.message_user(request, message, messages.ERROR)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": RELEASE_HOLD.label,
        "opts": model_admin.model._meta,
        "form": form,
        "subscriptions": queryset.select_related("customer", "parent_order"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/continuity/release_hold.html", context)


@admin.action(description=_("Change future shipments (substitute an item, shift dates)"))
def change_future_shipments(model_admin, request, queryset):
    query = "&".join(f"ids={pk}" for pk in queryset.values_list("pk", flat=True))
    return HttpResponseRedirect(
        reverse("admin:continuity_subscription_change_future") + f"?{query}"
    )
