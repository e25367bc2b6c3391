import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from continuity.models import ContinuityProgram
from core.demo import DEMO_PASSWORD
from customers.selectors import customer_search
from orders.models import Item

pytestmark = pytest.mark.django_db

DEMO_APPS = ["auth", "customers", "orders", "continuity", "payments"]


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


def test_a_second_run_changes_nothing(demo, capsys):
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
