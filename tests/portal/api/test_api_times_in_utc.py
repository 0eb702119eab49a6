"""The API's times are UTC with ``Z`` (``public_time``), whatever the public's clock the pages use."""

import datetime

import pytest

from tests.portal import factories

DEPLOYED = datetime.datetime(2026, 7, 1, 15, 30, tzinfo=datetime.UTC)


@pytest.fixture
def release(db, settings):
    settings.TIME_ZONE = "America/Montevideo"
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    factories.make_deployment(environment, release, deployed_at=DEPLOYED)
    return release


def test_release_times_are_utc_with_z_under_a_local_clock(client, release):
    body = client.get(f"/api/v1/releases/{release.pk}/").json()
    assert body["registered_at"].endswith("Z"), body["registered_at"]
    listed = client.get("/api/v1/projects/city-portal/releases/").json()
    times = [item["registered_at"] for item in listed["results"]]
    assert times and all(t.endswith("Z") for t in times), times


def test_the_project_status_in_the_api_is_utc_too(client, release):
    body = client.get("/api/v1/projects/city-portal/").json()
    text = str(body)
    assert "-03:00" not in text, text
