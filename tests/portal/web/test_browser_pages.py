"""Each public page in real headless Chromium, the way a reader meets it: a full-page screenshot of each
(see ``$SCREENSHOT_DIR``), no console error (a CSP violation is one), and the words that matter on it."""

import datetime

import pytest
from playwright.sync_api import expect

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.portal import factories

pytestmark = pytest.mark.browser

UTC = datetime.UTC
DESKTOP = {"viewport": {"width": 1200, "height": 900}}
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True}
FIRST_DEPLOY = datetime.datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
SECOND_DEPLOY = datetime.datetime(2025, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def watched(transactional_db, live_server, log_key_file):
    """Production green after two releases and thirty checks, staging red: a site with a history."""
    project = factories.make_project(
        "city-portal", name="City Portal", description="Permits and taxes online."
    )
    production = factories.make_environment(project, "production")
    staging = factories.make_environment(project, "staging")
    private_key, _ = factories.make_key(project)
    first = factories.make_release(project, private_key, "2.4.1")
    second = factories.make_release(project, private_key, "2.5.0")
    factories.make_deployment(production, first, deployed_at=FIRST_DEPLOY)
    factories.make_deployment(staging, first, deployed_at=FIRST_DEPLOY)
    factories.make_deployment(
        production, second, deployed_at=SECOND_DEPLOY, pipeline_run_url="https://ci.example.org/runs/78"
    )
    for n in range(30):
        trouble = n in (11, 12, 20)
        record(
            production,
            Finding(
                "unverifiable" if trouble else "verified",
                "timeout" if trouble else "",
                "",
                live_digest="" if trouble else second.artifact_digest,
                live_release=None if trouble else second,
                expected_release=second,
            ),
            checked_at=SECOND_DEPLOY + datetime.timedelta(hours=n),
            duration_ms=40,
        )
    record(
        staging,
        Finding(
            "mismatch",
            "unregistered_artifact",
            "unknown digest",
            live_digest="sha256:" + "ab" * 32,
            expected_release=first,
        ),
        checked_at=SECOND_DEPLOY,
        duration_ms=40,
    )
    factories.sequenced_entries()  # a history of months: every entry has its index
    return live_server.url, project, production, staging, second


def no_errors(page):
    assert page.errors == [], page.errors


def test_the_home_page_shows_a_green_and_a_red_environment(open_page, watched, screenshot):
    url, *_ = watched
    page = open_page(url + "/", **DESKTOP)
    expect(page.locator("tr", has_text="production").locator(".light")).to_have_text("verified")
    expect(page.locator("tr", has_text="staging").locator(".light")).to_have_text("mismatch")
    # One green and one red row (the summary banner above the table counts them too).
    assert page.locator("tr .light-green img").count() == 1 and page.locator("tr .light-red img").count() == 1
    screenshot(page, "pages-home")
    no_errors(page)


def test_a_green_environment_shows_its_strip_of_checks_and_its_timeline(open_page, watched, screenshot):
    url, _, production, *_ = watched
    page = open_page(url + production.get_absolute_url(), **DESKTOP)
    expect(page.locator(".status-line .light")).to_have_text("verified")
    cells = page.locator(".check-strip .cell")
    expect(cells).to_have_count(30)
    assert page.locator(".check-strip .cell-amber").count() == 3  # the three timeouts: could not verify
    # Newest first: the timeouts were checks 11, 12 and 20 of 30, so cells 9, 17 and 18 from the left.
    assert "could not verify" in cells.nth(9).locator("img").get_attribute("alt")
    assert "verified" in cells.first.locator("img").get_attribute("alt")
    timeline = page.locator(".timeline .event")
    expect(timeline.first).to_contain_text("Status changed")
    expect(page.locator(".timeline .event-deployment")).to_have_count(2)
    screenshot(page, "pages-environment-green")
    no_errors(page)


def test_a_red_environment_says_why_in_words(open_page, watched, screenshot):
    url, *_, staging, _ = watched
    page = open_page(url + staging.get_absolute_url(), **DESKTOP)
    expect(page.locator(".status-line .light")).to_have_text("mismatch")
    expect(page.locator(".status-line")).to_contain_text("never published")
    screenshot(page, "pages-environment-red")
    no_errors(page)


def test_clicking_the_language_switch_turns_the_page_spanish(open_page, watched, screenshot):
    url, _, production, *_ = watched
    page = open_page(url + production.get_absolute_url(), **DESKTOP)
    page.get_by_role("link", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator(".status-line .light")).to_have_text("verificado")
    expect(page.locator("#past-heading")).to_have_text("¿Qué se ejecutaba en un momento dado?")
    screenshot(page, "pages-environment-es")
    no_errors(page)


def test_the_badge_renders_with_its_words(open_page, watched, screenshot):
    url, project, production, *_ = watched
    page = open_page(
        f"{url}/badge/{project.slug}/{production.name}.svg", viewport={"width": 240, "height": 40}
    )
    badge = page.locator("svg")
    expect(badge).to_have_attribute("role", "img")
    assert badge.get_attribute("aria-label") == "production: verified"
    assert [text.strip() for text in page.locator("svg text").all_text_contents()] == [
        "production",
        "verified",
    ]
    box = badge.bounding_box()
    assert box["width"] > 50 and box["height"] == 20
    screenshot(page, "pages-badge", full_page=False)
    # A bare SVG document has no <link rel="icon">, so Chromium asks for /favicon.ico: that 404 only.
    assert all("404" in error for error in page.errors), page.errors


def test_the_time_travel_form_answers_without_javascript_tricks(open_page, watched, screenshot):
    url, _, production, *_ = watched
    page = open_page(url + production.get_absolute_url(), **DESKTOP)
    page.get_by_label("Date").fill("2025-04-15")
    page.get_by_label("Time (America/Montevideo)").fill("12:30")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**date=2025-04-15&time=12%3A30#past")
    answer = page.locator(".answer")
    expect(answer).to_contain_text("Version 2.4.1 was the deployment in force.")
    expect(answer.locator('a[href^="/api/v1/log/entries/"]').first).to_be_visible()
    expect(page.get_by_label("Date")).to_have_value("2025-04-15")
    screenshot(page, "pages-time-travel")
    no_errors(page)


def test_a_time_travel_question_about_the_future_is_refused_on_the_page(open_page, watched, screenshot):
    url, _, production, *_ = watched
    page = open_page(url + production.get_absolute_url() + "?date=2999-01-01&time=00:00#past", **PHONE)
    expect(page.locator(".form-error")).to_contain_text("That moment is in the future")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "pages-time-travel-refused-phone")
    # The 400 itself is reported by Chromium as a failed resource; nothing else may be.
    assert all("400" in error for error in page.errors), page.errors


