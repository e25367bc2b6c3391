import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from continuity.models import ContinuityProgram
from customers.selectors import customer_search
from devdata.demo import DEMO_PASSWORD
from orders.models import Item

pytestmark = pytest.mark.django_db

DEMO_APPS = ["auth", "customers", "orders", "continuity", "payments"]
DEMO_USERNAMES = ["agent", "supervisor", "admin"]
ROOT = Path(__file__).resolve().parent.parent


def snapshot():
    """Every row of every table the demo data writes, as plain values."""
    rows = {}
    for app_label in DEMO_APPS:
        for model in apps.get_app_config(app_label).get_models():
            rows[model._meta.label] = sorted(
                (tuple(sorted(row.items())) for row in model.objects.values()), key=repr
            )
            for field in model._meta.many_to_many:
                through = field.remote_field.through
                rows[through._meta.label] = sorted(
                    tuple(sorted(row.items())) for row in through.objects.values()
                )
    return rows


def test_a_second_run_changes_nothing(demo, settings, capsys):
    settings.DEBUG = True
    before = snapshot()

    call_command("load_demo_data")

    assert snapshot() == before
    assert "nothing changed" in capsys.readouterr().out


def test_the_demo_has_one_karen_berg_among_several_karens(demo):
    karens = customer_search(query="karen")
    assert len(karens) >= 3
    assert [c.full_name for c in karens].count("Karen Berg") == 1


def test_continuity_items_and_programs(demo):
    assert Item.objects.get(item_number="88000").continuity_program.code == "WELLNESS6"
    assert Item.objects.get(item_number="88001").continuity_program.bill_up_front is True
    assert set(
        Item.objects.filter(continuity_program=None).values_list("item_number", flat=True)
    ) >= {"0013", "0014", "0015"}
    assert ContinuityProgram.objects.count() == 3


@pytest.mark.parametrize(
    ("username", "group"),
    [("agent", "Agent"), ("supervisor", "Supervisor"), ("admin", "Administrator")],
)
def test_one_user_per_role_with_the_demo_password(demo, username, group):
    user = get_user_model().objects.get(username=username)
    assert list(user.groups.values_list("name", flat=True)) == [group]
    assert user.check_password(DEMO_PASSWORD)


def test_only_the_administrator_reaches_the_admin_site(demo):
    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    assert not users.get(username="agent").is_staff
    assert not users.get(username="supervisor").is_staff


def test_refused_with_debug_off_without_the_flag_and_nothing_is_written(demo, settings):
    settings.DEBUG = False
    # Without its users the loader would have something to write.
    get_user_model().objects.filter(username__in=DEMO_USERNAMES).delete()
    before = snapshot()

    with pytest.raises(CommandError) as refusal:
        call_command("load_demo_data")

    assert refusal.value.returncode == 2
    assert str(refusal.value) == (
        "DEBUG is off: the demo data (users with a published password) is not loaded in "
        "production; pass --allow-in-production to load it anyway."
    )
    assert snapshot() == before
    assert not get_user_model().objects.filter(username__in=DEMO_USERNAMES).exists()


def test_loaded_with_debug_off_when_allowed_in_production(demo, settings, capsys):
    settings.DEBUG = False
    get_user_model().objects.filter(username__in=DEMO_USERNAMES).delete()

    call_command("load_demo_data", "--allow-in-production")

    assert "Created users: agent, supervisor, admin." in capsys.readouterr().out
    assert get_user_model().objects.filter(username__in=DEMO_USERNAMES).count() == 3


@pytest.mark.parametrize(
    ("environment", "installed"),
    [
        ({"DEBUG": "true"}, True),
        ({"DEBUG": "false"}, False),
        ({"DEBUG": "false", "DEVDATA_ENABLED": "true"}, True),
        ({"DEBUG": "true", "DEVDATA_ENABLED": "false"}, False),
    ],
)
def test_the_devdata_app_is_installed_with_debug_or_when_asked(environment, installed):
    """Production settings (DEBUG off) have neither the demo data nor the generators."""
    inherited = {
        key: value for key, value in os.environ.items() if key not in ("DEBUG", "DEVDATA_ENABLED")
    }
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.apps import apps;"
            "print(apps.is_installed('devdata'))",
        ],
        cwd=ROOT,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.stdout.strip() == str(installed), finished.stderr
