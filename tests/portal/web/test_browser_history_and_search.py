"""The home banner, the 90-day bars and the search page in real Chromium at 390 px and 1280 px, in Spanish
and English: nothing wider than the screen, the 90 cells of a bar all visible side by side, and axe finds no
violation. Screenshots are kept (see ``$SCREENSHOT_DIR``)."""

import datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.portal import factories

pytestmark = pytest.mark.browser

SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
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
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    factories.make_deployment(production, release)
    factories.make_deployment(staging, release)
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
    for language in ("es", "en"):
        for screen, options in SCREENS.items():
            context = chromium.new_context(locale=language, **options)
            try:
                page = context.new_page()
                page.goto(url + paths[name])
                width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if width[0] > width[1]:
                    problems.append(f"{language} {screen}: {width[0]} px wide in a {width[1]} px window")
                cells = page.evaluate(VISIBLE_CELLS)
                if name in ("project", "environment") and not cells:
                    problems.append(f"{language} {screen}: no 90-day bar")
                problems += [f"{language} {screen}: {n} of 90 cells visible" for n in cells if n != 90]
                violations = Axe().run(page).response["violations"]
                problems += [
                    f"{language} {screen}: axe {v['id']} on {[n['target'] for n in v['nodes']]}"
                    for v in violations
                ]
                screenshot(page, f"h3-{name}-{language}-{screen}")
            finally:
                context.close()
    assert problems == [], problems
