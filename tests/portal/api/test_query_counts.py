"""The public reads cost a fixed number of queries, however many projects and environments there are."""

import pytest

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.django_db


def populate(projects, environments_per_project=3, releases_per_project=2, prefix="p"):
    for n in range(projects):
        project = factories.make_project(f"{prefix}{n:03d}")
        private_key, _ = factories.make_key(project)
        releases = [factories.make_release(project, private_key) for _ in range(releases_per_project)]
        for e in range(environments_per_project):
            environment = factories.make_environment(project, f"env-{e}")
            for release in releases:
                factories.make_deployment(environment, release)
            if e == 0:
                Status.objects.create(environment=environment, result="verified", message="ok")


def test_project_list_queries_do_not_grow_with_projects_and_environments(
    client, django_assert_max_num_queries
):
    populate(1)
    with django_assert_max_num_queries(4) as small:
        assert client.get("/api/v1/projects/").status_code == 200

    populate(30, prefix="more")
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get("/api/v1/projects/?limit=200").json()

    assert body["count"] == 31
    assert all(env["version"] for project in body["results"] for env in project["environments"])


def test_project_detail_queries_do_not_grow_with_environments(client, django_assert_max_num_queries):
    populate(1, environments_per_project=1)
    with django_assert_max_num_queries(3) as small:
        assert client.get("/api/v1/projects/p000/").status_code == 200

    project = factories.make_project("big")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key)
    for e in range(30):
        factories.make_deployment(factories.make_environment(project, f"env-{e}"), release)
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get("/api/v1/projects/big/").json()

    assert len(body["environments"]) == 30
    assert all(env["current_deployment"]["version"] == release.version for env in body["environments"])


def test_release_list_queries_do_not_grow_with_releases(client, django_assert_max_num_queries):
    populate(1, releases_per_project=1)
    with django_assert_max_num_queries(3) as small:
        assert client.get("/api/v1/projects/p000/releases/").status_code == 200

    project = factories.make_project("many")
    private_key, _ = factories.make_key(project)
    for _ in range(30):
        factories.make_release(project, private_key)
    factories.sequenced_entries()  # a second later, every entry has its index
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get("/api/v1/projects/many/releases/").json()

    assert body["count"] == 30
    assert all(release["log_index"] is not None for release in body["results"])
