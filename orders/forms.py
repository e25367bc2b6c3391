from django import forms
from django.utils.translation import gettext_lazy as _


class OrderLineForm(forms.Form):
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "narrow"}),
    )
    item_number = forms.CharField(
        label=_("Item number"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-add-line-on-tab": ""}),
    )


class StartDateForm(forms.Form):
    start_date = forms.DateField(
        label=_("Start date"), widget=forms.DateInput(attrs={"type": "date"})
    )


class PaymentForm(forms.Form):
    method = forms.CharField(
        label=_("Method of payment"),
        max_length=20,
        widget=forms.TextInput(attrs={"list": "payment-methods", "autocomplete": "off"}),
    )
    card = forms.TypedChoiceField(label=_("Card"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, cards=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].choices = [("", "—")] + [(card.pk, str(card)) for card in cards]
