"""Type-ahead lookups of order entry's items (core.lookups): the order lines' item number
and the batch forms' continuity item. The item list is the catalogue (hundreds of rows):
a prefix of the unique item number and a substring of the name, in item-number order."""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from core.lookups import LookupOption
from orders.models import Item


def _matching_items(q: str) -> QuerySet[Item]:
    items = Item.objects.filter(active=True).select_related("continuity_program")
    text = q.strip()
    if text:
        items = items.filter(Q(item_number__istartswith=text) | Q(name__icontains=text))
    return items.order_by("item_number")


def _item_label(item: Item) -> str:
    return f"{item.item_number} · {item.name}"


def continuity_item_lookup(*, q: str, limit: int) -> list[LookupOption]:
    """Active continuity items (an item with a program), described by their program."""
    items = _matching_items(q).filter(continuity_program__isnull=False)[:limit]
    return [
        LookupOption(
            value=item.item_number,
            label=_item_label(item),
            description=item.continuity_program.name,
        )
        for item in items
    ]


def item_lookup(*, q: str, limit: int) -> list[LookupOption]:
    """Active items; a continuity item says so."""
    return [
        LookupOption(
            value=item.item_number,
            label=_item_label(item),
            description=_("Continuity item") if item.is_continuity else "",
        )
        for item in _matching_items(q)[:limit]
    ]
