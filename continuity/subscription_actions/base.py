"""The registry of subscription actions: what an agent (or a supervisor) does to one
subscription, declared once, read by the pages, the API and the admin.

To add an action:

1. Write its preview, `<verb>_preview(*, subscription_id, ...) -> Preview` (reads only),
   and its service, `subscription_<verb>(*, subscription_id, actor, reason_code, ...)`
   (one transaction, the subscription's row locked first), in its family's module of
   this package (a new family: a new module, imported in `__init__.py`).
2. If it takes values besides the reason: an `ActionForm` subclass with those fields in
   `continuity/forms.py`, and the same field names in
   `continuity.serializers.SubscriptionActionSerializer`.
3. Declare it under its service: `action_register(SubscriptionAction(name=..., label=...,
   preview=..., service=..., form=..., arguments=(Argument(...), ...), permission=...,
   offered=...))`.
4. A new kind of preview effect: its sentence in `continuity/presenters.py`. French for
   every new string in `locale/fr/LC_MESSAGES/django.po`, then `manage.py
   compile_translations`.
5. Tests next to the others in `tests/continuity/test_subscription_actions.py`.

Its page (`continuity:action`), its API operation (`POST
/api/subscriptions/<id>/<name>/`, listed in the OpenAPI enum) and its button on the
subscription page follow from the declaration.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.utils.functional import Promise

from continuity.models import Occurrence, Subscription
from core.actors import Actor
from core.money import ZERO


@dataclass(frozen=True)
class Effect:
    """One line of a preview: what happens to one shipment (or to the subscription)."""

    what: str
    occurrence: Occurrence | None = None
    day: datetime.date | None = None
    amount: Decimal | None = None
    # What the shipment was to be charged before the change, where the change reprices it.
    before: Decimal | None = None


@dataclass
class Preview:
    action: str
    subscription: Subscription
    effects: list[Effect] = field(default_factory=list)

    @property
    def refund_total(self) -> Decimal:
        return sum((effect.amount for effect in self.effects if effect.what == "refund"), ZERO)


@dataclass(frozen=True)
class Argument:
    """One value an action takes besides the reason: `field` in its form and in the API's
    request body, `keyword` of its preview and its service."""

    field: str
    keyword: str
    # The error when an API request leaves the field out; None: it may be left out (the
    # preview and the service then get None). The form's own field says it on the page.
    missing: str | Promise | None = None


def _never_offered(subscription: Subscription) -> bool:
    return False


@dataclass(frozen=True)
class SubscriptionAction:
    # The URL segment of its page and of its API operation, and the value kept in a
    # reason code's list of the actions it fits.
    name: str
    label: str | Promise
    service: Callable[..., Any]
    # The page's fields: the reason and the arguments.
    form: type[forms.Form]
    # Who may do it (core.roles): the pages, the API and the admin all ask.
    permission: Callable[[Any], bool]
    # What it would do, written nowhere. An action with a preview is shown first and done
    # on confirmation, with a reason code from the list kept in the admin, on its page and
    # through the action API. One without (releasing a hold) is done at once, with a
    # reason written out, from its own page and endpoint.
    preview: Callable[..., Preview] | None = None
    arguments: tuple[Argument, ...] = ()
    # Whether the subscription page offers it, given the subscription's state (the
    # preview and the service still refuse what the state forbids).
    offered: Callable[[Subscription], bool] = _never_offered
    danger: bool = False
    # A dialog its page opens next to the form to add what the form chooses from (a card,
    # an address): a template of continuity/action.html's dialogs.
    page_dialog: str = ""

    @property
    def previewed(self) -> bool:
        return self.preview is not None

    @property
    def reason_keyword(self) -> str:
        """The form field and service keyword of the reason: a code for an action that is
        previewed, a reason written out otherwise."""
        return "reason_code" if self.previewed else "reason"

    def allowed(self, user) -> bool:
        return self.permission(user)

    def require_allowed(self, user) -> None:
        if not self.permission(user):
            raise PermissionDenied

    def arguments_from(self, data: Mapping) -> dict:
        """The preview's and the service's keyword arguments from a form's cleaned data
        or an API request's validated body."""
        arguments = {}
        for argument in self.arguments:
            if argument.field not in data and argument.missing is not None:
                raise ValidationError({argument.field: str(argument.missing)})
            arguments[argument.keyword] = data.get(argument.field)
        return arguments

    def preview_of(self, *, subscription_id: int, arguments: dict) -> Preview:
        return self.preview(subscription_id=subscription_id, **arguments)

    def do(self, *, subscription_id: int, actor: Actor, reason: str, arguments: dict) -> Any:
        return self.service(
            subscription_id=subscription_id,
            actor=actor,
            **{self.reason_keyword: reason},
            **arguments,
        )


class UnknownAction(LookupError):
    pass


_registry: dict[str, SubscriptionAction] = {}


def action_register(action: SubscriptionAction) -> SubscriptionAction:
    if action.name in _registry:
        raise ImproperlyConfigured(f"The subscription action {action.name!r} is declared twice.")
    _registry[action.name] = action
    return action


def action_get(name: str) -> SubscriptionAction:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownAction(name) from None


def actions_all() -> tuple[SubscriptionAction, ...]:
    """Every action, in the order they were declared (the subscription page's order)."""
    return tuple(_registry.values())
