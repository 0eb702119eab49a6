"""The screens and languages a page is read in, and the checks every browser test makes of a page on each.

``each_screen`` opens a page in Spanish and English on a phone (390 px, touch) and a laptop (1280 px) and
closes each browser context even when the test fails inside the loop. ``too_wide``, ``sideways_scrollers``
and ``axe_violations`` return what is wrong as sentences a reader can act on, ``[]`` when nothing is, so a
test collects every problem of every screen and asserts once.
"""

from contextlib import contextmanager

from axe_playwright_python.sync_playwright import Axe

SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
LANGUAGES = ("es", "en")

# The boxes in the content that scroll sideways: on a phone a column in one of them is off-screen.
_SCROLLERS = """[...document.querySelectorAll("#main *")]
    .filter(e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX))
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => e.tagName.toLowerCase() + "." + e.className + " " + e.scrollWidth + ">" + e.clientWidth)"""
# Every rule axe has switched on, the AAA ones (7:1 contrast) and the experimental ones included.
_EVERY_RULE = "axe.getRules().map(rule => rule.ruleId)"
# The rules the site's pages do not meet yet, for the tests of those pages to name. The words of a light,
# a strip cell or a form error on its tinted background are 5.5:1 (grey), 6.6:1 (green) and 6.9:1 (red):
# over WCAG AA's 4.5:1, under the AAA 7:1 that static/css/vitrina.css promises for its text colours.
NOT_YET_MET = ("color-contrast-enhanced",)


@contextmanager
def screen_page(chromium, language, screen, **context_options):
    """A page in a fresh context with ``language``'s locale on ``screen`` (a key of ``SCREENS``).

    ``page.errors`` collects console errors (the CSP reports there) and uncaught page errors. The context
    is closed on leaving the block, however it is left.
    """
    context = chromium.new_context(locale=language, **SCREENS[screen], **context_options)
    try:
        page = context.new_page()
        page.errors = []
        page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        yield page
    finally:
        context.close()


def each_screen(chromium, languages=LANGUAGES, screens=SCREENS):
    """Yield ``(language, screen, page)`` for every language on every screen, a fresh context each.

    Each context is closed before the next opens, and when the loop is left by an exception or a
    ``break`` (the generator is closed then, and closes the open context).
    """
    for language in languages:
        for screen in screens:
            with screen_page(chromium, language, screen) as page:
                yield language, screen, page


def too_wide(page):
    """``["1200 px wide in a 390 px window"]`` when the page is wider than its window, else ``[]``.

    The window is the layout viewport (the root's ``clientWidth``), not ``innerWidth``: a phone zooms out
    to show a page wider than the screen, and ``innerWidth`` grows with it (up to four screens wide).
    """
    width, window = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return [f"{width} px wide in a {window} px window"] if width > window else []


def sideways_scrollers(page):
    """The boxes in ``#main`` whose content scrolls sideways, as ``"pre.x 600>390 scrolls sideways"``.

    On a phone such a box hides part of a column where a reader would never find it.
    """
    return [f"{box} scrolls sideways" for box in page.evaluate(_SCROLLERS)]


def axe_violations(page, but=()):
    """What axe finds with every one of its rules switched on but the rules named in ``but``.

    Each violation reads ``"axe <rule> on <its first three targets>"``.
    """
    axe = Axe()
    page.evaluate(axe.axe_script)
    rules = {rule: {"enabled": rule not in but} for rule in page.evaluate(_EVERY_RULE)}
    response = axe.run(page, options={"resultTypes": ["violations"], "rules": rules}).response
    return [f"axe {v['id']} on {[node['target'] for node in v['nodes']][:3]}" for v in response["violations"]]
