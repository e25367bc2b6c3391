"""Every page carries the Content-Security-Policy: our own scripts and styles only, no
inline ones; the API docs page too (its script is served from a URL)."""

import pytest

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/customers/004021/", "/api/docs/"])
def test_pages_send_the_strict_policy(path, client, agent):
    client.force_login(agent)

    response = client.get(path)

    assert response.status_code == 200
    # django-csp writes the directives in no fixed order.
    assert set(response["Content-Security-Policy"].split("; ")) == set(POLICY.split("; "))
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_the_api_docs_page_has_no_inline_script(client, agent):
    client.force_login(agent)

    html = client.get("/api/docs/").content.decode()

    assert "<script>" not in html.replace(" ", "")
    assert "?script" in html or "script=" in html
