"""The subscription pages in real Chromium, at 390 px and 1280 px, in Spanish and English: subscribe with
the form, confirm with the button on the page the email's link opens, unsubscribe with the button on the
page its unsubscribe link opens. Each page fits the screen, runs under the CSP without an error, and axe
finds no violation. Screenshots are kept (see ``$SCREENSHOT_DIR``).

The email is read from Django's locmem backend (``mail.outbox``): the SMTP server is outside Vitrina.
"""

import re

import pytest
from django.core import mail

from portal.monitoring.models import Subscriber
from tests.helpers.screens import SCREENS, axe_violations, too_wide
from tests.portal import factories

pytestmark = pytest.mark.browser

WORDS = {
    "es": ("Suscribirse", "Revise su bandeja de entrada", "Confirmar", "Está suscrito", "Darse de baja"),
    "en": ("Subscribe", "Check your inbox", "Confirm", "You are subscribed", "Unsubscribe"),
}


@pytest.fixture
def site(transactional_db, live_server, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = live_server.url
    factories.make_project("city-portal", name="City Portal")
    return live_server.url


def fits_and_is_clean(page):
    """Problems of the page: wider than the screen, console errors (CSP), axe violations."""
    return too_wide(page) + [f"console: {error}" for error in page.errors] + axe_violations(page)


@pytest.mark.parametrize("language", WORDS)
@pytest.mark.parametrize("screen", SCREENS)
def test_subscribe_confirm_and_unsubscribe_in_the_browser(site, open_page, screenshot, language, screen):
    subscribe, check_inbox, confirm, subscribed, unsubscribe = WORDS[language]
    email = f"{language}-{screen}@example.org"
    problems = []

    page = open_page(site + "/subscribe/?project=city-portal", locale=language, **SCREENS[screen])
    assert page.locator("select").input_value() == "city-portal"
    problems += fits_and_is_clean(page)
    screenshot(page, f"subscribe-form-{language}-{screen}")
    page.fill("input[type=email]", email)
    page.get_by_role("button", name=subscribe, exact=True).click()
    assert check_inbox in page.inner_text("main")
    problems += fits_and_is_clean(page)
    screenshot(page, f"subscribe-sent-{language}-{screen}")

    [message] = [m for m in mail.outbox if m.to == [email]]
    confirm_link = re.search(r"\S+/subscribe/confirm/\S+", message.body).group(0)
    page.goto(confirm_link)
    problems += fits_and_is_clean(page)
    screenshot(page, f"subscribe-confirm-{language}-{screen}")
    assert Subscriber.objects.get(email=email).confirmed_at is None
    page.get_by_role("button", name=confirm, exact=True).click()
    assert subscribed in page.inner_text("main")
    assert Subscriber.objects.get(email=email).confirmed_at is not None

    subscriber = Subscriber.objects.get(email=email)
    page.goto(subscriber.unsubscribe_url())
    problems += fits_and_is_clean(page)
    screenshot(page, f"subscribe-stop-{language}-{screen}")
    page.get_by_role("button", name=unsubscribe, exact=True).click()
    problems += fits_and_is_clean(page)
    assert not Subscriber.objects.filter(email=email).exists()
    assert email not in page.content()
    assert problems == [], problems