def test_the_time_travel_answer_fits_a_phone(open_page, watched, screenshot):
    url, _, production, *_ = watched
    page = open_page(url + production.get_absolute_url() + "?date=2025-07-01&time=09:00#past", **PHONE)
    expect(page.locator(".answer")).to_contain_text("Version 2.5.0 was the deployment in force.")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "pages-time-travel-phone")
    no_errors(page)


def test_the_verify_page_leads_to_each_releases_ready_commands(open_page, watched, screenshot):
    url, *_, release = watched
    for name, options in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(url + "/verify/", **options)
        expect(page.locator("pre.log-key")).to_contain_text("vitrina.example/log+")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, f"pages-verify-{name}")
        page.locator(f'a[href="{release.get_absolute_url()}#verify"]').click()
        commands = page.locator("#verify pre.command").all_inner_texts()
        assert any(f"/api/v1/releases/{release.pk}/bundle" in command for command in commands)
        assert any("--artifact app.tar.gz" in command for command in commands)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        no_errors(page)


def test_the_release_page_says_what_changed(open_page, watched, screenshot):
    url, _, _, _, release = watched
    page = open_page(url + release.get_absolute_url(), **DESKTOP)
    expect(page.locator("#changes-heading")).to_have_text("What changed since the previous release")
    expect(
        page.get_by_role("link", name="See every change between the two on the repository host")
    ).to_be_visible()
    screenshot(page, "pages-release")
    no_errors(page)
