"""The roles (agent, supervisor, administrator) are Django groups. Checks go through
these functions so that the rule "a supervisor can do what an agent can, and more" lives
in one place."""

from functools import wraps

from django.core.exceptions import PermissionDenied

AGENT = "Agent"
SUPERVISOR = "Supervisor"
ADMINISTRATOR = "Administrator"

# Who may take orders, and who may run batches and work payment exceptions.
ORDER_TAKING_ROLES = frozenset({AGENT, SUPERVISOR, ADMINISTRATOR})
SUPERVISING_ROLES = frozenset({SUPERVISOR, ADMINISTRATOR})


def _groups(user) -> set[str]:
    if not hasattr(user, "_role_names"):
        user._role_names = set(user.groups.values_list("name", flat=True))
    return user._role_names


def has_role(user, roles: frozenset[str]) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or bool(_groups(user) & roles)


def can_take_orders(user) -> bool:
    return has_role(user, ORDER_TAKING_ROLES)


def can_supervise(user) -> bool:
    return has_role(user, SUPERVISING_ROLES)


def role_required(check):
    """View decorator: 403 for a signed-in user without the role (login is required by
    the middleware before this runs)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
