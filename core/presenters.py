"""The audit trail told to a person: one line per entry, in the active language."""

import re

from django.apps import apps
from django.utils.translation import gettext as _

from core.formatting import day_text

# What each kind of object is called on the timeline.
OBJECT_NAMES = {
    "orders.salesorder": lambda: _("Sales order"),
    "continuity.subscription": lambda: _("Subscription"),
    "continuity.occurrence": lambda: _("Shipment"),
    "payments.payment": lambda: _("Payment"),
    "payments.card": lambda: _("Card"),
    "customers.customer": lambda: _("Customer"),
    "customers.address": lambda: _("Address"),
}

ACTIONS = {
    "order_created": lambda: _("created"),
    "order_line_added": lambda: _("line added"),
    "order_line_removed": lambda: _("line removed"),
    # Order entry's Complete (recorded as "order_completed" before fulfilment had an
    # order status Completed).
    "order_completed": lambda: _("completed"),
    "order_entry_completed": lambda: _("completed"),
    "shipment_recorded": lambda: _("shipment recorded"),
    "order_payment_set": lambda: _("payment line entered"),
    "card_added": lambda: _("card added"),
    "payment_created": lambda: _("sent to the payment service"),
    "subscription_created": lambda: _("started"),
    "subscription_planned": lambda: _("shipments planned ahead"),
    "occurrence_created": lambda: _("planned"),
    "subscription_card_changed": lambda: _("card changed"),
    "subscription_ship_to_changed": lambda: _("ship-to address changed"),
    "occurrence_rescheduled": lambda: _("date changed"),
    "occurrence_updated": lambda: _("charge attempt recorded"),
    "occurrence_program_change": lambda: _("changed by a program change"),
    "payment_unknown_settled": lambda: _("unknown outcome settled"),
    "address_added": lambda: _("added"),
}


def _status_label(object_type: str, value: str) -> str:
    try:
        model = apps.get_model(object_type)
        return str(dict(model._meta.get_field("status").choices).get(value, value))
    except (LookupError, ValueError):
        return value


# Audit details keep dates as ISO strings (data); a person reads them in their language.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _detail_text(value) -> str:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return day_text(value)
    return str(value)


def audit_entry_text(entry, labels: dict | None = None) -> str:
    """One line for `entry`; `labels` maps (object type, id) to what the object is called
    ("SO-000123", "3 · SO-000123"), else its id is shown."""
    name = OBJECT_NAMES.get(entry.object_type, lambda: entry.object_type)()
    label = (labels or {}).get((entry.object_type, entry.object_id), entry.object_id)
    subject = f"{name} {label}".strip()
    if entry.action == "status_change":
        return _("%(subject)s: %(before)s → %(after)s") % {
            "subject": subject,
            "before": _status_label(entry.object_type, entry.from_status),
            "after": _status_label(entry.object_type, entry.to_status),
        }
    what = ACTIONS.get(entry.action, lambda: entry.action.replace("_", " "))()
    text = f"{subject}: {what}"
    before, after = entry.details.get("before"), entry.details.get("after")
    if before is not None and after is not None:
        text += f" ({_detail_text(before)} → {_detail_text(after)})"
    elif entry.details.get("card"):
        text += f" ({entry.details['card']})"
    return text
