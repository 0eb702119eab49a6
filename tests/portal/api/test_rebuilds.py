"""POST /api/v1/rebuilds/ with a rebuilder's token, POST /api/v1/rebuilds/<id>/answer with the project's CI
token, GET /api/v1/rebuilders/, and what the release APIs tell the public and a rebuilder about rebuilds."""

import json

import pytest
from django.test import Client

from portal.registry import services
from portal.registry.models import Rebuild, RebuildAnswer
from tests.portal import factories
from tests.portal.api.support import error_of
from tests.portal.observers import make_observer
from tests.portal.rebuilders import make_rebuilder, make_rebuilt, rebuild, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def release():
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    return factories.make_release(project, private_key, "1.0.0")


def post(path, body, token):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post(path, data=data, content_type="application/json", **headers)


def test_a_rebuilder_posts_a_signed_rebuild_and_gets_its_log_index_and_the_bundle(release):
    private_key, rebuilder, token = make_rebuilder("Lab")
    response = post(
        "/api/v1/rebuilds/", {"envelope": signed(private_key, make_rebuilt(rebuilder, release))}, token
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["result"] == "reproduced" and body["differences"] == [] and body["rebuilder"] == "Lab"
    assert body["log_index"] == factories.sequenced_entries().get(kind="rebuild", object_id=body["id"]).index
    assert body["bundle_url"] == f"/api/v1/releases/{release.pk}/bundle"
    assert (body["project"], body["version"], body["release_id"]) == ("demo", "1.0.0", release.pk)


def test_a_differing_rebuild_answers_with_both_digests(release):
    private_key, rebuilder, token = make_rebuilder()
    rebuilt = make_rebuilt(rebuilder, release, got={"app.tar.gz": "ab" * 32})
    body = post("/api/v1/rebuilds/", {"envelope": json.dumps(signed(private_key, rebuilt))}, token).json()
    assert body["result"] == "differs"
    assert body["differences"] == [
        {"name": "app.tar.gz", "expected": release.artifact_digest, "got": "sha256:" + "ab" * 32}
    ]


def test_only_an_active_rebuilders_token_is_accepted(release):
    private_key, rebuilder, token = make_rebuilder()
    _, _, observer_token = make_observer()
    _, project_token = factories.make_token(release.project)
    body = {"envelope": signed(private_key, make_rebuilt(rebuilder, release))}
    for other in (None, project_token, observer_token, "vtb_made-up"):
        assert error_of(post("/api/v1/rebuilds/", body, other))["status"] == 401
    services.remove_rebuilder(rebuilder)
    error = error_of(post("/api/v1/rebuilds/", body, token))
    assert error["status"] == 401 and "rebuilder token" in error["message"]
    assert not Rebuild.objects.exists()


def test_refusals_are_4xx_in_the_error_shape_and_log_nothing(release):
    private_key, rebuilder, token = make_rebuilder("Lab")
    other_key, _, _ = make_rebuilder("Other")
    envelope = signed(private_key, make_rebuilt(rebuilder, release))
    assert post("/api/v1/rebuilds/", {"envelope": envelope}, token).status_code == 201
    before = factories.sequenced_entries().count()
    cases = [
        ({"envelope": envelope}, 409, "already recorded"),
        ({"envelope": signed(other_key, make_rebuilt(rebuilder, release))}, 400, "does not verify"),
        (
            {"envelope": signed(private_key, make_rebuilt(rebuilder, release, release_id=999))},
            404,
            "no release",
        ),
        (
            {"envelope": signed(private_key, make_rebuilt(rebuilder, release, rebuilder="Other"))},
            403,
            "Other",
        ),
        ({"envelope": "x" * (300 * 1024)}, 413, ""),  # the body limit, or the envelope's
        ({"envelope": 12}, 400, "DSSE envelope"),
        ({}, 400, "required"),
    ]
    for body, status, text in cases:
        error = error_of(post("/api/v1/rebuilds/", body, token))
        assert (error["status"], text in error["message"] or text in json.dumps(error["fields"])) == (
            status,
            True,
        )
    assert factories.sequenced_entries().count() == before and Rebuild.objects.count() == 1


def test_the_projects_ci_token_answers_a_differing_rebuild_once(release):
    private_key, rebuilder, rebuilder_token = make_rebuilder()
    differing = rebuild(private_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    _, token = factories.make_token(release.project)
    path = f"/api/v1/rebuilds/{differing.pk}/answer"
    response = post(path, {"text": "Another gzip; fixed in 1.0.1."}, token)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rebuild_id"] == differing.pk and body["text"] == "Another gzip; fixed in 1.0.1."
    entries = factories.sequenced_entries()
    assert body["log_index"] == entries.get(kind="rebuild_answer", object_id=body["id"]).index
    assert error_of(post(path, {"text": "Again."}, token))["status"] == 409
    _, other_token = factories.make_token(factories.make_project("other"))
    assert error_of(post(path, {"text": "Not ours."}, other_token))["status"] == 403
    assert error_of(post(path, {"text": "A rebuilder may not."}, rebuilder_token))["status"] == 401
    assert error_of(post("/api/v1/rebuilds/999/answer", {"text": "Nobody."}, token))["status"] == 404
    assert error_of(post(path, {}, token))["status"] == 400
    assert RebuildAnswer.objects.count() == 1


def test_the_rebuilders_are_listed_with_their_keys():
    private_key, rebuilder, _ = make_rebuilder("Lab")
    services.remove_rebuilder(make_rebuilder("Gone")[1])
    body = Client().get("/api/v1/rebuilders/").json()
    listed = {party["name"]: party for party in body["results"]}
    assert listed["Lab"]["public_key_pem"] == private_key.public_key.pem
    assert listed["Lab"]["key_id"] == rebuilder.key_id and listed["Lab"]["removed_at"] is None
    assert listed["Gone"]["removed_at"] is not None


def test_the_release_api_lists_its_rebuilds_and_counts_each_rebuilders_latest(release):
    first_key, first, _ = make_rebuilder("First")
    second_key, second, _ = make_rebuilder("Second")
    rebuild(first_key, first, release, got={"app.tar.gz": "ab" * 32})
    rebuild(first_key, first, release)  # its latest reproduced
    differing = rebuild(second_key, second, release, got={"app.tar.gz": "cd" * 32})
    services.answer_rebuild(differing, "Second used another gzip.")
    body = Client().get(f"/api/v1/releases/{release.pk}/").json()
    assert (body["reproduced"], body["rebuilt_by"]) == (1, 2)
    assert [(r["rebuilder"], r["result"]) for r in body["rebuilds"]] == [
        ("Second", "differs"),
        ("First", "reproduced"),
        ("First", "differs"),
    ]
    newest = body["rebuilds"][0]
    assert newest["answer"]["text"] == "Second used another gzip."
    assert newest["subjects"] == [{"name": "app.tar.gz", "digest": {"sha256": "cd" * 32}}]
    assert body["rebuilds"][1]["answer"] is None


def test_a_rebuilder_finds_a_release_by_version(release):
    project = release.project
    factories.make_release(project, factories.make_key(project)[0], "2.0.0")
    body = Client().get("/api/v1/projects/demo/releases/?version=1.0.0").json()
    assert [(r["id"], r["version"]) for r in body["results"]] == [(release.pk, "1.0.0")]
    assert body["results"][0]["bundle_url"] == f"/api/v1/releases/{release.pk}/bundle"
    assert Client().get("/api/v1/projects/demo/releases/?version=9.9").json()["results"] == []
    assert len(Client().get("/api/v1/projects/demo/releases/").json()["results"]) == 2
