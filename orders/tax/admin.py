"""The tax tables in the admin: groups, jurisdictions with their rates, and whether each
currency's prices include tax. Imported by orders.admin."""

from django import forms
from django.contrib import admin

from orders.tax.models import PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate
from orders.tax.services import RateRange, tax_rates_check


def _rate_range(cleaned_data: dict, rate_id: int | None) -> RateRange | None:
    """The posted rate's range; None when a field has an error or the dates are reversed
    (the field errors, or the model's constraint, say so)."""
    group = cleaned_data.get("group")
    start = cleaned_data.get("effective_from")
    end = cleaned_data.get("effective_to")
    if group is None or start is None or "effective_to" not in cleaned_data:
        return None
    if end is not None and end < start:
        return None
    return RateRange(group.pk, start, end, rate_id)


class TaxRateInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        ranges, removed = [], set()
        for form in self.forms:
            if not form.cleaned_data:
                continue  # an extra form left empty
            if form.cleaned_data.get("DELETE"):
                if form.instance.pk is not None:
                    removed.add(form.instance.pk)
                continue
            rate_range = _rate_range(form.cleaned_data, form.instance.pk)
            if rate_range is not None:
                ranges.append(rate_range)
        # self.instance is the jurisdiction; not saved yet on the add page.
        tax_rates_check(
            jurisdiction_id=self.instance.pk, ranges=ranges, removed_ids=frozenset(removed)
        )


class TaxRateInline(admin.TabularInline):
    model = TaxRate
    formset = TaxRateInlineFormSet
    fields = ("group", "rate", "effective_from", "effective_to")
    extra = 1

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")


@admin.register(TaxGroup)
class TaxGroupAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "name_fr", "kind", "is_default")
    list_display_links = ("code", "name_en")
    list_filter = ("kind", "is_default")
    search_fields = ("code", "name_en", "name_fr")


@admin.register(TaxJurisdiction)
class TaxJurisdictionAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "region", "postal_prefix")
    list_filter = ("country", "region")
    search_fields = ("name", "region", "postal_prefix")
    inlines = [TaxRateInline]


class TaxRateForm(forms.ModelForm):
    class Meta:
        model = TaxRate
        fields = ("jurisdiction", "group", "rate", "effective_from", "effective_to")

    def clean(self):
        cleaned_data = super().clean()
        jurisdiction = cleaned_data.get("jurisdiction")
        rate_range = _rate_range(cleaned_data, self.instance.pk)
        if jurisdiction is not None and rate_range is not None:
            tax_rates_check(jurisdiction_id=jurisdiction.pk, ranges=[rate_range])
        return cleaned_data


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    form = TaxRateForm
    list_display = ("jurisdiction", "group", "rate", "effective_from", "effective_to")
    list_filter = ("group", "jurisdiction__country", "jurisdiction")
    search_fields = ("jurisdiction__name", "group__code")
    list_select_related = ("jurisdiction", "group")
    date_hierarchy = "effective_from"


@admin.register(PriceTaxBasis)
class PriceTaxBasisAdmin(admin.ModelAdmin):
    list_display = ("currency", "prices_include_tax")
    list_filter = ("prices_include_tax",)
    search_fields = ("currency",)
