"""The public pages in real headless Chromium: no CSP violation, readable on a phone, keyboard first,
and an open page that updates itself when a check changes the light."""

import datetime

import pytest

from portal.monitoring.models import Status

pytestmark = pytest.mark.browser


def test_an_open_page_turns_red_by_itself_when_a_check_finds_a_mismatch(open_page, site, screenshot):
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


def test_pages_fit_a_phone_screen_without_sideways_scrolling(open_page, site, screenshot):
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


def test_the_language_switch_works_without_javascript(chromium, site, screenshot):
    url, _ = site
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url + "/p/city-portal/")
    page.get_by_role("link", name="Español").click()
    page.wait_for_url(url + "/p/city-portal/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Rama protegida" in page.content()
    screenshot(page, "web-project-es")
    context.close()
