"""Anyone can read what Vitrina knows, without a token: projects, environments, releases."""

import datetime
import json

import pytest

from portal.monitoring.models import Status
from tests.portal import factories
from tests.portal.api.support import error_of

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def city():
    """A project with a deployed, verified production and a staging never checked nor deployed."""
    project = factories.make_project("city-portal", name="City portal", description="Public services.")
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    private_key, signing_key = factories.make_key(project)
    old = factories.make_release(project, private_key, "1.0.0")
    new = factories.make_release(project, private_key, "1.1.0")
    factories.make_deployment(production, old, deployed_at=T0)
    factories.make_deployment(production, new, deployed_at=T0 + datetime.timedelta(hours=1))
    Status.objects.create(
        environment=production,
        result="verified",
        message="Runs release 1.1.0, as deployed.",
        checked_at=T0 + datetime.timedelta(hours=2),
        live_digest=new.artifact_digest,
        expected_digest=new.artifact_digest,
    )
    return project, private_key, signing_key, old, new


def test_project_list_shows_each_project_with_a_summary_of_its_environments(client, city):
    factories.make_project("archive", name="Archive")

    response = client.get("/api/v1/projects/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [p["slug"] for p in body["results"]] == ["archive", "city-portal"]
    city_portal = body["results"][1]
    assert city_portal["name"] == "City portal"
    assert city_portal["url"] == "http://testserver/p/city-portal/"
    assert city_portal["environments"] == [
        {"name": "production", "light": "green", "result": "verified", "version": "1.1.0"},
        {"name": "staging", "light": "none", "result": "unchecked", "version": None},
    ]


def test_project_list_is_paginated_by_limit_and_offset(client):
    for n in range(3):
        factories.make_project(f"p{n}", name=f"Project {n}")

    body = client.get("/api/v1/projects/?limit=2&offset=1").json()

    assert body["count"] == 3
    assert [p["slug"] for p in body["results"]] == ["p1", "p2"]
    assert body["previous"] is not None and body["next"] is None


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=two", "limit"),
        ("offset=-1", "offset"),
        ("offset=null", "offset"),
        ("offset=1&offset=2", "offset"),
    ],
)
def test_paging_parameters_out_of_range_are_refused_not_replaced_by_defaults(client, query, field):
    response = client.get(f"/api/v1/projects/?{query}")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_project_detail_shows_what_runs_in_each_environment_and_its_status(client, city):
    project, _, _, _, new = city

    response = client.get("/api/v1/projects/city-portal/")

    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "city-portal"
    assert body["description"] == "Public services."
    assert body["repo_url"] == project.repo_url
    assert body["protected_branch"] == "main"
    production, staging = body["environments"]
    assert production["name"] == "production"
    assert production["url"] == "http://testserver/p/city-portal/production/"
    deployment = new.deployments.get()
    assert production["current_deployment"] == {
        "id": deployment.pk,
        "bundle_url": f"/api/v1/deployments/{deployment.pk}/bundle",
        "release_id": new.pk,
        "version": "1.1.0",
        "artifact_digest": new.artifact_digest,
        "deployed_at": "2026-03-01T13:00:00Z",
    }
    assert production["status"] == {
        "light": "green",
        "result": "verified",
        "reason": None,
        "message": "Runs release 1.1.0, as deployed.",
        "checked_at": "2026-03-01T14:00:00Z",
        "live_digest": new.artifact_digest,
        "expected_digest": new.artifact_digest,
        "layers": {},
    }
    assert staging["current_deployment"] is None
    assert staging["status"]["light"] == "none"
    assert staging["status"]["result"] == "unchecked"


def test_current_deployment_is_the_latest_by_deployment_time_not_by_registration(client, city):
    project, _, _, old, _ = city
    production = project.environments.get(name="production")
    factories.make_deployment(production, old, deployed_at=T0 + datetime.timedelta(minutes=30))

    body = client.get("/api/v1/projects/city-portal/").json()

    assert body["environments"][0]["current_deployment"]["version"] == "1.1.0"


def test_unknown_project_is_a_404_naming_it(client):
    response = client.get("/api/v1/projects/atlantis/")

    assert response.status_code == 404
    assert error_of(response)["message"] == "There is no project 'atlantis'."


def test_release_list_is_newest_first_with_log_indexes(client, city):
    _, _, _, old, new = city
    entries = factories.sequenced_entries()  # a second after registration: the list names their indexes

    response = client.get("/api/v1/projects/city-portal/releases/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [r["version"] for r in body["results"]] == ["1.1.0", "1.0.0"]
    first = body["results"][0]
    assert first["id"] == new.pk
    assert first["artifact_digest"] == new.artifact_digest
    assert first["source_commit"] == new.source_commit
    assert first["url"] == "http://testserver/p/city-portal/releases/1.1.0/"
    assert first["log_index"] == entries.get(kind="release", object_id=new.pk).index
    assert body["results"][1]["log_index"] == entries.get(kind="release", object_id=old.pk).index


def test_release_list_of_an_unknown_project_is_a_404(client):
    response = client.get("/api/v1/projects/atlantis/releases/")

    assert response.status_code == 404
    assert "atlantis" in error_of(response)["message"]


def test_release_detail_shows_its_signer_log_index_bundle_and_envelope(client, city):
    _, _, signing_key, _, new = city

    response = client.get(f"/api/v1/releases/{new.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["project"] == "city-portal"
    assert body["version"] == "1.1.0"
    assert body["artifact_digest"] == new.artifact_digest
    assert body["source_commit"] == new.source_commit
    assert body["repo_url"] == new.repo_url
    assert body["ci_build_url"] == new.ci_build_url
    assert body["signer_key_id"] == signing_key.key_id
    assert body["signer_algorithm"] == "ed25519"
    assert body["entered_by_hand"] is False
    assert body["log_index"] == factories.sequenced_entries().get(kind="release", object_id=new.pk).index
    assert body["bundle_url"] == f"/api/v1/releases/{new.pk}/bundle"
    assert body["envelope"] == json.loads(new.envelope)
    assert body["envelope"]["payloadType"] == "application/vnd.in-toto+json"


def test_release_entered_by_an_operator_says_so(client, city, admin_user):
    project, private_key, *_ = city
    release = factories.make_release(project, private_key, "2.0.0", user=admin_user)

    assert client.get(f"/api/v1/releases/{release.pk}/").json()["entered_by_hand"] is True


def test_unknown_release_is_a_404_naming_it(client):
    response = client.get("/api/v1/releases/999/")

    assert response.status_code == 404
    assert error_of(response)["fields"] == {"release": ["There is no release 999."]}


def test_reads_need_no_token_and_ignore_a_bad_one(client, city):
    response = client.get("/api/v1/projects/", HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == 200
