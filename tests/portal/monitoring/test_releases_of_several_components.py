"""A release of several components (a web image, a worker image, static files): registered through the
API with each component logged, deployed, and checked against a real watched service on loopback that
reports each component by name. Green only when every component is reported and matches."""

import json
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client

from portal.monitoring.runner import check_environment
from portal.registry.models import Release, ReleaseComponent
from portal.transparency.services import audit
from tests.helpers.liveserver import LiveServer
from tests.portal import factories
from verifier import dsse, statement
from verifier.bundle import ERROR, FAIL, parse_bundle, verify_bundle
from verifier.entries import parse_entry

pytestmark = pytest.mark.django_db

WEB = "sha256:" + "a1" * 32
WORKER = "sha256:" + "b2" * 32
OTHER_WORKER = "sha256:" + "c3" * 32
STATIC_SHA512 = "sha512:" + "d4" * 64


@dataclass
class Deployed:
    release: Release
    environment: object
    server: LiveServer

    def serve(self, components, **fields):
        self.server.set_body({"components": components, **fields})
        return check_environment(self.environment)


def post(client, token, path, body):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@pytest.fixture
def deployed(git_repository):
    """Version 2.0.0 of web, worker and static, registered and deployed through the API."""
    _, shas = git_repository
    project = factories.make_project(repo_url=git_repository[0].as_uri())
    private_key, _ = factories.make_key(project)
    _, token = factories.make_token(project)
    doc = statement.build_statement(
        artifact_name="",
        artifact_digest="",
        repo_uri=project.repo_url,
        commit=shas[-1],
        components=[("web", WEB), ("worker", WORKER), ("static", STATIC_SHA512)],
    )
    envelope = dsse.sign_envelope(statement.statement_to_payload(doc), private_key)
    client = Client()
    with LiveServer({"components": {"web": WEB, "worker": WORKER, "static": STATIC_SHA512}}) as server:
        environment = factories.make_environment(project, live_url=server.url)
        registered = post(client, token, "/api/v1/releases/", {"envelope": envelope, "version": "2.0.0"})
        assert registered.status_code == 201, registered.content
        deployment = post(
            client, token, "/api/v1/deployments/", {"environment": environment.name, "release": "2.0.0"}
        )
        assert deployment.status_code == 201, deployment.content
        yield Deployed(Release.objects.get(pk=registered.json()["id"]), environment, server)


def test_a_release_of_several_components_is_registered_with_each_component_logged(deployed):
    release = deployed.release
    components = [(c.name, c.digest) for c in ReleaseComponent.objects.filter(release=release)]
    assert components == [("web", WEB), ("worker", WORKER), ("static", STATIC_SHA512)]
    assert release.artifact_digest == WEB

    entry = parse_entry(factories.sequenced_entries().get(kind="release", object_id=release.pk).entry)
    assert entry["components"] == [
        {"name": "web", "digest": {"sha256": "a1" * 32}},
        {"name": "worker", "digest": {"sha256": "b2" * 32}},
        {"name": "static", "digest": {"sha512": "d4" * 64}},
    ]
    assert audit().ok


def test_green_when_every_component_is_reported_and_matches(deployed):
    observation = deployed.serve({"web": WEB, "worker": WORKER, "static": STATIC_SHA512})

    assert (observation.result, observation.reason, observation.light) == ("verified", "", "green")
    assert observation.live_release == deployed.release
    assert observation.live_components == {"web": WEB, "worker": WORKER, "static": STATIC_SHA512}
    assert observation.live_digest == WEB


def test_red_naming_the_component_whose_image_differs(deployed):
    observation = deployed.serve({"web": WEB, "worker": OTHER_WORKER, "static": STATIC_SHA512})

    assert (observation.result, observation.reason, observation.light) == (
        "mismatch",
        "component_mismatch",
        "red",
    )
    assert f"component 'worker' as {OTHER_WORKER}" in observation.message
    assert WORKER.removeprefix("sha256:") in observation.message


