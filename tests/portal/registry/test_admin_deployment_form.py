"""The admin's deployment form: it offers the environment's project's releases only, refuses another
project's release as a form error, and asks for "deploy anyway" before declaring deployed a release whose
source the repository did not confirm on the protected branch (its recorded check), warning first."""

import re

import pytest

from portal.monitoring.models import ReleaseRepositoryCheck
from portal.registry.models import Deployment
from tests.portal import factories

pytestmark = pytest.mark.django_db

ADD = "/admin/registry/deployment/add/"


@pytest.fixture
def city():
    project = factories.make_project("city-portal", name="City Portal")
    private_key, _ = factories.make_key(project)
    environment = factories.make_environment(project)
    return project, private_key, environment


@pytest.fixture
def other():
    project = factories.make_project("other", name="Other Project")
    private_key, _ = factories.make_key(project)
    return factories.make_release(project, private_key, "9.9.9")


def reviewed(release):
    ReleaseRepositoryCheck.objects.create(release=release, on_branch=True, ahead_by=0)
    return release


def options(page):
    select = re.search(r'<select name="release".*?</select>', page, re.S).group(0)
    return re.findall(r"<option value=\"\d+\"[^>]*>([^<]+)</option>", select), re.findall(
        r'<optgroup label="([^"]+)"', select
    )


def test_once_the_environment_is_known_only_its_projects_releases_are_offered(admin_client, city, other):
    project, private_key, environment = city
    factories.make_release(project, private_key, "1.0.0")
    factories.make_release(project, private_key, "1.1.0")

    versions, groups = options(admin_client.get(f"{ADD}?environment={environment.pk}").content.decode())
    assert (sorted(versions), groups) == (["1.0.0", "1.1.0"], ["City Portal"])
    versions, groups = options(admin_client.get(ADD).content.decode())
    assert (sorted(versions), groups) == (["1.0.0", "1.1.0", "9.9.9"], ["City Portal", "Other Project"])


def test_a_release_of_another_project_is_a_form_error_not_a_500(admin_client, city, other):
    _, _, environment = city
    response = admin_client.post(
        ADD, {"environment": environment.pk, "release": other.pk, "deploy_anyway": "on"}
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["release"]
    assert errors == ["Choose a release of the environment's project, City Portal."]
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    ("on_branch", "warning"),
    [
        (False, "The source commit of 2.0.0 is not on the protected branch “main”: it was never reviewed"),
        (
            None,
            "The repository has not confirmed yet that the source commit of 2.0.0 is on the protected branch",
        ),
        (
            "never asked",
            "The repository has not confirmed yet that the source commit of 2.0.0 is on the protected branch",
        ),
    ],
)
def test_an_unconfirmed_release_is_deployed_only_once_deploy_anyway_is_ticked(
    admin_client, city, on_branch, warning
):
    project, private_key, environment = city
    release = factories.make_release(project, private_key, "2.0.0")
    if on_branch != "never asked":
        ReleaseRepositoryCheck.objects.create(
            release=release, on_branch=on_branch, reason="commit_not_on_branch"
        )

    response = admin_client.post(ADD, {"environment": environment.pk, "release": release.pk})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["deploy_anyway"]
    assert warning in errors[0]
    assert "Tick “Deploy anyway”" in errors[-1]
    assert not Deployment.objects.exists()

    response = admin_client.post(
        ADD, {"environment": environment.pk, "release": release.pk, "deploy_anyway": "on"}
    )
    assert response.status_code == 302
    assert Deployment.objects.get().release == release


def test_a_release_confirmed_on_the_branch_needs_no_confirmation(admin_client, city):
    project, private_key, environment = city
    release = reviewed(factories.make_release(project, private_key, "2.0.0"))

    response = admin_client.post(ADD, {"environment": environment.pk, "release": release.pk})
    assert response.status_code == 302
    assert Deployment.objects.get().release == release


def test_the_warning_is_in_spanish_for_a_spanish_operator(admin_client, city):
    project, private_key, environment = city
    release = factories.make_release(project, private_key, "2.0.0")
    ReleaseRepositoryCheck.objects.create(release=release, on_branch=False, reason="commit_not_on_branch")

    response = admin_client.post(
        ADD, {"environment": environment.pk, "release": release.pk}, HTTP_ACCEPT_LANGUAGE="es"
    )
    assert "nunca se revisó, y el verificador rechaza esta versión" in response.content.decode()
    assert "Desplegar de todos modos" in response.content.decode()
