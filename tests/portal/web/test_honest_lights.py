"""The lights do not mislead: a row says what the server reports beside what was declared, a red row says
why, and "could not verify" is one word, one icon and one colour of its own (not the mismatch red) on the
pages, the badges, the feeds and the API."""

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.core.cache import cache

from portal.monitoring.models import Observation, Status
from portal.web.badges import COLORS
from tests.portal import factories

pytestmark = pytest.mark.django_db

CHECKED = datetime.datetime(2026, 3, 14, 9, 26, 53, tzinfo=datetime.UTC)
UNKNOWN_DIGEST = "sha256:" + "f00d" * 16
SVG = "{http://www.w3.org/2000/svg}"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def production():
    project = factories.make_project("city-portal", name="City Portal")
    environment = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.0-rc.1")
    factories.make_deployment(environment, release)
    return environment


def set_status(environment, result, reason, **fields):
    Observation.objects.create(
        environment=environment,
        checked_at=CHECKED,
        result=result,
        reason=reason,
        changed_status=True,
        **fields,
    )
    return Status.objects.create(
        environment=environment, result=result, reason=reason, checked_at=CHECKED, **fields
    )


def test_a_red_row_on_the_home_page_shows_the_reported_digest_beside_the_declared_one_and_the_reason(
    client, production
):
    declared = production.deployments.get().release.artifact_digest
    set_status(
        production, "mismatch", "unregistered_artifact", live_digest=UNKNOWN_DIGEST, expected_digest=declared
    )

    html = client.get("/").content.decode()

    row = html[html.index('href="/p/city-portal/production/"') :]
    row = row[: row.index("</tr>")]
    assert "Server reports:" in row and UNKNOWN_DIGEST[:19] in row
    assert "Declared:" in row and declared[:19] in row
    assert row.index(UNKNOWN_DIGEST[:19]) < row.index(declared[:19])
    assert "The server says it runs a version that was never published." in row
    assert "Runs" not in html


def test_a_green_row_on_the_home_page_keeps_it_short(client, production):
    declared = production.deployments.get().release.artifact_digest
    set_status(production, "verified", "", live_digest=declared, expected_digest=declared)

    html = client.get("/").content.decode()

    assert "Server reports:" in html and "Declared:" in html
    assert "reviewed public code" not in html


@pytest.mark.parametrize(("lang", "word"), [("en", "could not verify"), ("es", "no se pudo verificar")])
def test_could_not_verify_is_one_word_and_not_the_mismatch_colour_everywhere(client, production, lang, word):
    set_status(production, "unverifiable", "repo_unreachable")

    page = client.get("/p/city-portal/production/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert "light-amber result-unverifiable" in page and "light-red" not in page
    assert f"> {word}</span>" in page

    badge = ET.fromstring(client.get(f"/badge/city-portal/production.svg?lang={lang}").content)
    fills = [rect.get("fill") for rect in badge.iter(f"{SVG}rect") if rect.get("fill", "").startswith("#")]
    assert [text.text for text in badge.iter(f"{SVG}text")][-1] == word
    assert fills[-1] == COLORS["unverifiable"] != COLORS["mismatch"]

    shields = client.get(f"/badge/city-portal/production.json?format=shields&lang={lang}").json()
    assert shields["message"] == word

    feed = ET.fromstring(client.get("/feeds/status.atom", HTTP_ACCEPT_LANGUAGE=lang).content)
    assert feed.find(f"{ATOM}entry").findtext(f"{ATOM}title").endswith(f": {word}")

    api = client.get("/api/v1/projects/city-portal/").json()
    assert [(env["status"]["light"], env["status"]["result"]) for env in api["environments"]] == [
        ("amber", "unverifiable")
    ]


def test_could_not_verify_says_it_is_not_evidence_of_tampering_and_who_must_act(client, production):
    set_status(production, "unverifiable", "repo_unreachable")

    for url in ("/", "/p/city-portal/", "/p/city-portal/production/"):
        html = client.get(url).content.decode()
        assert "This is not evidence of tampering" in html, url
        assert "the project&#x27;s operators must" in html, url

    message = client.get("/badge/city-portal/production.json").json()["message"]
    assert "This is not evidence of tampering" in message


def test_a_checker_failure_names_the_portal_operators_not_the_project(client, production):
    set_status(production, "unverifiable", "checker_error")

    html = client.get("/p/city-portal/production/").content.decode()

    assert "This is not evidence of tampering" in html
    assert "the operators of this portal must" in html
