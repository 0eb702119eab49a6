"""Pages run a fixed number of queries however many projects and environments there are."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

CHECKED = datetime.datetime(2026, 3, 14, 9, 0, tzinfo=datetime.UTC)


def build(n_projects):
    """``n_projects`` projects with three environments each, deployed, checked and observed."""
    projects = []
    for _ in range(n_projects):
        project = factories.make_project()
        private_key, _ = factories.make_key(project)
        releases = [factories.make_release(project, private_key) for _ in range(3)]
        for name, release in zip(["production", "staging", "preview"], releases, strict=True):
            environment = factories.make_environment(project, name)
            deployment = factories.make_deployment(environment, release)
            factories.make_deployment(environment, releases[0])
            Status.objects.create(
                environment=environment, result="verified", checked_at=CHECKED, live_release=release
            )
            Observation.objects.create(environment=environment, checked_at=CHECKED, result="verified")
        projects.append((project, environment, release, deployment))
    return projects


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["home", "project", "environment", "release", "deployment"])
def test_query_count_does_not_grow_with_the_number_of_projects(client, page, django_assert_max_num_queries):
    def url_of(project, environment, release, deployment):
        return {
            "home": "/",
            "project": project.get_absolute_url(),
            "environment": environment.get_absolute_url(),
            "release": release.get_absolute_url(),
            "deployment": deployment.get_absolute_url(),
        }[page]

    one = build(1)
    baseline = count_queries(client, url_of(*one[0]))
    many = build(29)
    with django_assert_max_num_queries(baseline):
        client.get(url_of(*many[-1]))
    # One of them reads the 90 days of status changes of every environment on the page at once; a
    # release's evidence reads its rebuilds, and an environment's ladder its release's log entry and
    # latest repository check.
    assert baseline <= {"environment": 12, "release": 10, "deployment": 10}.get(page, 9)


def test_home_with_30_projects_and_90_environments_shows_them_all(client):
    build(30)
    html = client.get("/").content.decode()
    # One light per environment, and the banner's count of the verified ones.
    assert html.count("result-verified") == 90 + 1
