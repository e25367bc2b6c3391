from django import forms
from django.utils.translation import gettext_lazy as _

from core.limits import SEARCH_TERM_MAX_LENGTH


class CustomerSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        max_length=SEARCH_TERM_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "placeholder": _("Name, account number, phone or email"),
                "data-search-input": "",
            }
        ),
    )
