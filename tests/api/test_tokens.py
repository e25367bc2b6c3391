"""API tokens: issued by `manage.py issue_api_token`, in the admin (DRF's Token admin),
and by POST /api/v1/auth/token/ for a user name and password."""

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from core.models import AuditEntry

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def issue(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_the_command_prints_the_users_token_and_the_same_one_again(agent):
    key, _ = issue("agent")
    again, _ = issue("agent")

    assert key == again == Token.objects.get(user=agent).key
    assert len(key) == 40
    entry = AuditEntry.objects.get(action="api_token_issued")
    assert (entry.object_type, entry.object_id, entry.actor_label) == (
        "auth.user",
        str(agent.pk),
        "command",
    )
    assert key not in str(entry.details)


def test_the_command_resets_a_token_and_the_old_one_stops_working(agent, client):
    old, _ = issue("agent")

    new, _ = issue("agent", "--reset")

    assert new != old
    refused = client.get("/api/v1/customers/004021/", HTTP_AUTHORIZATION=f"Token {old}")
    assert_error(refused, 401, "authentication_failed")
    accepted = client.get("/api/v1/customers/004021/", HTTP_AUTHORIZATION=f"Token {new}")
    assert accepted.status_code == 200


def test_the_command_refuses_an_unknown_user_with_exit_2_and_one_line(demo):
    with pytest.raises(SystemExit) as exit_info:
        issue("nobody")

    assert exit_info.value.code == 2
    assert not Token.objects.exists()


def test_the_command_refusal_is_one_line_on_stderr(demo, capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "issue_api_token", "nobody"]).execute()

    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "No user named 'nobody'.\n"


def test_the_admin_issues_tokens(demo, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="admin"))

    assert client.get("/admin/authtoken/tokenproxy/").status_code == 200
    assert client.get("/admin/authtoken/tokenproxy/add/").status_code == 200


def test_the_token_endpoint_gives_the_token_for_a_good_password(agent, anonymous_api):
    response = anonymous_api.post(
        "/api/v1/auth/token/", {"username": "agent", "password": "continuity-demo"}
    )

    assert response.status_code == 200
    key = response.json()["token"]
    assert key == Token.objects.get(user=agent).key
    assert (
        anonymous_api.get(
            "/api/v1/customers/004021/", HTTP_AUTHORIZATION=f"Token {key}"
        ).status_code
        == 200
    )


def test_the_token_endpoint_refuses_a_bad_password_and_creates_nothing(demo, anonymous_api):
    response = anonymous_api.post("/api/v1/auth/token/", {"username": "agent", "password": "guess"})

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {
        "non_field_errors": ["Unable to sign in with this user name and password."]
    }
    assert not Token.objects.exists()


def test_the_token_endpoint_ignores_a_session_and_needs_no_csrf_token(agent):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(
        "/api/v1/auth/token/", {"username": "agent", "password": "continuity-demo"}
    )

    assert response.status_code == 200
