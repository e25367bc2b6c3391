"""`{% load lookup_attrs %}`: `<input ... {% lookup_attrs form.field %}>` writes the type-ahead
attributes of a field's LookupInput (core.forms) into an input a template writes out
itself (the order's Item number, whose other attributes depend on the page's state)."""

from django import template
from django.forms.utils import flatatt

register = template.Library()


@register.simple_tag
def lookup_attrs(bound_field) -> str:
    widget = bound_field.field.widget
    context = widget.get_context(bound_field.html_name, bound_field.value(), {})
    attrs = {
        name: value
        for name, value in context["widget"]["attrs"].items()
        if name.startswith("data-lookup") or name == "spellcheck"
    }
    return flatatt(attrs)  # escapes the values; returns safe text
