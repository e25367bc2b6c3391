"""Release a payment hold: a supervisor's decision, never an agent's (the service and
its checks are in continuity.dunning). Done at once with a reason written out, from the
payment exceptions page, the admin and its own API endpoint; the subscription page does
not offer it."""

from django.utils.translation import gettext_lazy

from continuity.dunning import subscription_release_hold
from continuity.forms import ReleaseHoldForm
from continuity.subscription_actions.base import SubscriptionAction, action_register
from core.roles import can_supervise

RELEASE_HOLD = action_register(
    SubscriptionAction(
        name="release_hold",
        label=gettext_lazy("Release the payment hold"),
        service=subscription_release_hold,
        form=ReleaseHoldForm,
        permission=can_supervise,
    )
)