@pytest.mark.parametrize(
    ("components", "reason", "named"),
    [
        ({"web": WEB, "static": STATIC_SHA512}, "component_missing", "'worker'"),
        (
            {"web": WEB, "worker": WORKER, "static": STATIC_SHA512, "cron": WORKER},
            "component_unexpected",
            "'cron'",
        ),
    ],
    ids=["missing", "extra"],
)
def test_red_naming_a_component_missing_or_extra(deployed, components, reason, named):
    observation = deployed.serve(components)

    assert (observation.result, observation.reason, observation.light) == ("mismatch", reason, "red")
    assert named in observation.message


def test_a_component_known_by_another_algorithm_only_cannot_pass(deployed):
    observation = deployed.serve({"web": WEB, "worker": WORKER, "static": "sha256:" + "d4" * 32})

    assert observation.reason == "component_mismatch"
    assert "knows only sha512" in observation.message


def test_one_artifact_digest_is_not_enough_for_a_release_of_several_components(deployed):
    deployed.server.set_body({"artifact_digest": WEB})

    observation = check_environment(deployed.environment)

    assert (observation.result, observation.reason) == ("mismatch", "component_missing")
    assert "'web', 'worker', 'static'" in observation.message


def test_a_one_artifact_release_may_be_reported_as_its_one_component(watched):
    release = watched.release
    watched.server.set_body({"components": {release.artifact_name: release.artifact_digest}})

    observation = check_environment(watched.environment)

    assert (observation.result, observation.reason) == ("verified", "")
    logged = factories.sequenced_entries().get(kind="release", object_id=release.pk)
    assert "components" not in parse_entry(logged.entry)


def test_the_proof_bundle_of_a_release_of_several_components_verifies(deployed, client, log_key_file):
    response = client.get(f"/api/v1/releases/{deployed.release.pk}/bundle")
    assert response.status_code == 200
    key = client.get("/api/v1/log/").json()["verifier_key"]

    results = verify_bundle(parse_bundle(response.content), log_key=key)

    assert not [r for r in results if r.status in (FAIL, ERROR)], results
    assert len(json.loads(response.content)["release"]["components"]) == 3


def test_a_component_edited_behind_the_orms_back_is_caught(deployed, client, log_key_file):
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ReleaseComponent._meta.db_table} SET sha256 = %s WHERE name = 'worker'",
            [OTHER_WORKER.removeprefix("sha256:")],
        )

    observation = deployed.serve({"web": WEB, "worker": OTHER_WORKER, "static": STATIC_SHA512})
    assert (observation.result, observation.reason) == ("mismatch", "bad_signature")
    assert "components" in observation.message
    assert not audit().ok
    response = client.get(f"/api/v1/releases/{deployed.release.pk}/bundle")
    results = verify_bundle(
        parse_bundle(response.content), log_key=client.get("/api/v1/log/").json()["verifier_key"]
    )
    assert {r.name for r in results if r.status == FAIL} >= {"log entry"}


def test_the_environment_page_shows_a_row_per_component_reported_and_declared(deployed, client):
    deployed.serve({"web": WEB, "worker": OTHER_WORKER, "cron": WORKER})

    html = client.get(deployed.environment.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    rows = [row for row in html.split("<tr") if 'class="component"' in row]
    assert len(rows) == 4
    web, worker, static, cron = rows
    assert "<code>web</code>" in web and web.count(WEB) == 2
    assert "<code>worker</code>" in worker and OTHER_WORKER in worker and WORKER in worker
    assert "<code>static</code>" in static and "not reported" in static and STATIC_SHA512 in static
    assert "<code>cron</code>" in cron and "not part of this version" in cron


def test_components_without_names_of_their_own_are_a_400_saying_so(deployed):
    project = deployed.release.project
    private_key, _ = factories.make_key(project)
    _, token = factories.make_token(project, "ci-2")
    doc = statement.build_statement(
        artifact_name="",
        artifact_digest="",
        repo_uri=project.repo_url,
        commit=deployed.release.source_commit,
        components=[("web", WEB), ("worker", WORKER)],
    )
    doc["subject"][1]["name"] = "web"
    envelope = dsse.sign_envelope(statement.statement_to_payload(doc), private_key)

    response = post(Client(), token, "/api/v1/releases/", {"envelope": envelope, "version": "2.0.1"})

    assert response.status_code == 400
    assert "two subjects are named 'web'" in response.json()["error"]["message"]
    assert not Release.objects.filter(version="2.0.1").exists()
