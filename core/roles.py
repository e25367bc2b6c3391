"""The roles (agent, supervisor, administrator, and the warehouse's API user) are Django
groups. Checks go through these functions so that the rule "a supervisor can do what an
agent can, and more" lives in one place."""

from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

AGENT = "Agent"
SUPERVISOR = "Supervisor"
ADMINISTRATOR = "Administrator"
# The warehouse's system: the API only (its pick list and its shipment confirmations). It
# is in neither set below, so no page lets it in; supervisors may do what it does.
WAREHOUSE = "Warehouse"

# Who may take orders, and who may run batches and work payment exceptions.
ORDER_TAKING_ROLES = frozenset({AGENT, SUPERVISOR, ADMINISTRATOR})
SUPERVISING_ROLES = frozenset({SUPERVISOR, ADMINISTRATOR})
# Who may read the pick list and confirm shipments (the warehouse API).
WAREHOUSE_ROLES = frozenset({WAREHOUSE, SUPERVISOR, ADMINISTRATOR})


def remember_role_names(user, names) -> None:
    """Keep the names of the user's groups, read with the user (core.auth), on the
    instance: the checks of this request use them instead of a query of their own."""
    user._role_names = set(names)


def _groups(user) -> set[str]:
    if not hasattr(user, "_role_names"):
        remember_role_names(user, user.groups.values_list("name", flat=True))
    return user._role_names


def has_role(user, roles: frozenset[str]) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or bool(_groups(user) & roles)


def can_take_orders(user) -> bool:
    return has_role(user, ORDER_TAKING_ROLES)


def can_supervise(user) -> bool:
    return has_role(user, SUPERVISING_ROLES)


def can_work_warehouse(user) -> bool:
    return has_role(user, WAREHOUSE_ROLES)


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


# Model permissions per role (for the Django admin; the pages and the API check the role
# itself). A supervisor has the agent's and these; the Administrator group has every one.
ROLE_PERMISSIONS = {
    AGENT: [
        "customers.view_customer",
        "customers.change_customer",
        "customers.add_address",
        "customers.view_address",
        "orders.view_item",
        "orders.add_salesorder",
        "orders.change_salesorder",
        "orders.view_salesorder",
        "orders.add_salesorderline",
        "orders.view_salesorderline",
        "payments.add_card",
        "payments.view_card",
        "payments.view_paymentmethod",
        "payments.view_payment",
        "continuity.view_continuityprogram",
        "continuity.view_subscription",
        "continuity.change_subscription",
        "continuity.view_occurrence",
    ],
    SUPERVISOR: [
        "batch.add_batchrun",
        "batch.view_batchrun",
        "payments.change_payment",
        # Webhook deliveries: see them with their attempts, send one again (core.admin);
        # the endpoints themselves are the Administrators'.
        "core.view_webhookdelivery",
        "core.change_webhookdelivery",
        "core.view_webhookattempt",
    ],
    # Not the agent's: what the warehouse API reads and writes, nothing more.
    WAREHOUSE: [
        "orders.view_salesorder",
        "orders.view_salesorderline",
        "orders.view_carrier",
        "orders.view_warehouseshipment",
        "orders.add_warehouseshipment",
        "orders.add_warehouseshipmentline",
    ],
}


def _permissions(names: list[str]) -> list[Permission]:
    permissions = []
    for name in names:
        app_label, codename = name.split(".")
        permissions.append(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return permissions


def roles_ensure() -> dict[str, Group]:
    """Create the four role groups with their permissions, or add what they miss (a
    permission taken away by hand stays away only until the next call: the roles are
    defined here). Run by `manage.py ensure_roles` and by the demo data."""
    agent_permissions = _permissions(ROLE_PERMISSIONS[AGENT])
    wanted = {
        AGENT: agent_permissions,
        SUPERVISOR: agent_permissions + _permissions(ROLE_PERMISSIONS[SUPERVISOR]),
        ADMINISTRATOR: list(Permission.objects.all()),
        WAREHOUSE: _permissions(ROLE_PERMISSIONS[WAREHOUSE]),
    }
    groups = {}
    for name, permissions in wanted.items():
        group, _created = Group.objects.get_or_create(name=name)
        missing = set(permissions) - set(group.permissions.all())
        if missing:
            group.permissions.add(*missing)
        groups[name] = group
    return groups
