from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.actors import Actor
from core.admin import (
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    TolerantAutocompleteMixin,
)
from core.errors import Conflict
from core.roles import can_supervise
from orders.delivery import DeliveryMode
from orders.fulfilment.services import sales_order_release
from orders.models import (
    Carrier,
    Invoice,
    InvoiceLine,
    Item,
    NumberSequence,
    SalesOrder,
    SalesOrderLine,
    WarehouseShipment,
    WarehouseShipmentLine,
)
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
        "shipped_quantity",
        "continuity_start_date",
        "occurrence_line",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item", "occurrence_line")


class SalesOrderShipmentInline(ReadOnlyInline):
    model = WarehouseShipment
    fields = ("warehouse_reference", "carrier", "tracking_number", "shipped_date", "source")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("carrier")


class SalesOrderInvoiceInline(ReadOnlyInline):
    model = Invoice
    fk_name = "order"
    fields = ("number", "invoice_date", "total", "payment_applied", "currency")


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


@admin.action(description=_("Release to the warehouse"), permissions=["release"])
def release_to_warehouse(model_admin, request, queryset):
    """Release each chosen order, one service call each: a submitted child order is
    released; any other is refused with the service's reason."""
    actor = Actor.of_user(request.user)
    released, refused = 0, []
    for order in queryset.order_by("pk"):
        try:
            sales_order_release(order_id=order.pk, actor=actor)
        except Conflict as error:
            refused.append(str(error))
        else:
            released += 1
    if released:
        model_admin.message_user(
            request,
            _("Sales orders released to the warehouse: %(count)d.") % {"count": released},
            messages.SUCCESS,
        )
    for message in refused:
        model_admin.message_user(request, message, messages.ERROR)


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
        "released_at",
    )
    list_filter = ("status", "kind", "order_date", "submitted_at", "released_at")
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
                    "released_at",
                    "created_by",
                    "created_at",
                )
            },
        ),
    )
    readonly_fields = ("child_orders",)
    inlines = [
        SalesOrderLineInline,
        SalesOrderPaymentInline,
        SalesOrderShipmentInline,
        SalesOrderInvoiceInline,
    ]
    actions = [release_to_warehouse]

    def has_release_permission(self, request):
        return can_supervise(request.user)

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


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    """Carriers the warehouse names by code. One a shipment names cannot be deleted:
    untick Active instead (a confirmation naming an inactive carrier is refused)."""

    list_display = ("code", "name", "tracking_url", "active")
    list_filter = ("active",)
    search_fields = ("code", "name")


class WarehouseShipmentLineInline(ReadOnlyInline):
    model = WarehouseShipmentLine
    fields = ("order_line", "quantity")
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line__item")


@admin.register(WarehouseShipment)
class WarehouseShipmentAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The warehouse's confirmations, as recorded (orders.fulfilment.services): an
    invoice was made from each, so none is changed here."""

    list_display = (
        "warehouse_reference",
        "order",
        "carrier",
        "tracking_number",
        "shipped_date",
        "source",
        "created_at",
    )
    list_filter = ("carrier", "source", "shipped_date")
    search_fields = ("=warehouse_reference", "=tracking_number", "order__number")
    search_help_text = _(
        "Exact warehouse shipment id, exact tracking number or sales order number."
    )
    list_select_related = ("order", "carrier")
    fields = (
        "warehouse_reference",
        "order",
        "carrier",
        "tracking_number",
        "tracking_link",
        "shipped_date",
        "source",
        "recorded_by",
        "created_at",
    )
    readonly_fields = ("tracking_link",)
    inlines = [WarehouseShipmentLineInline]

    @admin.display(description=_("tracking page"))
    def tracking_link(self, shipment):
        url = shipment.carrier.tracking_link(shipment.tracking_number)
        if not url:
            return self.get_empty_value_display()
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', url, url)


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = (
        "line_number",
        "order_line",
        "item",
        "quantity",
        "unit_price",
        "amount",
        "tax_rate",
        "tax_amount",
        "gross_amount",
    )
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item", "order_line")


@admin.register(Invoice)
class InvoiceAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Invoices are made by the shipment they bill, numbered from their own sequence:
    the admin shows them and changes nothing."""

    list_display = (
        "number",
        "invoice_date",
        "order",
        "customer",
        "total",
        "payment_applied",
        "currency",
    )
    list_filter = ("invoice_date", "currency")
    search_fields = ("number", "order__number", "=customer__account_number")
    search_help_text = _("Invoice number, sales order number or exact customer account number.")
    list_select_related = ("order", "customer")
    fields = (
        "number",
        "invoice_date",
        "order",
        "shipment",
        "customer",
        "currency",
        "subtotal",
        "delivery_amount",
        "delivery_tax_rate",
        "delivery_tax_amount",
        "tax_amount",
        "prices_include_tax",
        "tax_jurisdiction",
        "total",
        "payment",
        "payment_applied",
        "balance",
        "created_at",
    )
    readonly_fields = ("balance",)
    inlines = [InvoiceLineInline]

    @admin.display(description=_("balance due"))
    def balance(self, invoice):
        return invoice.balance
