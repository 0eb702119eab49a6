"""An operator's note beside the lights, in real headless Chromium at 390 px and 1280 px, in Spanish and
English: the environment, home and project pages stay within the screen with a long note, axe finds no
violation, and the note reads in the reader's language around the operator's own words. Screenshots kept."""

import datetime

import pytest
from django.utils import timezone

from portal.monitoring.models import Status
from portal.transparency.services import integrate
from tests.helpers.screens import NOT_YET_MET, axe_violations, each_screen, too_wide
from tests.portal import factories

pytestmark = pytest.mark.browser

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
    for language, screen, page in each_screen(chromium):
        page.goto(url + paths[name])
        note = page.locator(".status-note").first
        text = note.inner_text()
        found = too_wide(page) + axe_violations(page, but=NOT_YET_MET)
        if KIND_WORDS[language] not in text or TEXT[:40] not in text:
            found.append(f"the note reads {text[:120]!r}")
        box = note.bounding_box()
        if box["x"] + box["width"] > page.evaluate("window.innerWidth"):
            found.append("the note runs off the screen")
        screenshot(page, f"note-{name}-{language}-{screen}")
        problems += [f"{language} {screen}: {problem}" for problem in found]
    assert problems == [], problems
