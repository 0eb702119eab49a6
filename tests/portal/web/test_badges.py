"""Status badges (SVG) and the JSON status behind them."""

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.monitoring.models import Status
from tests.portal.factories import make_environment, make_project

SVG = "{http://www.w3.org/2000/svg}"
GREEN, RED, AMBER, GREY = "#2e7d32", "#c62828", "#8f4a00", "#757575"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with nothing cached, as after ``CACHE_SECONDS``."""
    cache.clear()
    yield
    cache.clear()


def set_status(environment, result, reason="", checked_at="now"):
    return Status.objects.create(
        environment=environment,
        result=result,
        reason=reason,
        checked_at=timezone.now() if checked_at == "now" else checked_at,
    )


def parse_badge(response):
    """The badge's root element, its texts and the colour of its message half."""
    root = ET.fromstring(response.content)
    texts = [element.text for element in root.iter(f"{SVG}text")]
    rects = [element for element in root.iter(f"{SVG}rect") if element.get("fill", "").startswith("#")]
    return root, texts, rects[-1].get("fill")


@pytest.fixture
def project():
    return make_project("demo")


class TestEnvironmentBadge:
    @pytest.mark.parametrize(
        ("result", "reason", "word", "colour"),
        [
            ("verified", "", "verified", GREEN),
            ("mismatch", "unregistered_artifact", "mismatch", RED),
            ("unverifiable", "timeout", "could not verify", AMBER),
        ],
    )
    def test_each_checked_result_has_its_word_and_colour(self, client, project, result, reason, word, colour):
        set_status(make_environment(project, "production"), result, reason)

        response = client.get("/badge/demo/production.svg")

        assert response.status_code == 200
        root, texts, fill = parse_badge(response)
        assert texts == ["production", word]
        assert fill == colour
        assert root.get("aria-label") == f"production: {word}"
        assert root.find(f"{SVG}title").text == f"production: {word}"

    def test_environment_never_checked_is_grey_not_checked(self, client, project):
        make_environment(project, "production")

        _, texts, fill = parse_badge(client.get("/badge/demo/production.svg"))

        assert texts == ["production", "not yet checked"]
        assert fill == GREY

    def test_verified_status_without_a_check_time_is_never_green(self, client, project):
        set_status(make_environment(project, "production"), "verified", checked_at=None)

        _, texts, fill = parse_badge(client.get("/badge/demo/production.svg"))

        assert texts[1] == "not yet checked"
        assert fill == GREY

    def test_badge_is_svg_with_short_cache_and_etag(self, client, project):
        set_status(make_environment(project, "production"), "verified")

        response = client.get("/badge/demo/production.svg")

        assert response["Content-Type"] == "image/svg+xml"
        assert response["Cache-Control"] == "max-age=30"
        assert response["ETag"].startswith('"')
        assert ET.fromstring(response.content).tag == f"{SVG}svg"
        assert b"<script" not in response.content

    def test_matching_etag_answers_304_without_body(self, client, project):
        set_status(make_environment(project, "production"), "verified")
        etag = client.get("/badge/demo/production.svg")["ETag"]

        response = client.get("/badge/demo/production.svg", HTTP_IF_NONE_MATCH=etag)

        assert response.status_code == 304
        assert response.content == b""

    def test_etag_changes_when_the_status_changes(self, client, project):
        environment = make_environment(project, "production")
        status = set_status(environment, "verified")
        before = client.get("/badge/demo/production.svg")["ETag"]
        status.result = "mismatch"
        status.save()
        cache.clear()  # CACHE_SECONDS later

        response = client.get("/badge/demo/production.svg", HTTP_IF_NONE_MATCH=before)

        assert response.status_code == 200
        assert response["ETag"] != before

    def test_badge_speaks_spanish_when_asked(self, client, project):
        set_status(make_environment(project, "production"), "mismatch", "wrong_release")

        by_query = parse_badge(client.get("/badge/demo/production.svg?lang=es"))[1]
        by_header = client.get("/badge/demo/production.svg", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")
        by_header = parse_badge(by_header)[1]

        assert by_query == by_header == ["producción", "no coincide"]

    def test_unknown_environment_is_a_grey_not_found_badge_with_404(self, client, project):
        make_environment(project, "production")

        response = client.get("/badge/demo/staging.svg")

        assert response.status_code == 404
        _, texts, fill = parse_badge(response)
        assert texts == ["staging", "not found"]
        assert fill == GREY

    def test_unknown_project_is_a_grey_not_found_badge_with_404(self, client):
        response = client.get("/badge/nobody/production.svg")

        assert response.status_code == 404
        assert parse_badge(response)[1] == ["production", "not found"]

    def test_badge_takes_one_query(self, client, project):
        set_status(make_environment(project, "production"), "verified")

        with CaptureQueriesContext(connection) as queries:
            client.get("/badge/demo/production.svg")

        assert len(queries) == 1

    def test_a_second_view_within_the_cache_time_takes_no_query(self, client, project):
        set_status(make_environment(project, "production"), "verified")
        client.get("/badge/demo/production.svg")
        client.get("/badge/demo.json")  # the status JSON also keeps the operators' notes of the project

        with CaptureQueriesContext(connection) as queries:
            response = client.get("/badge/demo/production.json")

        assert len(queries) == 0
        assert response.json()["result"] == "verified"

    def test_absurdly_long_names_are_not_found_without_a_query(self, client):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/badge/" + "x" * 300 + "/production.svg")

        assert response.status_code == 404
        assert len(queries) == 0


class TestProjectBadge:
    def test_project_badge_shows_its_worst_environment(self, client, project):
        set_status(make_environment(project, "production"), "verified")
        set_status(make_environment(project, "staging"), "unverifiable", "timeout")
        set_status(make_environment(project, "preview"), "mismatch", "wrong_release")

        _, texts, fill = parse_badge(client.get("/badge/demo.svg"))

        assert texts == ["vitrina", "mismatch"]
        assert fill == RED

    def test_an_unchecked_environment_keeps_the_project_from_green(self, client, project):
        set_status(make_environment(project, "production"), "verified")
        make_environment(project, "staging")

        _, texts, fill = parse_badge(client.get("/badge/demo.svg"))

        assert texts == ["vitrina", "not yet checked"]
        assert fill == GREY

    def test_all_verified_is_green(self, client, project):
        set_status(make_environment(project, "production"), "verified")
        set_status(make_environment(project, "staging"), "verified")

        assert parse_badge(client.get("/badge/demo.svg"))[2] == GREEN

    def test_project_without_environments_is_not_checked(self, client, project):
        response = client.get("/badge/demo.svg")

        assert response.status_code == 200
        assert parse_badge(response)[1] == ["vitrina", "not yet checked"]

    def test_unknown_project_is_404(self, client):
        response = client.get("/badge/nobody.svg")

        assert response.status_code == 404
        assert parse_badge(response)[1] == ["vitrina", "not found"]

    def test_query_count_does_not_grow_with_environments(self, client, project):
        for n in range(5):
            set_status(make_environment(project, f"env-{n}"), "verified")

        with CaptureQueriesContext(connection) as queries:
            client.get("/badge/demo.svg")

        assert len(queries) == 1


class TestJsonStatus:
    def test_environment_status_document(self, client, project):
        checked_at = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
        set_status(make_environment(project, "production"), "unverifiable", "timeout", checked_at=checked_at)

        response = client.get("/badge/demo/production.json")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response["Cache-Control"] == "max-age=30"
        assert response.json() == {
            "project": "demo",
            "environment": "production",
            "light": "amber",
            "result": "unverifiable",
            "reason": "timeout",
            "message": "The server took too long to answer. This is not evidence of tampering: the project's "
            "operators must make it possible to check again.",
            "checked_at": "2025-03-01T12:00:00Z",
            "note": None,
        }

    def test_never_checked_environment_is_unchecked_with_no_light(self, client, project):
        make_environment(project, "production")

        document = client.get("/badge/demo/production.json").json()

        assert (document["light"], document["result"], document["reason"], document["checked_at"]) == (
            "none",
            "unchecked",
            None,
            None,
        )

    def test_project_status_is_the_worst_and_lists_environments(self, client, project):
        set_status(make_environment(project, "production"), "verified")
        set_status(make_environment(project, "staging"), "mismatch", "commit_not_on_branch")

        document = client.get("/badge/demo.json").json()

        assert (document["project"], document["environment"]) == ("demo", None)
        assert document["result"] == "mismatch"
        assert document["reason"] == "commit_not_on_branch"
        assert [(e["environment"], e["light"]) for e in document["environments"]] == [
            ("production", "green"),
            ("staging", "red"),
        ]

    def test_shields_endpoint_format(self, client, project):
        set_status(make_environment(project, "production"), "verified")

        document = client.get("/badge/demo/production.json?format=shields").json()

        assert document == {
            "schemaVersion": 1,
            "label": "production",
            "message": "verified",
            "color": "2e7d32",
        }

    def test_unknown_environment_is_404_in_both_formats(self, client, project):
        assert client.get("/badge/demo/nowhere.json").status_code == 404
        shields = client.get("/badge/demo/nowhere.json?format=shields")
        assert shields.status_code == 404
        assert shields.json()["message"] == "not found"
        assert shields.json()["isError"] is True
