from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BusinessDateField, LookupInput
from core.limits import QUANTITY_MAX, QUANTITY_MESSAGE, QUANTITY_MIN


class OrderLineForm(forms.Form):
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=QUANTITY_MIN,
        max_value=QUANTITY_MAX,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "narrow"}),
        # One message for every way a quantity is wrong, the same as the API's.
        error_messages={
            "invalid": QUANTITY_MESSAGE,
            "min_value": QUANTITY_MESSAGE,
            "max_value": QUANTITY_MESSAGE,
        },
    )
    item_number = forms.CharField(
        label=_("Item number"),
        max_length=20,
        widget=LookupInput("items", attrs={"data-add-line-on-tab": ""}),
    )


class StartDateForm(forms.Form):
    start_date = BusinessDateField(label=_("Start date"))


class PaymentForm(forms.Form):
    method = forms.CharField(
        label=_("Method of payment"),
        max_length=20,
        # The <datalist> serves a browser without JavaScript; lookup.js replaces it.
        widget=LookupInput("payment-methods", attrs={"list": "payment-methods"}),
    )
    card = forms.TypedChoiceField(label=_("Card"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, cards=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].choices = [("", "—")] + [(card.pk, str(card)) for card in cards]


class DeliveryModeForm(forms.Form):
    """The order's delivery mode, typed by its code like the method of payment; empty:
    the default mode."""

    delivery_mode = forms.CharField(
        label=_("Delivery mode"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"list": "delivery-modes", "autocomplete": "off"}),
    )
