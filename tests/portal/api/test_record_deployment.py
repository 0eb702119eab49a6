"""CI records a deployment through POST /api/v1/deployments/."""

import datetime

import pytest
from django.utils import timezone

from portal.registry.models import Deployment, Environment
from tests.portal import factories
from tests.portal.api.support import error_of


def test_deployment_of_a_release_by_version_is_recorded_with_its_log_entry(ci):
    release = factories.make_release(ci.project, ci.private_key, "1.4.0")
    deployed_at = timezone.now() - datetime.timedelta(minutes=5)

    response = ci.deploy(
        "1.4.0", deployed_at=deployed_at.isoformat(), pipeline_run_url="https://ci.example.org/deploys/3"
    )

    assert response.status_code == 201
    deployment = Deployment.objects.get()
    entry = factories.sequenced_entries().get(kind="deployment", object_id=deployment.pk)
    assert response.json() == {
        "id": deployment.pk,
        "project": "city-portal",
        "environment": "production",
        "release": "1.4.0",
        "artifact_digest": release.artifact_digest,
        "deployed_at": deployed_at.isoformat().replace("+00:00", "Z"),
        "log_index": entry.index,
        "url": f"http://testserver/deployments/{deployment.pk}/",
    }
    assert deployment.release == release
    assert deployment.environment == ci.environment
    assert deployment.pipeline_run_url == "https://ci.example.org/deploys/3"
    assert deployment.reported_by_token.project == ci.project


def test_release_may_be_named_by_its_artifact_digest(ci):
    release = factories.make_release(ci.project, ci.private_key, "1.4.0")

    response = ci.deploy(release.artifact_digest, project="city-portal")

    assert response.status_code == 201
    assert response.json()["release"] == "1.4.0"


def test_deployment_without_a_time_happened_now_and_schedules_a_check(ci):
    factories.make_release(ci.project, ci.private_key, "1.4.0")
    Environment.objects.filter(pk=ci.environment.pk).update(
        next_check_at=timezone.now() + datetime.timedelta(days=1)
    )
    before = timezone.now()

    response = ci.deploy("1.4.0")

    assert response.status_code == 201
    deployment = Deployment.objects.get()
    assert before <= deployment.deployed_at <= timezone.now()
    assert Environment.objects.get().next_check_at <= timezone.now()


def test_deployment_in_the_future_is_refused(ci):
    factories.make_release(ci.project, ci.private_key, "1.4.0")

    response = ci.deploy("1.4.0", deployed_at=(timezone.now() + datetime.timedelta(hours=1)).isoformat())

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["deployed_at"]
    assert not Deployment.objects.exists()
    assert not factories.sequenced_entries().filter(kind="deployment").exists()


def test_deployment_time_that_is_not_iso_8601_is_refused(ci):
    factories.make_release(ci.project, ci.private_key, "1.4.0")

    response = ci.deploy("1.4.0", deployed_at="last tuesday")

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["deployed_at"]
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "deployed_at",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1999-12-31T23:59:59Z",
    ],
)
def test_deployment_time_out_of_bounds_is_refused(ci, deployed_at):
    factories.make_release(ci.project, ci.private_key, "1.4.0")

    response = ci.deploy("1.4.0", deployed_at=deployed_at)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["deployed_at"]
    assert not Deployment.objects.exists()


def test_each_deployment_is_a_new_record(ci):
    factories.make_release(ci.project, ci.private_key, "1.4.0")

    first, second = ci.deploy("1.4.0"), ci.deploy("1.4.0")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert factories.sequenced_entries().filter(kind="deployment").count() == 2
