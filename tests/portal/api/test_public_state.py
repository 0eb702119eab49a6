"""The API shows the public state the pages and badges show: never green without a check."""

import datetime

import pytest

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def never_checked():
    """A status row that says verified, but with no check time: nothing ever checked it."""
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project, "production")
    Status.objects.create(environment=environment, result="verified", message="Looks fine.", checked_at=None)
    return environment


@pytest.fixture
def unknown_result():
    """A status whose result this version does not know (written by a newer one, say)."""
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project, "production")
    Status.objects.create(environment=environment, result="glowing", message="New words.", checked_at=T0)
    return environment


def test_verified_but_never_checked_is_not_green_in_the_project_list(client, never_checked):
    summary = client.get("/api/v1/projects/").json()["results"][0]["environments"][0]

    assert (summary["light"], summary["result"]) == ("none", "unchecked")


def test_verified_but_never_checked_is_not_green_in_the_project_detail(client, never_checked):
    status = client.get("/api/v1/projects/city-portal/").json()["environments"][0]["status"]

    assert (status["light"], status["result"], status["checked_at"]) == ("none", "unchecked", None)
    assert status["message"] == "Not yet checked."


def test_an_unknown_result_is_shown_as_not_yet_checked(client, unknown_result):
    summary = client.get("/api/v1/projects/").json()["results"][0]["environments"][0]
    status = client.get("/api/v1/projects/city-portal/").json()["environments"][0]["status"]

    assert (summary["light"], summary["result"]) == ("none", "unchecked")
    assert (status["light"], status["result"]) == ("none", "unchecked")


@pytest.mark.parametrize(
    ("result", "reason", "checked_at"),
    [
        ("verified", "", T0),
        ("verified", "", None),
        ("mismatch", "wrong_release", T0),
        ("unverifiable", "timeout", T0),
        ("unverifiable", "timeout", None),
        ("unchecked", "", None),
    ],
)
def test_the_api_and_the_badge_show_one_state(client, result, reason, checked_at):
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project, "production")
    Status.objects.create(environment=environment, result=result, reason=reason, checked_at=checked_at)

    status = client.get("/api/v1/projects/city-portal/").json()["environments"][0]["status"]
    badge = client.get("/badge/city-portal/production.json").json()

    assert (status["light"], status["result"], status["reason"]) == (
        badge["light"],
        badge["result"],
        badge["reason"],
    )
