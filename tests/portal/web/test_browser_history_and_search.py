"""The home banner, the 90-day bars and the search page in real Chromium at 390 px and 1280 px, in Spanish
and English: nothing wider than the screen, the 90 cells of a bar all visible side by side, and axe finds no
violation. Screenshots are kept (see ``$SCREENSHOT_DIR``)."""

import datetime

import pytest
from django.utils import timezone

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.helpers.screens import NOT_YET_MET, axe_violations, each_screen, too_wide
from tests.portal import factories

pytestmark = pytest.mark.browser

UNKNOWN_DIGEST = "sha256:" + "ab" * 32
# For each bar on the page, how many of its cells have a width and end inside the window.
VISIBLE_CELLS = """[...document.querySelectorAll('.days')].map(bar => [...bar.children]
    .map(cell => cell.getBoundingClientRect())
    .filter(box => box.width > 0 && box.right <= innerWidth).length)"""


@pytest.fixture
def pages(transactional_db, live_server):
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    staging = factories.make_environment(project, "staging")
    release = factories.make_deployed_release(project, "2.4.1", production, staging)
    now = timezone.now()
    verified = Finding("verified", "", "", live_digest=release.artifact_digest, live_release=release)
    unregistered = Finding(
        "mismatch",
        "unregistered_artifact",
        "unknown digest",
        live_digest=UNKNOWN_DIGEST,
        expected_release=release,
    )
    timeout = Finding("unverifiable", "timeout", "timed out")
    for days_ago, environment, finding in [
        (40, production, verified),
        (12, production, timeout),
        (11.9, production, verified),
        (30, staging, verified),
        (0.2, staging, unregistered),
    ]:
        record(environment, finding, checked_at=now - datetime.timedelta(days=days_ago), duration_ms=40)
    return live_server.url, {
        "home": "/",
        "project": project.get_absolute_url(),
        "environment": production.get_absolute_url(),
        "search": f"/search/?q={release.artifact_digest[:19]}",
        "search-tamper": f"/search/?q={UNKNOWN_DIGEST}",
        "search-bad": "/search/?q=%3Cscript%3E",
    }


@pytest.mark.parametrize("name", ["home", "project", "environment", "search", "search-tamper", "search-bad"])
def test_the_page_fits_and_is_accessible_on_phone_and_laptop(name, pages, chromium, screenshot):
    url, paths = pages
    problems = []
    for language, screen, page in each_screen(chromium):
        page.goto(url + paths[name])
        cells = page.evaluate(VISIBLE_CELLS)
        found = too_wide(page) + [f"{n} of 90 cells visible" for n in cells if n != 90]
        if name in ("project", "environment") and not cells:
            found.append("no 90-day bar")
        found += axe_violations(page, but=NOT_YET_MET)
        screenshot(page, f"h3-{name}-{language}-{screen}")
        problems += [f"{language} {screen}: {problem}" for problem in found]
    assert problems == [], problems
