"""Every public page at 390 px (a phone) and 1280 px (a laptop), in Spanish and English, in real headless
Chromium: the page is never wider than the screen, on a phone no part of the content hides in a box that
scrolls sideways (a reader would never find the column), axe finds no violation of any rule, and the
Spanish page shows no English sentence of the catalog. A full-page screenshot of each is kept (see
``$SCREENSHOT_DIR``)."""

import datetime
import gettext
import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from portal.registry import services
from portal.transparency.services import integrate
from tests.portal import factories
from tests.portal.web.test_translations import CATALOG, english_sentences, untranslated_on

pytestmark = pytest.mark.browser

UTC = datetime.UTC
SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
LANGUAGES = ("es", "en")
DEPLOYED = datetime.datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
# Long unbroken words are what push a phone page sideways: a live URL and a pipeline run URL with no
# hyphen for the browser to break at, and a digest the server reported that nobody published.
LONG_PATH = "/.well-known/vitrina/deploymentstatusreportforthecitizenportalproductioncluster"
LONG_RUN = "https://ci.example.org/cityportal/pipelines/2025/06/01/run000000000000000000000000000077"
UNKNOWN_DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def pages(transactional_db, live_server, log_key_file):
    """One of each public page, with the longest words a real page carries: name -> path."""
    project = factories.make_project(
        "city-portal", name="City Portal", description="Permits and taxes online."
    )
    production = factories.make_environment(
        project, "production", live_url="https://city-portal-production.example.org" + LONG_PATH
    )
    staging = factories.make_environment(project, "staging")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    deployment = factories.make_deployment(
        production, release, deployed_at=DEPLOYED, pipeline_run_url=LONG_RUN
    )
    factories.make_deployment(staging, release, deployed_at=DEPLOYED)
    for n in range(3):
        record(
            production,
            Finding(
                "verified",
                "",
                "",
                live_digest=release.artifact_digest,
                live_release=release,
                expected_release=release,
            ),
            checked_at=DEPLOYED + datetime.timedelta(hours=n + 1),
            duration_ms=40,
        )
    record(
        staging,
        Finding(
            "mismatch",
            "unregistered_artifact",
            "the server reported " + UNKNOWN_DIGEST + ", which no release of this project carries",
            live_digest=UNKNOWN_DIGEST,
            expected_release=release,
        ),
        checked_at=DEPLOYED + datetime.timedelta(hours=1),
        duration_ms=40,
    )
    services.post_note(
        project, environment=staging, kind="investigating", text="Revisando el servidor de pruebas."
    )
    integrate()
    return live_server.url, {
        "home": "/",
        "project": project.get_absolute_url(),
        "environment-green": production.get_absolute_url(),
        "environment-red": staging.get_absolute_url(),
        "environment-past": production.get_absolute_url() + "?date=2025-06-01&time=12:00#past",
        "release": release.get_absolute_url(),
        "deployment": deployment.get_absolute_url(),
        "log": "/log/",
        "verify": "/verify/",
        "api-docs": "/api/v1/docs/",
        "not-found": "/p/no-such-project/",
        "search": "/search/?q=2.4.1",
        "search-tamper": "/search/?q=" + UNKNOWN_DIGEST,
        "search-bad": "/search/?q=%3Cscript%3E",
        "subscribe": "/subscribe/?project=city-portal",
    }


# The boxes in the content that scroll sideways: on a phone a column in one of them is off-screen.
SCROLLERS = """[...document.querySelectorAll("#main *")]
    .filter(e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX))
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => e.tagName.toLowerCase() + "." + e.className + " " + e.scrollWidth + ">" + e.clientWidth)"""
PAGE_NAMES = (
    "home",
    "project",
    "environment-green",
    "environment-red",
    "environment-past",
    "release",
    "deployment",
    "log",
    "verify",
    "api-docs",
    "not-found",
    "search",
    "search-tamper",
    "search-bad",
    "subscribe",
)
# Text shown as is in any language: addresses, digests and hex, commands, paths and the API's own words
# (Swagger UI and the schema are English for every reader, and the page says so with lang="en").
_AS_IS = re.compile(r"\S*(?:https?://|/|sha256:|\.py\b|--)\S*|\b[0-9a-f]{7,}\b")
VISIBLE_SPANISH_TEXT = """[...document.querySelectorAll("body *")]
    .filter(e => !e.closest('[lang]:not([lang="es"])') && !["SCRIPT", "STYLE"].includes(e.tagName))
    .flatMap(e => [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent))
    .join(" ")"""


@pytest.fixture(scope="module")
def english():
    with open(CATALOG, "rb") as f:
        return english_sentences(gettext.GNUTranslations(f))


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_the_page_fits_phone_and_laptop_screens_in_both_languages(name, pages, chromium, screenshot, english):
    url, paths = pages
    problems = []
    for language in LANGUAGES:
        for screen, options in SCREENS.items():
            context = chromium.new_context(locale=language, **options)
            try:
                page = context.new_page()
                page.goto(url + paths[name])
                width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if width[0] > width[1]:
                    problems.append(f"{language} {screen}: {width[0]} px wide in a {width[1]} px window")
                screenshot(page, f"fit-{name}-{language}-{screen}")
                if screen == "phone":
                    problems += [
                        f"{language} {screen}: {box} scrolls sideways" for box in page.evaluate(SCROLLERS)
                    ]
                problems += [
                    f"{language} {screen}: axe {v['id']} on {[n['target'] for n in v['nodes']]}"
                    for v in Axe().run(page).response["violations"]
                ]
                if language == "es":
                    assert page.evaluate("document.documentElement.lang") == "es"
                    text = " ".join(_AS_IS.sub(" ", page.evaluate(VISIBLE_SPANISH_TEXT)).split())
                    problems += [
                        f"{language} {screen}: untranslated {msgid!r}"
                        for msgid in untranslated_on(text, english)
                    ]
            finally:
                context.close()
    assert problems == [], problems
