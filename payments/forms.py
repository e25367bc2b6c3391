"""The Add credit card dialog, shared by every page that takes a card (order summary,
change card on a subscription, the payment exceptions page)."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from core.dates import business_date
from core.forms import form_service_call
from payments.services import card_add


class NoEchoTextInput(forms.TextInput):
    """A text input that never writes its value back into the page: a card form shown
    again after an error must not carry the card number in its HTML."""

    def get_context(self, name, value, attrs):
        return super().get_context(name, None, attrs)


def _month_choices():
    return [("", "--")] + [(str(month), f"{month:02d}") for month in range(1, 13)]


def _year_choices():
    this_year = business_date().year
    return [("", "----")] + [(str(year), str(year)) for year in range(this_year, this_year + 16)]


class CardForm(forms.Form):
    """Add credit card. Validation of the number and expiry is the service's (card_add):
    the form only carries the fields."""

    card_number = forms.CharField(
        label=_("Card number"),
        max_length=30,
        widget=NoEchoTextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    name_on_card = forms.CharField(
        label=_("Name on card"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )
    expiry_month = forms.ChoiceField(label=_("Expiration month"), choices=_month_choices)
    expiry_year = forms.ChoiceField(label=_("Expiration year"), choices=_year_choices)
    security_code = forms.CharField(
        label=_("Security code"),
        max_length=4,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "class": "narrow"},
        ),
    )
    method = forms.CharField(required=False, widget=forms.HiddenInput)


@sensitive_variables("form", "data")
def card_form_add(form: CardForm, *, customer, actor):
    """Add the card the dialog was filled with (payments.services.card_add); on a refusal
    the messages land on the form and None comes back. Shared by every Add credit card
    dialog (order summary, change card pages)."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    return form_service_call(
        form,
        card_add,
        customer=customer,
        card_number=data["card_number"],
        expiry_month=data["expiry_month"],
        expiry_year=data["expiry_year"],
        security_code=data["security_code"],
        name_on_card=data["name_on_card"],
        actor=actor,
    )
