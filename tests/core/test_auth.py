"""The signed-in user is read with its roles in one query (core.auth), and the role checks
(core.roles) then cost no query: still read anew on every request, so a role taken away
or a user made inactive applies from the next request."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.auth import ModelBackendWithRoles
from core.roles import AGENT, SUPERVISOR, can_supervise, can_take_orders

pytestmark = pytest.mark.django_db

BACKEND = "core.auth.ModelBackendWithRoles"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def search(client, query="ka"):
    """A search of two letters: refused with its message after the role check, so the
    request reads nothing but the session and the user."""
    return client.get("/", {"q": query}, HTTP_X_REQUESTED_WITH="fetch")


def test_a_signed_in_request_reads_the_session_and_the_user_with_its_roles_only(agent):
    client = signed_in(agent)
    search(client)  # the first request may load what a process loads once

    with CaptureQueriesContext(connection) as queries:
        response = search(client)

    assert response.status_code == 400
    assert b"at least 3 characters" in response.content
    assert len(queries) == 2
    assert 'FROM "django_session"' in queries[0]["sql"]
    assert queries[1]["sql"].split()[:2] == ["SELECT", "u.*,"]
    assert "AS role_names_read" in queries[1]["sql"]


def test_the_user_s_roles_come_with_the_user_and_every_check_uses_them(agent):
    user = ModelBackendWithRoles().get_user(agent.pk)

    with CaptureQueriesContext(connection) as queries:
        assert can_take_orders(user) is True
        assert can_supervise(user) is False

    assert user == agent
    assert user.role_names_read == [AGENT]
    assert len(queries) == 0


def test_a_role_taken_away_applies_from_the_next_request(agent):
    client = signed_in(agent)
    assert search(client).status_code == 400

    agent.groups.clear()

    assert search(client).status_code == 403


def test_a_role_given_applies_from_the_next_request(demo):
    clerk = get_user_model().objects.create_user("clerk", password="not-used-here-0123")
    client = signed_in(clerk)
    assert search(client).status_code == 403

    clerk.groups.add(Group.objects.get(name=SUPERVISOR))

    assert search(client).status_code == 400
    assert ModelBackendWithRoles().get_user(clerk.pk).role_names_read == [SUPERVISOR]


def test_an_inactive_user_is_signed_out_and_an_unknown_id_is_nobody(agent):
    client = signed_in(agent)
    get_user_model().objects.filter(pk=agent.pk).update(is_active=False)

    response = search(client)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert ModelBackendWithRoles().get_user(agent.pk) is None
    assert ModelBackendWithRoles().get_user(10**9) is None


def test_a_superuser_without_a_group_keeps_every_role(demo):
    root = get_user_model().objects.create_superuser("root", password="not-used-here-0123")

    user = ModelBackendWithRoles().get_user(root.pk)

    assert user.role_names_read == []
    assert can_take_orders(user) is True
    assert can_supervise(user) is True
