import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.actors import Actor
from core.models import (
    WEBHOOK_BLOCKING_STATUSES,
    AuditEntry,
    Notification,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from core.outbox import (
    outbox_event_data,
    outbox_event_types_invalid,
    outbox_known_event_types,
)
from core.roles import can_supervise
from core.webhooks import (
    webhook_deliveries_discard,
    webhook_deliveries_resend,
    webhook_endpoint_secret_rotate,
)


class TolerantAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget looks the posted value up to show it again; a value
    that is no id at all ("abc", "0x10") makes that lookup raise, and the page answers
    500 instead of showing the form's "Select a valid choice". Only values that can be
    ids are looked up."""

    def optgroups(self, name, value, attr=None):
        target = self.field.target_field
        ids = []
        for one in value:
            try:
                target.to_python(one)
            except ValidationError:
                continue
            ids.append(one)
        return super().optgroups(name, ids, attr)


class TolerantAutocompleteMixin:
    """For a ModelAdmin or an inline with autocomplete_fields: their widgets survive a
    posted value that is not an id (TolerantAutocompleteSelect)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = TolerantAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class LargeTableAdminMixin:
    """For tables that grow to millions of rows (customers, orders, occurrences, payments,
    the audit trail): no second count of the whole table for "show all", and no count
    per filter choice (facets), each of which would read every row."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


class ReadOnlyAdminMixin:
    """For models that only services may write (money, statuses, the audit trail).

    Without change permission the admin shows every field read-only, hides the save
    buttons and answers a POST to the change page with 403; without add and delete
    permission the add page, the delete page and the "delete selected" action are gone.
    The same signatures serve a ModelAdmin and an inline.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        # Every field shown is read-only, so none becomes a form field (a non-editable one
        # such as created_at could not).
        return self.get_fields(request, obj)


@admin.register(AuditEntry)
class AuditEntryAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "at",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "customer",
        "from_status",
        "to_status",
        "reason",
    )
    # No filter on action or object type: on a table that only grows, their choices would
    # cost a SELECT DISTINCT over every row on each page view. Search them instead; exact
    # matches keep the search cheap.
    list_filter = ("at",)
    search_fields = ("=object_id", "=customer__account_number", "=actor_label", "=action")
    search_help_text = _("Exact object id, customer account number, user or action.")
    list_select_related = ("customer",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Emails owed to customers; written by the services, sent by a task."""

    list_display = ("key", "kind", "customer", "status", "attempts", "created_at", "sent_at")
    list_filter = ("kind", "status")
    search_fields = ("=key", "=customer__account_number")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)


# --- Webhooks (docs/webhooks.md) ----------------------------------------------------------


class EventTypesField(forms.CharField):
    """An endpoint's event types typed as text, one or more per line or comma separated,
    kept as a JSON list."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part for part in text.replace(",", " ").split() if part]


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = EventTypesField(
        label=_("event types"),
        required=False,
        help_text=_(
            "Empty or * for every event; otherwise types such as order.submitted, or "
            "shipment.* for every event of a topic. docs/webhooks.md lists them."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "active")

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError(_("Enter an http:// or https:// address."))
        return url

    def clean_event_types(self):
        chosen = self.cleaned_data["event_types"]
        invalid = outbox_event_types_invalid(chosen)
        if invalid:
            raise ValidationError(
                _("Unknown event types: %(types)s. Known: %(known)s, or * for every event.")
                % {
                    "types": ", ".join(invalid),
                    "known": ", ".join(sorted(outbox_known_event_types())),
                }
            )
        return list(dict.fromkeys(chosen))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Administrators only (the model's permissions): where events go, and the secret
    the receiver checks their signatures with."""

    form = WebhookEndpointForm
    list_display = ("url", "description", "event_types", "active", "created_at")
    list_filter = ("active",)
    readonly_fields = ("secret", "created_at")
    actions = ("rotate_secret",)

    @admin.action(description=_("Rotate the secret"), permissions=("change",))
    def rotate_secret(self, request, queryset):
        actor = Actor.of_user(request.user)
        for endpoint in queryset.order_by("pk"):
            webhook_endpoint_secret_rotate(endpoint_id=endpoint.pk, actor=actor)
        self.message_user(
            request,
            _("New secrets: %(count)d. Give each receiver its new secret.")
            % {"count": queryset.count()},
            messages.SUCCESS,
        )


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ("at", "status_code", "error", "answer", "duration_ms")
    show_change_link = False


class EventTypeFilter(admin.SimpleListFilter):
    """The registered types (core.outbox), not a SELECT DISTINCT over every event."""

    title = _("event type")
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in sorted(outbox_known_event_types())]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event__type=self.value())
        return queryset


def _may_resend(user) -> bool:
    return can_supervise(user) and user.has_perm("core.change_webhookdelivery")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each event owed to each endpoint, its attempts and answers. Supervisors send one
    again, or discard a failed one that holds back the later ones of its customer."""

    list_display = (
        "id",
        "event_type",
        "event_code",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "blocked_by",
    )
    list_filter = ("status", "endpoint", EventTypeFilter)
    search_fields = ("=event__event_id", "=ordering_key")
    search_help_text = _("Exact event id, or ordering key (customer:<id>).")
    list_select_related = ("event", "endpoint")
    fields = (
        "event_code",
        "event_type",
        "endpoint",
        "ordering_key",
        "status",
        "blocked_by",
        "attempts",
        "first_attempt_at",
        "next_attempt_at",
        "last_status_code",
        "last_answer",
        "delivered_at",
        "created_at",
        "event_data",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ("send_again", "discard")

    def get_queryset(self, request):
        # The earliest delivery still owed before each one: one indexed subquery a row.
        earlier = WebhookDelivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            ordering_key=OuterRef("ordering_key"),
            event_id__lt=OuterRef("event_id"),
            status__in=WEBHOOK_BLOCKING_STATUSES,
        ).order_by("event_id")
        return (
            super().get_queryset(request).annotate(blocked_by_id=Subquery(earlier.values("id")[:1]))
        )

    def has_resend_permission(self, request):
        return _may_resend(request.user)

    @admin.display(description=_("event"))
    def event_code(self, delivery):
        return delivery.event.event_id

    @admin.display(description=_("event type"))
    def event_type(self, delivery):
        return delivery.event.type

    @admin.display(description=_("data"))
    def event_data(self, delivery):
        return format_html(
            "<pre>{}</pre>",
            json.dumps(outbox_event_data(delivery.event), indent=2, ensure_ascii=False),
        )

    @admin.display(description=_("blocked by"))
    def blocked_by(self, delivery):
        # Only a pending delivery waits; a failed one is itself what holds others back.
        blocker_id = delivery.blocked_by_id
        if blocker_id is None or delivery.status != WebhookDeliveryStatus.PENDING:
            return "-"
        url = reverse("admin:core_webhookdelivery_change", args=[blocker_id])
        return format_html('<a href="{}">{}</a>', url, blocker_id)

    def _require_resend(self, request):
        if not _may_resend(request.user):
            raise PermissionDenied

    @admin.action(description=_("Send again"), permissions=("resend",))
    def send_again(self, request, queryset):
        self._require_resend(request)
        count = webhook_deliveries_resend(
            delivery_ids=list(queryset.values_list("pk", flat=True)),
            actor=Actor.of_user(request.user),
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery will be sent again within a minute.",
                "%(count)d deliveries will be sent again within a minute.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Discard (stop holding back later events)"), permissions=("resend",)
    )
    def discard(self, request, queryset):
        self._require_resend(request)
        count = webhook_deliveries_discard(
            delivery_ids=list(queryset.values_list("pk", flat=True)),
            actor=Actor.of_user(request.user),
        )
        self.message_user(
            request,
            ngettext("%(count)d delivery discarded.", "%(count)d deliveries discarded.", count)
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(OutboxEvent)
class OutboxEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The outbound events as written with their changes (read-only)."""

    list_display = ("id", "event_id", "type", "object_id", "customer", "occurred_at", "fanned_out")
    list_filter = ("fanned_out",)
    # Only what is indexed: the table grows by thousands of rows a batch chunk.
    search_fields = ("=event_id",)
    search_help_text = _("Exact event id.")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
