"""An operator's note beside the lights, in real headless Chromium at 390 px and 1280 px, in Spanish and
English: the environment, home and project pages stay within the screen with a long note, axe finds no
violation, and the note reads in the reader's language around the operator's own words. Screenshots kept."""

import datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from portal.monitoring.models import Status
from portal.transparency.services import integrate
from tests.portal import factories

pytestmark = pytest.mark.browser

SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
# As long as a note may be, with a long unbroken word (an address) that must wrap on a phone.
TEXT = ("Mantenimiento programado de la base de datos; detalles en https://estado.example.org/" + "x" * 90)[
    :280
]
KIND_WORDS = {
    "es": "Nota del operador · Mantenimiento programado",
    "en": "Operator's note · Scheduled maintenance",
}


@pytest.fixture
def noted(transactional_db, live_server, log_key_file):
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    Status.objects.create(environment=production, result="verified", checked_at=timezone.now())
    factories.make_note(project, production, text=TEXT, ends_at=timezone.now() + datetime.timedelta(hours=2))
    integrate()
    return live_server.url, {
        "environment": production.get_absolute_url(),
        "project": "/p/city-portal/",
        "home": "/",
    }


@pytest.mark.parametrize("name", ["environment", "project", "home"])
def test_a_note_fits_every_screen_in_both_languages_and_axe_finds_nothing(name, noted, chromium, screenshot):
    url, paths = noted
    problems = []
    for language in ("es", "en"):
        for screen, options in SCREENS.items():
            context = chromium.new_context(locale=language, **options)
            try:
                page = context.new_page()
                page.goto(url + paths[name])
                note = page.locator(".status-note").first
                text = note.inner_text()
                if KIND_WORDS[language] not in text or TEXT[:40] not in text:
                    problems.append(f"{language} {screen}: the note reads {text[:120]!r}")
                width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if width[0] > width[1]:
                    problems.append(f"{language} {screen}: {width[0]} px wide in a {width[1]} px window")
                box = note.bounding_box()
                if box["x"] + box["width"] > width[1]:
                    problems.append(f"{language} {screen}: the note runs off the screen")
                screenshot(page, f"note-{name}-{language}-{screen}")
                violations = Axe().run(page).response["violations"]
                problems += [f"{language} {screen}: axe {v['id']}" for v in violations]
            finally:
                context.close()
    assert problems == [], problems
