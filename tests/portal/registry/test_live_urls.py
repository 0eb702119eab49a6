"""A live URL carrying a user name or password is refused wherever an environment is entered.

The live URL is public (environment pages, ``GET /api/v1/projects/<slug>/``): credentials in it would be
published. The admin and ``addenvironment`` both validate through ``Environment.clean()``.
"""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.registry.models import Environment
from tests.portal import factories

pytestmark = pytest.mark.django_db

WITH_CREDENTIALS = [
    "https://deploy:s3cret@city.example.org/.well-known/vitrina/deployment",
    "https://token@city.example.org/.well-known/vitrina/deployment",
]
# Django's URL validator already refuses an empty user name; the credentials rule names the problem too.
EMPTY_USER = "http://:s3cret@city.example.org:8080/live"
CLEAN_URL = "https://city.example.org/.well-known/vitrina/deployment"


@pytest.fixture
def project():
    return factories.make_project("city-portal")


def add_environment(url):
    call_command(
        "addenvironment",
        "city-portal",
        "production",
        "--url",
        url,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )


@pytest.mark.parametrize("url", [*WITH_CREDENTIALS, EMPTY_USER])
def test_addenvironment_refuses_a_url_with_credentials_in_one_line(project, url):
    with pytest.raises(CommandError, match=r"^live_url: .*user name or password") as caught:
        add_environment(url)

    assert "s3cret" not in str(caught.value)
    assert not Environment.objects.exists()


def test_addenvironment_refuses_credentials_when_updating_too(project):
    add_environment(CLEAN_URL)

    with pytest.raises(CommandError, match="user name or password"):
        add_environment(WITH_CREDENTIALS[0])

    assert Environment.objects.get().live_url == CLEAN_URL


@pytest.mark.parametrize("url", WITH_CREDENTIALS)
def test_admin_refuses_a_new_environment_whose_url_has_credentials(admin_client, project, url):
    response = admin_client.post(
        "/admin/registry/environment/add/",
        {"project": project.pk, "name": "production", "live_url": url, "check_interval": 60},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["live_url"] and any("user name or password" in e for e in errors["live_url"])
    assert not Environment.objects.exists()


def test_admin_refuses_credentials_added_to_an_existing_environment(admin_client, project):
    environment = factories.make_environment(project, live_url=CLEAN_URL)

    response = admin_client.post(
        f"/admin/registry/environment/{environment.pk}/change/",
        {"live_url": WITH_CREDENTIALS[0], "check_interval": 60},
    )

    assert response.status_code == 200
    assert any("user name or password" in e for e in response.context["adminform"].form.errors["live_url"])
    environment.refresh_from_db()
    assert environment.live_url == CLEAN_URL


def test_a_url_that_cannot_be_parsed_is_a_one_line_error(project):
    with pytest.raises(CommandError, match=r"^live_url: Enter a valid URL\.$"):
        add_environment("https://[::1/live")

    assert not Environment.objects.exists()


def test_a_url_without_credentials_is_accepted(project):
    add_environment(CLEAN_URL)

    assert Environment.objects.get().live_url == CLEAN_URL
