"""The simulator's ledger, for looking at what the "bank" saw. Read-only: it stands for
the gateway's own records, which nothing on our side may change."""

from django.contrib import admin

from core.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from payments.gateways.simulator.models import DroppedRequest, SimulatedCard, SimulatedTransaction


@admin.register(SimulatedCard)
class SimulatedCardAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("token", "behaviour", "brand", "last4", "expiry_month", "expiry_year")
    list_filter = ("brand",)
    search_fields = ("=token", "=last4", "behaviour")


@admin.register(SimulatedTransaction)
class SimulatedTransactionAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "created_at",
        "operation",
        "amount_minor",
        "currency",
        "approved",
        "decline_code",
        "idempotency_key",
    )
    list_filter = ("approved", "created_at")
    search_fields = ("=idempotency_key", "=reference", "=original_reference", "=token")


@admin.register(DroppedRequest)
class DroppedRequestAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("idempotency_key", "created_at")
    search_fields = ("=idempotency_key",)
