"""Fixtures for the browser tests: one headless Chromium per run, pages that collect console errors
(CSP violations are reported there), and full-page screenshots under ``$SCREENSHOT_DIR``
(default ``test-artifacts/screenshots``), whose folder is named once at the end of the run."""

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import needs
from tests.portal import factories

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots")
)
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make are still safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

_taken = []


def pytest_terminal_summary(terminalreporter):
    if _taken:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"{len(_taken)} screenshots saved in {SCREENSHOT_DIR}")


@pytest.fixture(scope="session")
def chromium():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        needs.missing(f"Chromium not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium):
    """Open a URL in a fresh browser context; ``page.errors`` collects console errors and page errors."""
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


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves a full-page PNG named ``name`` and returns its path.

    A bare SVG document has no scrollable page to measure (Chromium never finishes a full-page shot of
    one), so it takes ``full_page=False`` and a viewport that fits it.
    """

    def take(page, name, full_page=True):
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        _taken.append(path)
        return path

    return take
