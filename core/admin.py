from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.models import AuditEntry, Notification


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
