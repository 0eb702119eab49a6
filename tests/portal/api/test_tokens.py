"""Registration needs a valid token of the project it registers for; nothing else gets in."""

import pytest
from django.utils import timezone

from portal.registry.models import ApiToken
from tests.portal import factories
from tests.portal.api.support import error_of, writes_nothing

ENDPOINTS = ["/api/v1/releases/", "/api/v1/deployments/"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_request_without_a_token_is_a_401_asking_for_a_bearer_token(ci, path):
    with writes_nothing():
        response = ci.post(path, {}, token="")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    error = error_of(response)
    assert error["code"] == "not_authenticated"
    assert "Authorization: Bearer <token>" in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_token_is_a_401(ci, path):
    with writes_nothing():
        response = ci.post(path, {}, token="vtr_not-a-token")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "authentication_failed"


def test_revoked_token_is_a_401(ci):
    ApiToken.objects.filter(project=ci.project).update(revoked_at=timezone.now())

    with writes_nothing():
        response = ci.register()

    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_other_authorization_schemes_are_not_accepted(ci):
    with writes_nothing():
        response = ci.client.post(
            "/api/v1/releases/", {}, content_type="application/json", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"
        )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_session_cookie_of_a_superuser_is_not_a_credential(ci, admin_client):
    """Cookies are not accepted at all, which is why these endpoints need no CSRF token."""
    with writes_nothing():
        body = {"envelope": ci.envelope(), "version": "1.0.0"}
        response = admin_client.post("/api/v1/releases/", body, content_type="application/json")

    assert response.status_code == 401


def test_token_of_another_project_cannot_register_a_release_there(ci):
    other = factories.make_project("other")
    _, other_token = factories.make_token(other)

    with writes_nothing():
        response = ci.register(project="city-portal", token=other_token)

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert error["message"] == "This token is not allowed to register for project 'city-portal'."
    assert list(error["fields"]) == ["project"]


def test_token_of_another_project_cannot_record_a_deployment_there(ci):
    factories.make_release(ci.project, ci.private_key, "1.0.0")
    other = factories.make_project("other")
    _, other_token = factories.make_token(other)

    with writes_nothing():
        response = ci.post(
            "/api/v1/deployments/",
            {"project": "city-portal", "environment": "production", "release": "1.0.0"},
            token=other_token,
        )

    assert response.status_code == 403


def test_without_a_project_the_tokens_own_project_is_used(ci):
    """A token of 'other' posting city-portal's envelope without naming a project registers into 'other',
    where city-portal's key is not trusted."""
    other = factories.make_project("other")
    _, other_token = factories.make_token(other)

    with writes_nothing():
        response = ci.register(token=other_token)

    assert response.status_code == 400
    assert "project 'other'" in error_of(response)["message"]


def test_a_valid_token_records_when_it_was_last_used(ci):
    assert ApiToken.objects.get(project=ci.project).last_used_at is None

    ci.register()

    assert ApiToken.objects.get(project=ci.project).last_used_at is not None
