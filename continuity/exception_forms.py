"""Forms of the payment exceptions page."""

from django import forms
from django.utils.translation import gettext_lazy as _


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


class ChangeCardForm(forms.Form):
    card = forms.TypedChoiceField(label=_("Card"), coerce=int)
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)

    def __init__(self, *args, cards=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].choices = [(card.pk, str(card)) for card in cards]
