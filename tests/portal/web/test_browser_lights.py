"""The home page's lights in real Chromium, at a phone's width and a laptop's, in both languages: a red
row says why beside what the server reports and what was declared, "could not verify" is amber (not the
mismatch red) and says it is not evidence of tampering, and axe finds no violation of any rule but those the
site does not meet yet (``NOT_YET_MET``)."""

import datetime

import pytest

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.helpers.screens import LANGUAGES, NOT_YET_MET, SCREENS, axe_violations, screen_page
from tests.portal import factories

pytestmark = pytest.mark.browser

CHECKED = datetime.datetime(2026, 3, 14, 9, 0, tzinfo=datetime.UTC)
UNKNOWN_DIGEST = "sha256:" + "f00d" * 16
WORDS = {
    "en": ("Server reports:", "never published", "could not verify", "not evidence of tampering"),
    "es": (
        "El servidor informa:",
        "nunca se publicó",
        "no se pudo verificar",
        "no es prueba de una manipulación",
    ),
}


@pytest.fixture
def home(transactional_db, live_server, log_key_file):
    """Production could not be checked (its repository is out of reach); staging runs an unknown digest."""
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    staging = factories.make_environment(project, "staging")
    release = factories.make_deployed_release(project, "2.4.0-rc.1", production, staging)
    record(
        production,
        Finding("unverifiable", "repo_unreachable", "", live_digest=release.artifact_digest),
        checked_at=CHECKED,
        duration_ms=40,
    )
    record(
        staging,
        Finding("mismatch", "unregistered_artifact", "unknown digest", live_digest=UNKNOWN_DIGEST),
        checked_at=CHECKED,
        duration_ms=40,
    )
    return live_server.url, release


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen", SCREENS)
def test_red_rows_say_why_and_could_not_verify_is_amber(home, chromium, screenshot, language, screen):
    url, release = home
    reports, never_published, could_not_verify, not_evidence = WORDS[language]
    with screen_page(chromium, language, screen) as page:
        page.goto(url + "/")
        # Environment names are shown in the reader's words (staging: preproducción in Spanish).
        names = {"en": ("staging", "production"), "es": ("preproducción", "producción")}[language]
        red, amber = (
            page.locator("tr").filter(has=page.get_by_role("link", name=name, exact=True)) for name in names
        )

        assert red.locator(".reason").is_visible() and never_published in red.inner_text()
        assert reports in red.inner_text() and UNKNOWN_DIGEST[:19] in red.inner_text()
        assert release.artifact_digest[:19] in red.inner_text()
        assert amber.locator(".light").inner_text().strip() == could_not_verify
        assert not_evidence in amber.inner_text()
        colours = [
            row.locator(".light").evaluate("e => getComputedStyle(e).backgroundColor") for row in (red, amber)
        ]
        assert colours[0] != colours[1], colours
        screenshot(page, f"lights-home-{language}-{screen}")
        assert axe_violations(page, but=NOT_YET_MET) == []
