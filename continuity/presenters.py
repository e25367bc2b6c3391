"""How a preview's effects are told to an agent, in the active language."""

from django.utils.translation import gettext as _

from continuity.subscription_actions.base import Effect
from core.formatting import day_text, money_text


def effect_text(effect: Effect, currency: str) -> str:
    occurrence = effect.occurrence
    amount = effect.amount if effect.amount is not None else getattr(occurrence, "amount", 0)
    values = {
        "sequence": occurrence.sequence if occurrence else "",
        "date": day_text(occurrence.ship_date if occurrence else None),
        "day": day_text(effect.day),
        "amount": money_text(amount, currency),
        "before": money_text(effect.before, currency) if effect.before is not None else "",
        "order": occurrence.child_order.number if occurrence and occurrence.child_order_id else "",
        "order_status": (
            occurrence.child_order.get_status_display()
            if occurrence and occurrence.child_order_id
            else ""
        ),
        **_parts(occurrence, currency),
    }
    texts = {
        "skip": _("Shipment %(sequence)s of %(date)s (%(amount)s) is not charged and not sent."),
        "refund": _(
            "%(amount)s paid for shipment %(sequence)s is refunded to the card: %(parts)s."
        ),
        "move": _(
            "Shipment %(sequence)s moves from %(date)s to %(day)s; it is charged and "
            "sent by its new date."
        ),
        "wait": _("Shipment %(sequence)s of %(date)s is not charged or sent while paused."),
        "held": _(
            "Shipment %(sequence)s of %(date)s is paid: it waits until the subscription resumes."
        ),
        "ship": _(
            "Shipment %(sequence)s is paid: its child order is created at the next "
            "run, for %(day)s."
        ),
        "charge": _(
            "Shipment %(sequence)s of %(date)s (%(amount)s) is charged and sent on its date."
        ),
        "charge_now": _("%(amount)s for shipment %(sequence)s is charged now to this card."),
        "charge_next_run": _(
            "Shipment %(sequence)s (%(amount)s) is charged again at the next payment run."
        ),
        "ship_to": _("Shipment %(sequence)s of %(date)s ships to the new address."),
        "ship_to_repriced": _(
            "Shipment %(sequence)s of %(date)s ships to the new address and is charged "
            "%(amount)s instead of %(before)s: its tax is the new address's."
        ),
        "cancel": _("Shipment %(sequence)s of %(date)s is cancelled."),
        "keep": _(
            "Shipment %(sequence)s of %(date)s has its child order %(order)s, released to the "
            "warehouse (%(order_status)s): it is not changed."
        ),
        "cancel_child_order": _(
            "Child order %(order)s of shipment %(sequence)s is cancelled: it is not released "
            "to the warehouse yet."
        ),
    }
    return texts[effect.what] % values


def _parts(occurrence, currency: str) -> dict:
    """The parts of a shipment's whole charge, as a refund of it gives them back: goods,
    delivery and tax (where prices include tax, the tax is inside and said so)."""
    if occurrence is None:
        return {"parts": ""}
    values = {
        "subtotal": money_text(occurrence.subtotal, currency),
        "delivery": money_text(occurrence.delivery_amount, currency),
        "tax": money_text(occurrence.tax_amount, currency),
    }
    if occurrence.prices_include_tax:
        text = _("goods %(subtotal)s, delivery %(delivery)s, of which VAT %(tax)s")
    else:
        text = _("goods %(subtotal)s, delivery %(delivery)s, tax %(tax)s")
    return {"parts": text % values}
