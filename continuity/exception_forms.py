"""Forms of the payment exceptions page."""

from django import forms
from django.utils.translation import gettext_lazy as _

from core.limits import REASON_MAX_LENGTH, REASON_REQUIRED_MESSAGE


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        error_messages={"required": REASON_REQUIRED_MESSAGE},
    )

    def error_text(self) -> str:
        """What was wrong, for the page's message (the form is one field in a row of
        the table, shown again empty)."""
        return " ".join(self.errors["reason"])


class ChangeCardForm(forms.Form):
    card = forms.TypedChoiceField(label=_("Card"), coerce=int)
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH, required=False)

    def __init__(self, *args, cards=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].choices = [(card.pk, str(card)) for card in cards]
