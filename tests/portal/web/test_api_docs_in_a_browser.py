"""The API docs page in real headless Chromium, at 390 px and 1280 px in Spanish and English: Swagger UI
draws every operation, nothing is wider than the screen, nothing is refused by the CSP, and axe finds no
violation with every one of its rules switched on. A screenshot of each is kept (see ``$SCREENSHOT_DIR``)."""

import pytest

from tests.helpers.screens import LANGUAGES, SCREENS, axe_violations, screen_page, too_wide

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_axe_finds_nothing_on_the_docs_page_with_every_rule(
    live_server,
    chromium,
    screenshot,
    screen,
    language,
):
    with screen_page(chromium, language, screen) as page:
        page.goto(f"{live_server.url}/api/v1/docs/")
        page.wait_for_selector("#operations .opblock", timeout=15000)
        screenshot(page, f"api-docs-{language}-{screen}")

        assert page.locator("html").get_attribute("lang") == language
        assert page.locator(".opblock").count() >= 26
        assert too_wide(page) == []
        assert axe_violations(page) == []
        assert page.errors == []
