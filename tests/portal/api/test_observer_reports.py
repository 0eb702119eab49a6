"""POST /api/v1/observer-reports/ with an observer's token, GET /api/v1/observers/, and what the project
API tells an observer per environment."""

import json

import pytest
from django.test import Client

from portal.registry import services
from portal.registry.models import ObserverReport
from tests.portal import factories
from tests.portal.api.support import error_of
from tests.portal.observers import make_observation, make_observer, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed():
    project = factories.make_project("demo")
    environment = factories.make_environment(
        project, site_url="https://demo.example.org", entry_pages="/\n/app"
    )
    release = factories.make_deployed_release(project, "1.0.0", environment)
    return environment, environment.deployments.get(release=release)


def post(body, token):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post("/api/v1/observer-reports/", data=data, content_type="application/json", **headers)


def test_an_observer_posts_a_signed_report_and_gets_its_log_index(deployed):
    environment, deployment = deployed
    private_key, observer, token = make_observer("Lab")
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    response = post({"envelope": envelope}, token)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["log_index"] is not None and body["observer"] == "Lab"
    assert body["bundle_url"] == f"/api/v1/observer-reports/{body['id']}/bundle"
    again = post({"envelope": json.dumps(envelope)}, token)
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_a_project_token_is_refused_and_an_observer_token_is_refused_for_ci(deployed):
    environment, deployment = deployed
    private_key, observer, token = make_observer()
    _, project_token = factories.make_token(environment.project)
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    assert error_of(post({"envelope": envelope}, project_token))["status"] == 401
    assert error_of(post({"envelope": envelope}, None))["status"] == 401
    ci = Client().post(
        "/api/v1/deployments/",
        data={"environment": "production", "release": "1.0.0"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert error_of(ci)["status"] == 401
    assert not ObserverReport.objects.exists()


def test_a_removed_observers_token_is_refused(deployed):
    environment, deployment = deployed
    private_key, observer, token = make_observer()
    services.remove_observer(observer)
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    assert error_of(post({"envelope": envelope}, token))["status"] == 401


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({}, 400, "required"),
        ({"envelope": 12}, 400, "DSSE envelope"),
        ({"envelope": "{}"}, 400, "no 'payload'"),
    ],
)
def test_bad_bodies_are_refused_in_the_error_shape(deployed, body, status, text):
    _, _, token = make_observer()
    error = error_of(post(body, token))
    assert error["status"] == status
    assert text in json.dumps(error)


def test_a_report_for_another_observers_name_is_403(deployed):
    environment, deployment = deployed
    private_key, observer, token = make_observer("Lab")
    envelope = signed(private_key, make_observation(observer, environment, deployment, observer="Other"))
    error = error_of(post({"envelope": envelope}, token))
    assert error["status"] == 403 and "Other" in error["message"]


def test_an_oversized_envelope_is_413(deployed):
    environment, deployment = deployed
    private_key, observer, token = make_observer()
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    envelope["padding"] = "x" * 300 * 1024
    assert error_of(post({"envelope": envelope}, token))["status"] == 413


def test_the_public_list_names_observers_with_their_keys():
    private_key, observer, _ = make_observer("Lab")
    services.remove_observer(make_observer("Gone")[1])
    results = Client().get("/api/v1/observers/").json()["results"]
    assert [o["name"] for o in results] == ["Gone", "Lab"]
    lab = results[1]
    assert lab["public_key_pem"] == private_key.public_key.pem and lab["key_id"] == observer.key_id
    assert lab["removed_at"] is None and results[0]["removed_at"] is not None


def test_the_project_tells_an_observer_what_to_check(deployed):
    environment, deployment = deployed
    body = Client().get("/api/v1/projects/demo/").json()
    assert body["observers_required"] == 0 and body["inline_scripts_must_be_declared"] is True
    production = body["environments"][0]
    assert production["site_url"] == "https://demo.example.org"
    assert production["entry_pages"] == ["/", "/app"]
    assert production["current_deployment"]["id"] == deployment.pk
    assert production["current_deployment"]["bundle_url"] == f"/api/v1/deployments/{deployment.pk}/bundle"
