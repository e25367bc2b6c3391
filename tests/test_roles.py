"""The role groups are product data: `ensure_roles` makes them on a database without the
demo data (production), and running it again changes nothing."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from core.roles import ADMINISTRATOR, AGENT, ROLE_PERMISSIONS, SUPERVISOR, WAREHOUSE

pytestmark = pytest.mark.django_db


def _codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_ensure_roles_makes_the_four_groups_with_their_permissions():
    # The test session loads the demo data (and its groups) once: start as production does.
    Group.objects.all().delete()
    out = StringIO()

    call_command("ensure_roles", stdout=out)

    assert set(Group.objects.values_list("name", flat=True)) == {
        AGENT,
        SUPERVISOR,
        ADMINISTRATOR,
        WAREHOUSE,
    }
    assert _codenames(AGENT) == set(ROLE_PERMISSIONS[AGENT])
    assert _codenames(SUPERVISOR) == set(ROLE_PERMISSIONS[AGENT]) | set(
        ROLE_PERMISSIONS[SUPERVISOR]
    )
    assert Group.objects.get(name=ADMINISTRATOR).permissions.count() == Permission.objects.count()
    # The warehouse's system: what its API reads and writes, none of the agent's.
    assert _codenames(WAREHOUSE) == set(ROLE_PERMISSIONS[WAREHOUSE])
    assert not _codenames(WAREHOUSE) & {"customers.view_customer", "payments.view_card"}
    assert out.getvalue().startswith(
        "Roles ready: Agent (18 permissions), Supervisor (24 permissions), Administrator ("
    )
    assert out.getvalue().endswith("Warehouse (6 permissions)\n")


def test_ensure_roles_again_restores_what_was_taken_and_adds_nothing_else():
    call_command("ensure_roles", stdout=StringIO())
    agent = Group.objects.get(name=AGENT)
    agent.permissions.remove(Permission.objects.get(codename="add_salesorder"))
    groups_before = list(Group.objects.order_by("pk").values_list("pk", "name"))

    call_command("ensure_roles", stdout=StringIO())

    assert list(Group.objects.order_by("pk").values_list("pk", "name")) == groups_before
    assert _codenames(AGENT) == set(ROLE_PERMISSIONS[AGENT])
