"""The public pages in real headless Chromium: no CSP violation, readable on a phone, keyboard first,
and an open page that updates itself when a check changes the light."""

import datetime
import os
import shutil
from pathlib import Path

import pytest

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots")
)
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def chromium():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required under CI but {CHROMIUM} is missing")
        pytest.skip(f"Chromium not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium):
    """Open a URL and collect console errors (CSP violations are reported there)."""
    contexts = []

    def go(url, **context_options):
        context = chromium.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.clock.install()
        page.goto(url)
        return page

    yield go
    for context in contexts:
        context.close()


@pytest.fixture
def site(transactional_db, live_server):
    project = factories.make_project(
        "city-portal", name="City Portal", description="Permits and taxes online."
    )
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    factories.make_deployment(production, release, pipeline_run_url="https://ci.example.org/runs/77")
    return live_server.url, production


def screenshot(page, name):
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)


def test_an_open_page_turns_red_by_itself_when_a_check_finds_a_mismatch(open_page, site):
    url, production = site
    page = open_page(url + production.get_absolute_url(), viewport={"width": 1200, "height": 900})
    assert page.locator(".status-line .light").inner_text().strip() == "not yet checked"
    Status.objects.create(
        environment=production,
        result="mismatch",
        reason="unregistered_artifact",
        checked_at=datetime.datetime.now(datetime.UTC),
    )
    page.clock.run_for(31_000)

    from playwright.sync_api import expect

    expect(page.locator(".status-line .light")).to_contain_text("mismatch")
    assert "never published" in page.locator(".status-line").inner_text()
    screenshot(page, "web-environment-mismatch")
    assert page.errors == []


def test_pages_fit_a_phone_screen_without_sideways_scrolling(open_page, site):
    url, production = site
    for path, name in (("/", "home"), (production.get_absolute_url(), "environment"), ("/verify/", "verify")):
        page = open_page(url + path, viewport={"width": 360, "height": 740}, is_mobile=True)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        screenshot(page, f"web-phone-{name}")
        assert page.errors == []


def test_the_first_tab_reaches_the_skip_link_which_moves_to_the_content(open_page, site):
    url, _ = site
    page = open_page(url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_language_switch_works_without_javascript(chromium, site):
    url, _ = site
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url + "/p/city-portal/")
    page.get_by_role("button", name="Español").click()
    page.wait_for_url(url + "/p/city-portal/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Rama protegida" in page.content()
    screenshot(page, "web-project-es")
    context.close()
