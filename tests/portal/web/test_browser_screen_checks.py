"""The checks every browser test makes of a page (tests/helpers/screens.py), held to a page built to fail
them: each names what is wrong, axe runs with every rule (AAA contrast too), and ``each_screen`` reads
every language on every screen and leaves no browser context open when a test fails inside its loop."""

import pytest

from tests.helpers.screens import (
    LANGUAGES,
    NOT_YET_MET,
    SCREENS,
    axe_violations,
    each_screen,
    screen_page,
    sideways_scrollers,
    too_wide,
)

pytestmark = pytest.mark.browser

# A phone lays a page out at the screen's width only when the page asks (the meta viewport). The bad page
# is wider than a phone, has a box in the content that scrolls sideways, and grey words on white that pass
# AA (4.5:1) but not AAA (7:1) contrast. Inline styles are fine here: set_content has no CSP.
HEAD = '<head><meta name="viewport" content="width=device-width, initial-scale=1"><title>Page</title></head>'
BAD_PAGE = f"""<!doctype html><html lang="en">{HEAD}<body style="margin: 0">
<main id="main">
  <h1>Bad</h1>
  <div class="wide" style="width: 800px">wide</div>
  <div class="scroller" style="overflow-x: auto; width: 200px"><p style="width: 600px">column</p></div>
  <p style="color: #767676; background: #ffffff">Grey words.</p>
</main></body></html>"""
GOOD_PAGE = f"""<!doctype html><html lang="en">{HEAD}<body>
<main id="main"><h1>Good</h1><p>Black words on white.</p></main></body></html>"""


def test_each_check_names_what_is_wrong_with_a_page(chromium):
    with screen_page(chromium, "en", "phone") as page:
        page.set_content(BAD_PAGE)
        assert too_wide(page) == ["800 px wide in a 390 px window"]
        assert sideways_scrollers(page) == ["div.scroller 600>200 scrolls sideways"]
        assert [problem.split()[1] for problem in axe_violations(page)] == ["color-contrast-enhanced"]
        assert axe_violations(page, but=NOT_YET_MET) == []
        page.set_content(GOOD_PAGE)
        assert too_wide(page) + sideways_scrollers(page) + axe_violations(page) == []


def test_each_screen_reads_every_language_on_every_screen(chromium):
    seen = []
    for language, screen, page in each_screen(chromium):
        page.set_content(GOOD_PAGE)
        seen.append(
            (
                language,
                screen,
                page.evaluate("[navigator.language, innerWidth, navigator.maxTouchPoints > 0]"),
            )
        )
    assert seen == [
        (language, screen, [language, SCREENS[screen]["viewport"]["width"], screen == "phone"])
        for language in LANGUAGES
        for screen in SCREENS
    ]
    assert chromium.contexts == []


def test_each_screen_closes_its_context_when_the_test_fails_inside_the_loop(chromium):
    with pytest.raises(AssertionError):
        for _, screen, _ in each_screen(chromium):
            assert chromium.contexts, "a page without its context"
            assert screen != "desktop"
    assert chromium.contexts == []
