"""The last 90 days at a glance: on the environment page and, per environment, on the project page, a bar
of one cell per day with its date and light in words, the share of time verified as text, and how long the
current light has held; the home page says the last in one line per environment."""

import datetime

import pytest
from django.utils import timezone

from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def montevideo(settings):
    settings.TIME_ZONE = "America/Montevideo"


@pytest.fixture
def production():
    """Verified since 30 days ago, red for the last 3 h 12 min."""
    project = factories.make_project("city-portal", name="City Portal")
    environment = factories.make_environment(project, "production")
    now = timezone.now()
    for at, result, reason in [
        (now - datetime.timedelta(days=30), "verified", ""),
        (now - datetime.timedelta(hours=3, minutes=12, seconds=20), "mismatch", "unregistered_artifact"),
    ]:
        Observation.objects.create(
            environment=environment, checked_at=at, result=result, reason=reason, changed_status=True
        )
    Status.objects.create(
        environment=environment, result="mismatch", reason="unregistered_artifact", checked_at=now
    )
    return environment


def bar(html):
    start = html.index('<div class="history">')
    return html[start : html.index("</div>", start)]


@pytest.mark.parametrize(
    ("language", "share", "streak", "day_word", "no_data"),
    [
        ("es", "verificado en 31 días", "En rojo desde hace 3 h 12 min", "no coincide", "sin datos"),
        ("en", "verified in 31 days", "In red for 3 h 12 min", "mismatch", "no data"),
    ],
)
def test_the_environment_page_shows_90_days_with_words(
    client, production, language, share, streak, day_word, no_data
):
    html = client.get(production.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    history = bar(html)
    assert history.count('<li class="day ') == 90
    assert history.count("day-no_data") == 59
    assert history.count("day-red") == 1 and history.count("day-green") == 30
    assert share in history and streak in history
    # Each day has its date and light as text, not only a colour.
    assert history.count('<span class="visually-hidden">') == 90
    assert f": {day_word}</span>" in history and f": {no_data}</span>" in history
    assert "style=" not in history


def test_the_share_is_written_in_the_reader_s_number_format(client, production):
    spanish = bar(client.get(production.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="es").content.decode())
    english = bar(client.get(production.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode())

    assert "99,5 % verificado" in spanish
    assert "99.5 % verified" in english


def test_the_project_page_has_a_bar_per_environment(client, production):
    factories.make_environment(production.project, "staging")

    html = client.get(production.project.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert html.count('<div class="history">') == 2
    assert "No check in the last 90 days." in html
    assert html.count('<li class="day ') == 180


def test_the_home_page_says_how_long_the_light_has_held(client, production):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()

    row = html[html.index('href="/p/city-portal/production/"') :]
    assert "En rojo desde hace 3 h 12 min" in row[: row.index("</tr>")]
    assert '<div class="history">' not in html


def test_a_green_environment_says_since_when_it_is_verified(client, production):
    Observation.objects.create(
        environment=production,
        checked_at=timezone.now() - datetime.timedelta(minutes=5),
        result="verified",
        changed_status=True,
    )

    html = client.get(production.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Verified for 5 min" in bar(html)
    assert "verified until" not in bar(html)
