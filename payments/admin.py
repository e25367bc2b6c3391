from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from payments.models import Card, Payment, PaymentMethod


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "card_brand", "active")
    list_display_links = ("code", "name")
    list_filter = ("kind", "card_brand", "active")
    search_fields = ("code", "name")


@admin.register(Card)
class CardAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Cards are added only through the tokenizing service (card_add), so the admin never
    shows or asks for a card number. Only `active` may be changed: an administrator can
    withdraw a card from use. The gateway token is not shown either: with the merchant's
    credentials it is as good as the card."""

    list_display = (
        "__str__",
        "customer",
        "brand",
        "last4",
        "expiry",
        "name_on_card",
        "active",
        "created_at",
    )
    list_filter = ("active", "brand")
    search_fields = ("=customer__account_number", "=last4", "name_on_card")
    search_help_text = _("Exact customer account number, exact last four digits or name on card.")
    list_select_related = ("customer",)
    fields = (
        "customer",
        "brand",
        "last4",
        ("expiry_month", "expiry_year"),
        "name_on_card",
        "active",
        "created_at",
    )
    readonly_fields = (
        "customer",
        "brand",
        "last4",
        "expiry_month",
        "expiry_year",
        "name_on_card",
        "created_at",
    )

    @admin.display(description=_("expiration"), ordering="expiry_year")
    def expiry(self, card):
        return f"{card.expiry_month:02d}/{card.expiry_year}"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every payment is a gateway call recorded by the payment services, before and after
    the call: the admin may only look."""

    list_display = (
        "__str__",
        "created_at",
        "sales_order",
        "customer",
        "operation",
        "status",
        "amount",
        "currency",
        "attempt_number",
        "decline_code",
        "gateway_reference",
    )
    list_filter = ("status", "operation", "decline_class", "method", "created_at")
    search_fields = ("=idempotency_key", "=gateway_reference", "sales_order__number")
    search_help_text = _("Exact idempotency key, exact gateway reference or sales order number.")
    list_select_related = ("sales_order", "customer")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "sales_order",
                    "occurrence",
                    "customer",
                    "method",
                    "card",
                    "original",
                    "operation",
                    "status",
                    "amount",
                    "currency",
                    "attempt_number",
                )
            },
        ),
        (
            _("Gateway"),
            {
                "fields": (
                    "idempotency_key",
                    "gateway_reference",
                    "decline_code",
                    "decline_class",
                    "message",
                    "created_at",
                    "answered_at",
                )
            },
        ),
    )
