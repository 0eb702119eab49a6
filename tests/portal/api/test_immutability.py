"""Releases and deployments are history: the API offers no way to change them, nor does the ORM."""

import pytest

from portal.registry.models import Deployment, ImmutableRecord, Release
from tests.portal import factories
from tests.portal.api.support import error_of


@pytest.fixture
def release(ci):
    return factories.make_release(ci.project, ci.private_key, "1.0.0")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_release_cannot_be_changed_through_the_api(ci, release, method):
    response = getattr(ci.client, method)(
        f"/api/v1/releases/{release.pk}/",
        data='{"version": "6.6.6"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {ci.raw_token}",
    )

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert Release.objects.get().version == "1.0.0"


def test_saving_an_existing_release_is_refused(release):
    release.version = "6.6.6"

    with pytest.raises(ImmutableRecord):
        release.save()

    assert Release.objects.get().version == "1.0.0"


def test_release_queryset_cannot_update_or_delete(release):
    with pytest.raises(ImmutableRecord):
        Release.objects.filter(pk=release.pk).update(version="6.6.6")
    with pytest.raises(ImmutableRecord):
        Release.objects.all().delete()
    with pytest.raises(ImmutableRecord):
        release.delete()

    assert Release.objects.get().version == "1.0.0"


def test_deployment_cannot_be_changed_or_deleted(ci, release):
    deployment = factories.make_deployment(ci.environment, release)
    deployment.pipeline_run_url = "https://elsewhere.example.org/"

    with pytest.raises(ImmutableRecord):
        deployment.save()
    with pytest.raises(ImmutableRecord):
        Deployment.objects.update(pipeline_run_url="")
    with pytest.raises(ImmutableRecord):
        Deployment.objects.all().delete()

    assert Deployment.objects.get().pipeline_run_url == ""
