"""The environment page on a 390 px touch screen: a tap on a cell of the strip of checks opens that check's
details, the keyboard opens and closes them too, axe finds nothing; refresh.js keeps "how long ago" current
and announces the light (the only aria-live part) only when its words change."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.helpers.screens import NOT_YET_MET, axe_violations, screen_page, too_wide
from tests.portal import factories

pytestmark = pytest.mark.browser

WORDS = {
    "en": ("The last 12 checks, newest first", "could not verify", "verified", "mismatch", "5 minutes ago"),
    "es": (
        "Las últimas 12 comprobaciones, la más reciente primero",
        "no se pudo verificar",
        "verificado",
        "no coincide",
        "hace 5 minutos",
    ),
}


@pytest.fixture
def checked(transactional_db, live_server, log_key_file):
    """Production checked twelve times, a minute apart: green, but the newest check timed out."""
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    release = factories.make_deployed_release(project, "2.4.1", production)
    now = timezone.now()
    for n in range(12):
        newest = n == 11
        record(
            production,
            Finding("unverifiable", "timeout", "timed out")
            if newest
            else Finding("verified", "", "ok", live_digest=release.artifact_digest, live_release=release),
            checked_at=now - datetime.timedelta(minutes=11 - n),
            duration_ms=10,
        )
    return live_server.url + production.get_absolute_url(), production, release


@pytest.mark.parametrize("language", WORDS)
def test_a_tap_on_the_newest_cell_shows_its_details_on_a_phone(checked, chromium, screenshot, language):
    url, *_ = checked
    hint, could_not_verify, *_ = WORDS[language]
    with screen_page(chromium, language, "phone") as page:
        page.goto(url)
        expect(page.locator("#strip-hint")).to_contain_text(hint)
        newest = page.locator(".check-strip .cell").first
        details = page.locator(".check-details").first
        expect(details).to_be_hidden()
        newest.tap()
        expect(details).to_be_visible()
        expect(details.locator(".light")).to_have_text(could_not_verify)
        expect(details.locator("time")).to_contain_text("(UTC−3)")
        box = details.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert too_wide(page) == []
        screenshot(page, f"check-strip-details-{language}-390", full_page=False)
        assert axe_violations(page, but=NOT_YET_MET) == []
        details.get_by_role("button").tap()
        expect(details).to_be_hidden()


def test_the_keyboard_opens_and_closes_a_cell_s_details(checked, open_page):
    url, *_ = checked
    page = open_page(url, viewport={"width": 1280, "height": 900}, locale="en")
    cell = page.locator(".check-strip .cell").nth(1)
    cell.focus()
    page.keyboard.press("Enter")
    details = page.locator(".check-details").nth(1)
    expect(details).to_be_visible()
    expect(details.locator(".light")).to_have_text("verified")
    page.keyboard.press("Escape")
    expect(details).to_be_hidden()
    assert page.errors == [], page.errors


def test_refresh_announces_the_light_only_when_its_words_change(checked, open_page):
    url, production, release = checked
    page = open_page(url, viewport={"width": 390, "height": 844}, locale="en")
    live = page.locator("[aria-live]")
    expect(live).to_have_count(1)
    expect(live).to_have_attribute("id", "status-light")
    page.evaluate(
        """() => {
        const live = document.getElementById("status-light");
        live.dataset.seen = "first";
        window.liveChanges = 0;
        new MutationObserver((records) => { window.liveChanges += records.length; })
            .observe(live, { childList: true, subtree: true, characterData: true, attributes: true });
    }"""
    )

    def next_round(milliseconds=30_000):
        with page.expect_response(lambda response: response.url == url and response.status == 200):
            page.clock.fast_forward(milliseconds)
        page.wait_for_timeout(300)

    next_round(90_000)  # "how long ago" changed on the page; the light did not
    expect(page.locator("#status-environment time .ago").first).to_have_text("1 minute ago")
    assert page.evaluate("window.liveChanges") == 0
    record(
        production,
        Finding("mismatch", "unregistered_artifact", "unknown", live_digest="sha256:" + "cd" * 32),
        checked_at=timezone.now(),
        duration_ms=10,
    )
    next_round()
    expect(page.locator("#status-light .light")).to_have_text("mismatch")
    assert page.evaluate("document.getElementById('status-light').dataset.seen") == "first"  # the same node
    assert page.evaluate("window.liveChanges") > 0
    expect(page.locator(".check-strip .cell").first).to_have_class("cell cell-red")
    assert page.errors == [], page.errors


@pytest.mark.parametrize("language", WORDS)
def test_how_long_ago_is_counted_again_in_the_page_language(checked, open_page, language):
    url, *_ = checked
    *_, five_minutes_ago = WORDS[language]
    page = open_page(url, viewport={"width": 390, "height": 844}, locale=language)
    last_checked = page.locator("#status-environment section p", has=page.locator("time")).first.locator(
        ".ago"
    )
    expect(last_checked).to_have_text("now" if language == "en" else "ahora")
    page.clock.fast_forward("05:00")
    expect(last_checked).to_have_text(five_minutes_ago)
    assert page.errors == [], page.errors
