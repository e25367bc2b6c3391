"""core.forms.LookupInput: the attributes lookup.js reads, in the page's language, and
the lookup API's address (the literal path while the route is not there)."""

import re

from django import forms
from django.template import Context, Template
from django.utils import translation

from core.forms import LookupInput, lookup_url


def attributes(html: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', html))


class PickForm(forms.Form):
    item_number = forms.CharField(widget=LookupInput("items"))
    sales_order = forms.CharField(widget=LookupInput("sales-orders", follow={"item": "id_x"}))
    card = forms.TypedChoiceField(
        coerce=int,
        choices=[(7, "Visa •••• 1111"), (9, "Visa •••• 4242")],
        widget=LookupInput("cards", params={"customer": "004021"}, show_label=True),
    )


def test_the_lookup_address_is_the_api_route():
    assert lookup_url("items") == "/api/v1/lookups/items/"


def test_the_widget_writes_what_the_script_reads_in_the_pages_language():
    with translation.override("fr"):
        form = PickForm(initial={"card": 9})
        item = attributes(str(form["item_number"]))
        sales_order = attributes(str(form["sales_order"]))
        card = attributes(str(form["card"]))

    assert item["data-lookup"] == "/api/v1/lookups/items/"
    assert item["autocomplete"] == "off"
    assert item["data-lookup-none"] == "Aucun résultat."
    assert item["data-lookup-one"] == "{count} résultat, flèches pour sélectionner."
    assert item["data-lookup-many"] == "{count} résultats, flèches pour sélectionner."
    assert item["data-lookup-list-name"] == "{field}, choix"
    assert "data-lookup-params" not in item and "data-lookup-show" not in item
    assert sales_order["data-lookup-follow"] == "item=id_x"
    # A card is posted by its id and shown by its label.
    assert card["name"] == "card" and card["value"] == "9"
    assert card["data-lookup-params"] == "customer=004021"
    assert card["data-lookup-show"] == "label"
    assert card["data-lookup-text"] == "Visa •••• 4242"


def test_a_template_adds_the_attributes_to_its_own_input():
    form = PickForm()
    html = Template(
        '{% load lookup_attrs %}<input name="item_number"{% lookup_attrs form.item_number %}>'
    ).render(Context({"form": form}))
    written = attributes(html)
    assert written["data-lookup"] == "/api/v1/lookups/items/"
    assert written["data-lookup-one"] == "{count} option, arrow keys to choose."
    assert written["data-lookup-many"] == "{count} options, arrow keys to choose."
    assert "type" not in written and "id" not in written  # the template's own attributes
