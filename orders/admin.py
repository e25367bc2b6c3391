from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from core.admin import (
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    TolerantAutocompleteMixin,
)
from orders.delivery import DeliveryMode
from orders.models import Item, NumberSequence, SalesOrder, SalesOrderLine
from orders.tax import admin as tax_admin  # noqa: F401  (registers the tax tables)
from payments.models import Payment


@admin.register(Item)
class ItemAdmin(TolerantAutocompleteMixin, admin.ModelAdmin):
    list_display = ("item_number", "name", "unit_price", "active", "continuity_program")
    list_display_links = ("item_number", "name")
    list_filter = ("active", "continuity_program", "tax_group")
    search_fields = ("item_number", "name")
    list_select_related = ("continuity_program",)
    autocomplete_fields = ("continuity_program",)


@admin.register(DeliveryMode)
class DeliveryModeAdmin(admin.ModelAdmin):
    """The modes agents choose by code and their delivery charge rule (docs/delivery.md).
    A mode orders or program events name cannot be deleted: untick Active instead."""

    list_display = (
        "code",
        "name_en",
        "name_fr",
        "charge_kind",
        "amount",
        "free_above",
        "is_default",
        "active",
    )
    list_filter = ("active", "is_default", "charge_kind")
    search_fields = ("code", "name_en", "name_fr")
    fields = (
        "code",
        ("name_en", "name_fr"),
        "active",
        "is_default",
        ("charge_kind", "amount"),
        "free_above",
    )


class SalesOrderLineInline(ReadOnlyInline):
    model = SalesOrderLine
    fields = (
        "line_number",
        "item",
        "quantity",
        "unit_price",
        "amount",
        "tax_rate",
        "tax_amount",
        "gross_amount",
        "continuity_start_date",
        "occurrence_line",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item", "occurrence_line")


class SalesOrderPaymentInline(ReadOnlyInline):
    model = Payment
    fields = (
        "created_at",
        "operation",
        "status",
        "amount",
        "currency",
        "card",
        "occurrence",
        "attempt_number",
        "decline_code",
        "gateway_reference",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("card", "occurrence")


@admin.register(SalesOrder)
class SalesOrderAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Orders are taken, paid and submitted through the order services (numbers come
    from a sequence, amounts from the lines, status from the status machine), so the
    admin shows them and changes nothing."""

    list_display = (
        "number",
        "customer",
        "kind",
        "status",
        "order_date",
        "total",
        "amount_due",
        "currency",
        "parent",
        "submitted_at",
    )
    list_filter = ("status", "kind", "order_date", "submitted_at")
    search_fields = (
        "number",
        "=customer__account_number",
        "customer__last_name",
        "customer__first_name",
    )
    search_help_text = _("Sales order number, exact customer account number or customer name.")
    list_select_related = ("customer", "parent")
    fieldsets = (
        (None, {"fields": ("number", "customer", "kind", "status", "parent", "child_orders")}),
        (
            None,
            {
                "fields": (
                    "currency",
                    "subtotal",
                    "delivery_mode",
                    "delivery_amount",
                    "delivery_tax_rate",
                    "delivery_tax_amount",
                    "tax_amount",
                    "prices_include_tax",
                    "tax_jurisdiction",
                    "total",
                    "amount_due",
                    "payment_method",
                    "payment_card",
                )
            },
        ),
        (
            None,
            {
                "fields": (
                    "ship_to",
                    "order_date",
                    "requested_ship_date",
                    "completed_at",
                    "submitted_at",
                    "created_by",
                    "created_at",
                )
            },
        ),
    )
    readonly_fields = ("child_orders",)
    inlines = [SalesOrderLineInline, SalesOrderPaymentInline]

    @admin.display(description=_("child orders"))
    def child_orders(self, order):
        children = order.child_orders.order_by("id").values_list("id", "number")
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                (
                    (reverse("admin:orders_salesorder_change", args=[child_id]), number)
                    for child_id, number in children
                ),
            )
            or self.get_empty_value_display()
        )


@admin.register(SalesOrderLine)
class SalesOrderLineAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "order", "line_number", "item", "quantity", "unit_price", "amount")
    search_fields = ("order__number", "=item__item_number")
    search_help_text = _("Sales order number or exact item number.")
    list_select_related = ("order", "item")


@admin.register(NumberSequence)
class NumberSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The SQLite fallback counter: editing it could hand out a number twice."""

    list_display = ("name", "last_value")
