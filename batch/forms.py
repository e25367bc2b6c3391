from django import forms
from django.utils.translation import gettext_lazy as _

from core.dates import business_date
from core.forms import BusinessDateField, LookupInput


class BatchRunForm(forms.Form):
    item_number = forms.CharField(
        label=_("Continuity item"),
        max_length=20,
        required=False,
        widget=LookupInput("continuity-items", attrs={"autofocus": True}),
    )
    # Its list follows the item typed above: only that item's orders.
    sales_order = forms.CharField(
        label=_("Sales order"),
        max_length=20,
        required=False,
        widget=LookupInput("sales-orders", follow={"item": "id_item_number"}),
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
