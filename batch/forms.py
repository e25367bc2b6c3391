from django import forms
from django.utils.translation import gettext_lazy as _

from core.dates import business_date
from core.forms import BusinessDateField


class BatchRunForm(forms.Form):
    item_number = forms.CharField(
        label=_("Continuity item"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
    sales_order = forms.CharField(
        label=_("Sales order"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    run_date = BusinessDateField(label=_("Run date"), required=False, help_text=_("Empty: today."))
    dry_run = forms.BooleanField(
        label=_("Dry run"),
        required=False,
        help_text=_("Report what would happen without changing anything."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["run_date"].initial = business_date()
