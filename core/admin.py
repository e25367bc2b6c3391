from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.models import AuditEntry, Notification


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
