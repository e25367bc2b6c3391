from django import forms
from django.utils.translation import gettext_lazy as _

from continuity.models import CHANGEABLE, Subscription
from continuity.reason_codes import reason_codes_for
from continuity.selectors import subscription_shipments_for_action
from core.formatting import day_text, money_text
from core.forms import BusinessDateField, LookupInput
from core.limits import REASON_MAX_LENGTH


class ActionForm(forms.Form):
    """The reason every agent's action asks for (a code from the list kept in the admin);
    each action adds its own fields (continuity.subscription_actions)."""

    # A code typed or picked from the type-ahead list; still checked against the choices.
    reason_code = forms.ChoiceField(label=_("Reason"))

    def __init__(self, *args, subscription: Subscription, action: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.subscription = subscription
        self.fields["reason_code"].widget = LookupInput("reason-codes", params={"action": action})
        self.fields["reason_code"].choices = [("", "—")] + [
            (code.code, code.label) for code in reason_codes_for(action)
        ]


def _shipment_choices(
    subscription: Subscription, statuses, *, with_unreleased_child_orders: bool = False
) -> list[tuple[int, str]]:
    """The shipments an action may be about (continuity.selectors), as choices."""
    occurrences = subscription_shipments_for_action(
        subscription, statuses, with_unreleased_child_orders=with_unreleased_child_orders
    )
    return [
        (
            occurrence.pk,
            f"{occurrence.sequence} · {day_text(occurrence.ship_date)} · "
            f"{money_text(occurrence.amount, occurrence.currency)} · "
            f"{occurrence.get_status_display()}",
        )
        for occurrence in occurrences
    ]


class SkipForm(ActionForm):
    occurrence = forms.TypedChoiceField(label=_("Shipment"), coerce=int)
    # A skip cancels a child order not released yet; a new date does not move one.
    offers_unreleased_child_orders = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["occurrence"].choices = _shipment_choices(
            self.subscription,
            CHANGEABLE,
            with_unreleased_child_orders=self.offers_unreleased_child_orders,
        )


class RescheduleForm(SkipForm):
    new_date = BusinessDateField(label=_("New ship date"))
    offers_unreleased_child_orders = False


class PauseForm(ActionForm):
    until = BusinessDateField(
        label=_("Paused until"), required=False, help_text=_("Empty: until resumed.")
    )


class ChangeCardForm(ActionForm):
    card = forms.TypedChoiceField(label=_("Card"), coerce=int)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Picked by brand and last four (expired cards listed, not pickable); the card's id
        # is posted from a hidden field and checked against these choices as before.
        self.fields["card"].widget = LookupInput(
            "cards",
            params={"customer": self.subscription.customer.account_number},
            show_label=True,
        )
        self.fields["card"].choices = [
            (card.pk, str(card))
            for card in self.subscription.customer.cards.filter(active=True).order_by("-created_at")
        ]


class ChangeShipToForm(ActionForm):
    address = forms.TypedChoiceField(label=_("Ship-to address"), coerce=int)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].choices = [
            (address.pk, address.one_line)
            for address in self.subscription.customer.addresses.filter(kind="shipping")
        ]


class NewAddressForm(forms.Form):
    street = forms.CharField(label=_("Street"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=100)
    state = forms.CharField(label=_("State or province"), max_length=100, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20)
    country = forms.CharField(label=_("Country"), max_length=2, initial="US")


class ReleaseHoldForm(forms.Form):
    """A supervisor releasing a payment hold writes the reason out."""

    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH)
