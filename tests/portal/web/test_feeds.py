"""Atom feeds of deployments and of status changes, site-wide and per project."""

import datetime
import xml.etree.ElementTree as ET

import pytest

from portal.monitoring.models import Observation
from tests.portal.factories import make_deployment, make_environment, make_key, make_project, make_release

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime.datetime(2025, 5, 1, 9, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db


def parse_feed(response):
    """The feed element, after checking the elements RFC 4287 requires of a feed and of each entry."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for element in (feed, *entries(feed)):
        for required in ("id", "title", "updated"):
            assert (element.findtext(f"{ATOM}{required}") or "").strip(), f"{element.tag} lacks {required}"
    assert feed.find(f"{ATOM}author/{ATOM}name").text == "Vitrina"
    return feed


def entries(feed):
    return feed.findall(f"{ATOM}entry")


def titles(feed):
    return [entry.findtext(f"{ATOM}title") for entry in entries(feed)]


def observe(environment, result, reason="", *, minutes, changed=True, **fields):
    return Observation.objects.create(
        environment=environment,
        checked_at=T0 + datetime.timedelta(minutes=minutes),
        result=result,
        reason=reason,
        changed_status=changed,
        **fields,
    )


@pytest.fixture
def two_projects():
    demo, other = make_project("demo", name="Demo"), make_project("other", name="Other")
    return (demo, make_environment(demo, "production")), (other, make_environment(other, "production"))


class TestDeploymentsFeed:
    def test_site_feed_lists_deployments_newest_first_with_their_facts(self, client, two_projects):
        (demo, demo_prod), (other, other_prod) = two_projects
        demo_key, _ = make_key(demo)
        other_key, _ = make_key(other)
        first = make_release(demo, demo_key, "1.0.0")
        make_deployment(demo_prod, first, deployed_at=T0, pipeline_run_url="https://ci.example.org/runs/7")
        second = make_release(other, other_key, "2.0.0")
        make_deployment(other_prod, second, deployed_at=T0 + datetime.timedelta(days=1))

        feed = parse_feed(client.get("/feeds/deployments.atom"))

        assert titles(feed) == ["Other 2.0.0 deployed to production", "Demo 1.0.0 deployed to production"]
        summary = entries(feed)[1].findtext(f"{ATOM}summary")
        assert first.artifact_digest in summary
        assert first.source_commit in summary
        assert "https://ci.example.org/runs/7" in summary
        assert entries(feed)[1].findtext(f"{ATOM}published").startswith("2025-05-01T09:00:00")

    def test_project_feed_shows_only_that_project(self, client, two_projects):
        (demo, demo_prod), (other, other_prod) = two_projects
        demo_key, _ = make_key(demo)
        other_key, _ = make_key(other)
        make_deployment(demo_prod, make_release(demo, demo_key, "1.0.0"))
        make_deployment(other_prod, make_release(other, other_key, "2.0.0"))

        feed = parse_feed(client.get("/p/demo/feeds/deployments.atom"))

        assert titles(feed) == ["Demo 1.0.0 deployed to production"]
        assert feed.find(f"{ATOM}title").text == "Deployments of Demo"

    def test_entry_ids_are_distinct_and_links_point_at_the_deployment(self, client, two_projects, settings):
        settings.SITE_URL = "https://vitrina.example.org"
        (demo, demo_prod), _ = two_projects
        key, _ = make_key(demo)
        release = make_release(demo, key, "1.0.0")
        deployments = [make_deployment(demo_prod, release) for _ in range(2)]

        feed = parse_feed(client.get("/p/demo/feeds/deployments.atom"))

        ids = [entry.findtext(f"{ATOM}id") for entry in entries(feed)]
        assert len(set(ids)) == 2
        links = {entry.find(f"{ATOM}link").get("href") for entry in entries(feed)}
        assert links == {f"https://vitrina.example.org/deployments/{d.pk}/" for d in deployments}

    def test_empty_feed_is_still_valid(self, client):
        assert entries(parse_feed(client.get("/feeds/deployments.atom"))) == []

    def test_unknown_project_is_404(self, client):
        assert client.get("/p/nobody/feeds/deployments.atom").status_code == 404


class TestStatusFeed:
    def test_only_status_changes_are_listed(self, client, two_projects):
        (_, demo_prod), _ = two_projects
        observe(demo_prod, "verified", minutes=0)
        observe(demo_prod, "verified", minutes=1, changed=False)
        observe(demo_prod, "mismatch", "unregistered_artifact", minutes=2, live_digest="sha256:" + "a" * 64)

        feed = parse_feed(client.get("/feeds/status.atom"))

        assert titles(feed) == ["demo/production: mismatch", "demo/production: verified"]
        summary = entries(feed)[0].findtext(f"{ATOM}summary")
        assert "never published" in summary
        assert "sha256:" + "a" * 64 in summary

    def test_project_feed_filters_by_project(self, client, two_projects):
        (_, demo_prod), (_, other_prod) = two_projects
        observe(demo_prod, "unverifiable", "timeout", minutes=0)
        observe(other_prod, "verified", minutes=1)

        feed = parse_feed(client.get("/p/other/feeds/status.atom"))

        assert titles(feed) == ["other/production: verified"]
        assert feed.find(f"{ATOM}title").text == "Status changes of Other"

    def test_feeds_of_one_project_have_distinct_ids(self, client, two_projects):
        status = parse_feed(client.get("/p/demo/feeds/status.atom")).findtext(f"{ATOM}id")
        deployments = parse_feed(client.get("/p/demo/feeds/deployments.atom")).findtext(f"{ATOM}id")

        assert status != deployments

    def test_feed_updated_is_the_latest_change(self, client, two_projects):
        (_, demo_prod), _ = two_projects
        observe(demo_prod, "verified", minutes=0)
        observe(demo_prod, "mismatch", "wrong_release", minutes=30)

        feed = parse_feed(client.get("/feeds/status.atom"))

        assert feed.findtext(f"{ATOM}updated").startswith("2025-05-01T09:30:00")


@pytest.mark.parametrize(
    "query, title, language",
    [
        ("?lang=es", "Despliegues en Vitrina", "es"),
        ("?lang=en", "Vitrina deployments", "en"),
        ("", "Vitrina deployments", "en"),
    ],
)
def test_feed_speaks_the_language_asked_for_in_the_address(client, query, title, language):
    response = client.get(f"/feeds/deployments.atom{query}")

    feed = parse_feed(response)
    assert response["Content-Language"] == language
    assert feed.findtext(f"{ATOM}title") == title


def test_feed_in_spanish_by_address_even_when_the_browser_asks_for_english(client):
    response = client.get("/feeds/status.atom?lang=es", HTTP_ACCEPT_LANGUAGE="en")

    assert parse_feed(response).findtext(f"{ATOM}title") == "Cambios de estado en Vitrina"
