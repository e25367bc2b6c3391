"""`{% load formatting %}`: `{{ ship_date|day }}` and `{{ amount|amount }}` for values an
email's stored context holds as ISO strings and plain decimals (core.formatting)."""

from django import template

from core.formatting import amount_text, day_text

register = template.Library()

register.filter("day", day_text)
register.filter("amount", amount_text)
