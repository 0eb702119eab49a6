"""Operators add keys, tokens, releases and deployments in the admin, through the same services as CI."""

import json

import pytest
from django.apps import apps

from portal.registry.models import ApiToken, Deployment, Release, SigningKey
from portal.transparency.services import parse_entry
from tests.portal import factories
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return factories.make_project("city-portal")


@pytest.fixture
def trusted(project):
    private_key, _ = factories.make_key(project)
    return private_key


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_pasted_key_is_trusted_and_written_to_the_log_with_the_operator(admin_client, project):
    pem = generate_private_key("ecdsa-p256").public_key.pem
    response = admin_client.post(
        "/admin/registry/signingkey/add/",
        {
            "project": project.pk,
            "label": "release key",
            "public_key_pem": pem,
            "valid_from_0": "2026-01-01",
            "valid_from_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    key = SigningKey.objects.get(project=project)
    assert key.algorithm == "ecdsa-p256"
    entry = parse_entry(factories.sequenced_entries().get(kind="key_added", object_id=key.pk).entry)
    assert entry["key_id"] == key.key_id
    assert entry["by"] == {"kind": "operator", "name": "admin"}


def test_a_pasted_key_that_is_not_a_public_key_is_a_clear_form_error(admin_client, project):
    response = admin_client.post(
        "/admin/registry/signingkey/add/",
        {
            "project": project.pk,
            "public_key_pem": "hello",
            "valid_from_0": "2026-01-01",
            "valid_from_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert "BEGIN PUBLIC KEY" in str(response.context["adminform"].form.errors["public_key_pem"])
    assert not SigningKey.objects.exists()
    assert not factories.sequenced_entries().filter(kind="key_added").exists()


def test_the_same_key_twice_is_a_form_error(admin_client, project):
    private_key, _ = factories.make_key(project)
    response = admin_client.post(
        "/admin/registry/signingkey/add/",
        {
            "project": project.pk,
            "public_key_pem": private_key.public_key.pem,
            "valid_from_0": "2026-01-01",
            "valid_from_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert "already trusted" in str(response.context["adminform"].form.errors["public_key_pem"])


def test_revoking_a_key_is_logged_and_keys_cannot_be_deleted(admin_client, project):
    _, key = factories.make_key(project)
    response = admin_client.post(
        "/admin/registry/signingkey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    assert "1 key revoked." in messages_of(response)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert factories.sequenced_entries().filter(kind="key_revoked", object_id=key.pk).exists()
    assert admin_client.post(f"/admin/registry/signingkey/{key.pk}/delete/").status_code == 403


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(admin_client, project):
    response = admin_client.post(
        "/admin/registry/apitoken/add/", {"project": project.pk, "name": "CI"}, follow=True
    )
    shown = [message for message in messages_of(response) if "The new token is" in message]
    assert len(shown) == 1
    raw = shown[0].split("The new token is ")[1].split(" ")[0]
    token = ApiToken.objects.get(project=project)
    assert token.token_hash == ApiToken.hash(raw)
    assert raw not in json.dumps(list(ApiToken.objects.values("name", "token_hash", "hint")))
    assert ApiToken.authenticate(raw) == token
    for url in ("/admin/registry/apitoken/", f"/admin/registry/apitoken/{token.pk}/change/"):
        page = admin_client.get(url).content.decode()
        assert raw not in page
        assert token.hint in page


def test_a_token_can_be_revoked(admin_client, project):
    token, raw = factories.make_token(project)
    admin_client.post("/admin/registry/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.authenticate(raw) is None


def test_a_release_registered_by_pasting_an_envelope_is_marked_entered_by_hand(
    admin_client, project, trusted
):
    envelope = factories.make_envelope(trusted, repo_url=project.repo_url)
    response = admin_client.post(
        "/admin/registry/release/add/",
        {"project": project.pk, "version": "3.0.0", "envelope": json.dumps(envelope), "ci_build_url": ""},
    )
    assert response.status_code == 302
    release = Release.objects.get(project=project, version="3.0.0")
    assert release.registered_by_user.get_username() == "admin"
    assert release.ci_build_url == "https://ci.example.org/runs/1"
    entry = parse_entry(factories.sequenced_entries().get(kind="release", object_id=release.pk).entry)
    assert entry["by"] == {"kind": "operator", "name": "admin"}
    listing = admin_client.get("/admin/registry/release/").content.decode()
    assert "entered by hand by an operator (admin)" in listing


def test_a_refused_release_is_a_form_error_with_the_services_sentence(admin_client, project, trusted):
    stranger = generate_private_key("ed25519")
    envelope = factories.make_envelope(stranger, repo_url=project.repo_url)
    response = admin_client.post(
        "/admin/registry/release/add/",
        {"project": project.pk, "version": "3.0.0", "envelope": json.dumps(envelope)},
    )
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors["envelope"])
    assert "does not verify under any trusted key of project" in errors
    assert not Release.objects.exists()


def test_an_envelope_that_is_not_json_is_a_form_error(admin_client, project, trusted):
    response = admin_client.post(
        "/admin/registry/release/add/", {"project": project.pk, "version": "3.0.0", "envelope": "{not json"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["envelope"]


def test_a_release_can_be_viewed_but_never_changed_or_deleted(admin_client, project, trusted):
    release = factories.make_release(project, trusted, "1.0.0")
    view = admin_client.get(f"/admin/registry/release/{release.pk}/change/")
    assert view.status_code == 200
    assert release.artifact_digest in view.content.decode()
    assert 'name="_save"' not in view.content.decode()
    changed = admin_client.post(f"/admin/registry/release/{release.pk}/change/", {"version": "6.6.6"})
    assert changed.status_code == 403
    assert (
        admin_client.post(f"/admin/registry/release/{release.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    release.refresh_from_db()
    assert release.version == "1.0.0"


def test_a_deployment_added_in_the_admin_is_logged_and_marked_entered_by_hand(admin_client, project, trusted):
    environment = factories.make_environment(project)
    release = factories.make_release(project, trusted, "1.0.0")
    response = admin_client.post(
        "/admin/registry/deployment/add/",
        {
            "environment": environment.pk,
            "release": release.pk,
            "pipeline_run_url": "https://ci.example.org/r/9",
            "deploy_anyway": "on",  # the repository was never asked about this release's commit
        },
    )
    assert response.status_code == 302
    deployment = Deployment.objects.get()
    assert deployment.reported_by_user.get_username() == "admin"
    assert factories.sequenced_entries().filter(kind="deployment", object_id=deployment.pk).exists()
    assert (
        "entered by hand by an operator (admin)"
        in admin_client.get("/admin/registry/deployment/").content.decode()
    )
    assert admin_client.post(f"/admin/registry/deployment/{deployment.pk}/delete/").status_code == 403


def test_a_deployment_of_another_projects_release_is_a_form_error(admin_client, project, trusted):
    environment = factories.make_environment(project)
    other = factories.make_project("other")
    other_key, _ = factories.make_key(other)
    release = factories.make_release(other, other_key, "1.0.0")
    response = admin_client.post(
        "/admin/registry/deployment/add/", {"environment": environment.pk, "release": release.pk}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["release"]
    assert errors == ["Choose a release of the environment's project, City Portal."]
    assert not Deployment.objects.exists()


def test_environment_check_interval_is_editable(admin_client, project):
    environment = factories.make_environment(project)
    response = admin_client.post(
        f"/admin/registry/environment/{environment.pk}/change/",
        {
            "project": project.pk,
            "name": "production",
            "live_url": environment.live_url,
            "check_interval": 300,
        },
    )
    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.check_interval == 300


@pytest.mark.parametrize(
    "model", ["project", "environment", "signingkey", "apitoken", "release", "deployment"]
)
def test_every_registry_list_add_and_detail_page_opens(admin_client, trusted, project, model):
    factories.make_token(project)
    factories.make_deployment(factories.make_environment(project), factories.make_release(project, trusted))
    assert admin_client.get(f"/admin/registry/{model}/").status_code == 200
    assert admin_client.get(f"/admin/registry/{model}/add/").status_code == 200
    record = apps.get_model("registry", model).objects.first()
    assert admin_client.get(f"/admin/registry/{model}/{record.pk}/change/").status_code == 200


def test_names_written_into_log_entries_cannot_be_changed_in_the_admin(admin_client, project):
    environment = factories.make_environment(project, "production")

    admin_client.post(
        f"/admin/registry/project/{project.pk}/change/",
        {
            "slug": "renamed",
            "name": "Renamed",
            "repo_url": project.repo_url,
            "protected_branch": "main",
            "require_served_files": "on",
            "observers_required": "0",
            "rebuilds_required": "0",
            "environments-TOTAL_FORMS": "1",
            "environments-INITIAL_FORMS": "1",
            "environments-0-id": str(environment.pk),
            "environments-0-project": str(project.pk),
            "environments-0-name": "renamed-env",
            "environments-0-live_url": environment.live_url,
            "environments-0-check_interval": "60",
        },
    )
    admin_client.post(
        f"/admin/registry/environment/{environment.pk}/change/",
        {"name": "other-name", "live_url": environment.live_url, "check_interval": "60"},
    )

    project.refresh_from_db()
    environment.refresh_from_db()
    assert project.name == "Renamed", "other fields stay editable"
    assert project.slug != "renamed"
    assert environment.name == "production"
