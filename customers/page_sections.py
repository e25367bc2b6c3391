"""What the apps above customers show on the customer page.

The customer page (HTML and API) shows the customer's cards, sales orders and
subscriptions, which belong to payments, orders and continuity: apps that sit above
customers. Each of them declares its part once, as a CustomerPageSection registered from
its AppConfig.ready(), and the page, the API and the timeline read these declarations
instead of customers importing the apps above it (the same pattern as
payments.settlement).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.urls import URLPattern
    from rest_framework.serializers import Field

    from customers.models import Customer


class CustomerPageRegion(enum.StrEnum):
    """Where a section's card sits on the page."""

    # A narrow card in the top row, beside the contact details and the addresses.
    FACTS = "facts"
    # A full-width card above the timeline: what the customer has now.
    MAIN = "main"
    # A full-width card below the timeline: what the customer did before.
    HISTORY = "history"


# The ids of one kind of object on the timeline -> (id, what the object is called) pairs,
# read in one query ("SO-000123", "3 · SO-000123").
TimelineLabeler = Callable[[Collection[int]], Iterable[tuple[int, str]]]


@dataclass(frozen=True)
class CustomerPageSection:
    # The key of the section's data: in `customer.page_sections` and in the API response.
    name: str
    # Lowest first, on the page within a region and among the API's fields.
    order: int
    region: CustomerPageRegion
    # Reads the section's data for one customer, in a fixed number of queries.
    load: Callable[[Customer], Any]
    # Rendered with the page's context plus `data`, what `load` returned.
    template: str
    # Builds the API field that carries the data, given its `source`; None keeps the
    # section off the API.
    api_field: Callable[..., Field] | None = None
    # What the timeline calls the objects of this app, by audit object type
    # ("orders.salesorder"); an object type without a labeler shows its id.
    timeline_labels: Mapping[str, TimelineLabeler] = field(default_factory=dict)
    # A partial in the page head (a button such as "New sales order"), and the views it
    # posts to, mounted under /customers/<account_number>/ in the `customers` namespace.
    actions_template: str = ""
    urlpatterns: tuple[URLPattern, ...] = ()


_SECTIONS: dict[str, CustomerPageSection] = {}


def customer_page_section_register(section: CustomerPageSection) -> None:
    """Register (or replace, on a second ready()) the section called `section.name`."""
    _SECTIONS[section.name] = section


def customer_page_sections() -> list[CustomerPageSection]:
    """Every registered section, lowest `order` first."""
    return sorted(_SECTIONS.values(), key=lambda section: section.order)


def customer_timeline_labelers() -> dict[str, TimelineLabeler]:
    return {
        object_type: labeler
        for section in customer_page_sections()
        for object_type, labeler in section.timeline_labels.items()
    }


def customer_page_section_urlpatterns() -> list[URLPattern]:
    return [pattern for section in customer_page_sections() for pattern in section.urlpatterns]
