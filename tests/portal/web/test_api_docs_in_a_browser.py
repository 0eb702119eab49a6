"""The API docs page in real headless Chromium, at 390 px and 1280 px in Spanish and English: Swagger UI
draws every operation, nothing is wider than the screen, nothing is refused by the CSP, and axe finds no
violation with every one of its rules switched on. A screenshot of each is kept (see ``$SCREENSHOT_DIR``)."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = pytest.mark.browser


# axe with every rule it has switched on, the AAA ones (7:1 contrast) and the experimental ones included.
EVERY_RULE = "axe.getRules().map(rule => rule.ruleId)"
SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}


def every_rule_violation(page):
    axe = Axe()
    page.evaluate(axe.axe_script)
    rules = {rule: {"enabled": True} for rule in page.evaluate(EVERY_RULE)}
    violations = axe.run(page, options={"rules": rules}).response["violations"]
    return [f"{v['id']} on {[node['target'] for node in v['nodes']][:3]}" for v in violations]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("language", ["es", "en"])
def test_axe_finds_nothing_on_the_docs_page_with_every_rule(
    live_server,
    chromium,
    screenshot,
    screen,
    language,
):
    context = chromium.new_context(locale=language, **SCREENS[screen])
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(f"{live_server.url}/api/v1/docs/")
        page.wait_for_selector("#operations .opblock", timeout=15000)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        screenshot(page, f"api-docs-{language}-{screen}")

        assert page.locator("html").get_attribute("lang") == language
        assert page.locator(".opblock").count() >= 26
        assert width[0] <= width[1], f"{width[0]} px wide in a {width[1]} px window"
        assert every_rule_violation(page) == []
        assert errors == []
    finally:
        context.close()
