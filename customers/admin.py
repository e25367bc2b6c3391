from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableAdminMixin
from customers.models import Address, AddressKind, Customer
from customers.selectors import customer_filter_by_search


class AddressInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        # The database allows one default address per kind; saying so here turns what
        # would be an IntegrityError into a form error.
        default_kinds = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("is_default"):
                continue
            if data["kind"] in default_kinds:
                raise ValidationError(
                    _("Only one address of the kind %(kind)s can be the default.")
                    % {"kind": AddressKind(data["kind"]).label}
                )
            default_kinds.append(data["kind"])


class AddressInline(admin.TabularInline):
    model = Address
    formset = AddressInlineFormSet
    extra = 0
    fields = ("kind", "is_default", "name", "street", "city", "state", "postal_code", "country")


@admin.register(Customer)
class CustomerAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "account_number",
        "first_name",
        "last_name",
        "email",
        "phone",
        "language",
        "currency",
        "blocked",
        "created_at",
    )
    list_display_links = ("account_number", "first_name", "last_name")
    list_filter = ("blocked", "language")
    # What the search covers; get_search_results serves it from the indexed search document.
    search_fields = ("account_number", "first_name", "last_name", "email", "phone")
    search_help_text = _("Name, account number, email or phone.")
    fields = (
        "account_number",
        ("first_name", "last_name"),
        ("email", "phone"),
        "language",
        "currency",
        "blocked",
        "created_at",
    )
    readonly_fields = ("created_at",)
    inlines = [AddressInline]

    def get_search_results(self, request, queryset, search_term):
        """Every word must appear in the search document (names, account number, email,
        phone digits), which a trigram index serves, instead of the default OR of
        icontains on five columns, which reads the whole table."""
        text = search_term.strip()
        if not text:
            return queryset, False
        return customer_filter_by_search(queryset, text), False


@admin.register(Address)
class AddressAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "customer", "kind", "is_default", "name", "postal_code", "country")
    list_filter = ("kind", "is_default")
    search_fields = ("=customer__account_number", "customer__last_name", "postal_code")
    search_help_text = _("Exact customer account number, customer last name or postal code.")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
