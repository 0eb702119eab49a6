"""Operators trust and stop trusting CI identities (keyless releases) in the admin, each logged with their
name through the same services as `manage.py addidentity`; a repository that is not the project's is a
form error, and an identity is never edited or deleted."""

import pytest

from portal.registry.models import TrustedIdentity
from portal.transparency.services import parse_entry
from tests.portal import factories

pytestmark = pytest.mark.django_db

ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture
def project():
    return factories.make_project("city-portal", repo_url="https://github.com/city/portal")


def add(admin_client, project, **fields):
    return admin_client.post(
        "/admin/registry/trustedidentity/add/",
        {
            "project": project.pk,
            "issuer": ISSUER,
            "repository": "https://github.com/city/portal",
            "workflow": "https://github.com/city/portal/.github/workflows/release.yml@*",
            "ref": "refs/tags/v*",
            **fields,
        },
    )


def test_an_identity_added_in_the_admin_is_logged_with_the_operator(admin_client, project):
    assert add(admin_client, project).status_code == 302
    identity = TrustedIdentity.objects.get(project=project)
    assert identity.ref == "refs/tags/v*"
    entry = parse_entry(factories.sequenced_entries().get(kind="identity_added", object_id=identity.pk).entry)
    assert entry["by"] == {"kind": "operator", "name": "admin"}
    assert entry["repository"] == "https://github.com/city/portal"


def test_another_repository_is_a_form_error_and_nothing_is_written(admin_client, project):
    response = add(admin_client, project, repository="https://github.com/someone/else")
    assert response.status_code == 200
    assert "is not the repository of project &#x27;city-portal&#x27;" in response.content.decode()
    assert not TrustedIdentity.objects.exists()
    assert not factories.sequenced_entries().filter(kind="identity_added").exists()


def test_an_issuer_that_is_not_https_is_a_form_error(admin_client, project):
    response = add(admin_client, project, issuer="http://token.example")
    assert response.status_code == 200
    assert "must be the OIDC issuer" in response.content.decode()
    assert not TrustedIdentity.objects.exists()


def test_removing_an_identity_is_logged_and_it_cannot_be_edited_or_deleted(admin_client, project):
    add(admin_client, project)
    identity = TrustedIdentity.objects.get()
    admin_client.post(
        "/admin/registry/trustedidentity/", {"action": "remove", "_selected_action": [identity.pk]}
    )
    identity.refresh_from_db()
    assert identity.removed_at is not None
    assert factories.sequenced_entries().filter(kind="identity_removed", object_id=identity.pk).exists()
    assert admin_client.post(f"/admin/registry/trustedidentity/{identity.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/registry/trustedidentity/{identity.pk}/change/").content.decode()
    assert 'name="issuer"' not in page
