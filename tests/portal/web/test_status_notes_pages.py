"""An operator's public note shows beside the light, never changing it: on the environment page, in the home
and project rows, in the status JSON, in the status feed and on the log page, escaped and attributed."""

import datetime
import json
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
ATOM = "{http://www.w3.org/2005/Atom}"
TEXT = "Cambio de <b>servidor</b> & base"


@pytest.fixture
def noted():
    """A verified production environment with an operator's maintenance note on it."""
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    Status.objects.create(environment=production, result="verified", checked_at=timezone.now())
    operator = get_user_model().objects.create_user("ada")
    note = factories.make_note(project, production, text=TEXT, ends_at=timezone.now() + HOUR, user=operator)
    return project, production, note, factories.sequenced_entries().get(kind="note", object_id=note.pk).index


def html_of(client, url, lang="en"):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    return response.content.decode()


def test_the_environment_page_shows_the_note_escaped_attributed_and_linked_to_its_log_entry(client, noted):
    _, production, _, index = noted
    html = html_of(client, production.get_absolute_url())
    assert "Operator's note · Scheduled maintenance:" in html
    assert "Cambio de &lt;b&gt;servidor&lt;/b&gt; &amp; base" in html and "<b>servidor" not in html
    assert "entered by hand by an operator (ada)" in html
    assert f'href="/api/v1/log/entries/{index}">log entry #{index}</a>' in html
    assert "in the operator's words" in html


def test_the_note_is_in_spanish_around_the_operators_own_words(client, noted):
    _, production, _, index = noted
    html = html_of(client, production.get_absolute_url(), "es")
    assert "Nota del operador · Mantenimiento programado:" in html
    assert f"entrada #{index} del registro" in html
    assert "Cambio de &lt;b&gt;servidor&lt;/b&gt;" in html


def test_a_note_never_changes_the_light(client, noted):
    _, production, _, _ = noted
    html = html_of(client, production.get_absolute_url())
    assert 'class="light light-verified' in html or "light-green" in html or "verified" in html
    state = json.loads(client.get("/badge/city-portal/production.json").content)
    assert (state["result"], state["note"]["kind"]) == ("verified", "maintenance")


def test_home_and_project_rows_show_the_note_of_each_environment(client, noted):
    project, _, _, _ = noted
    for url in ("/", project.get_absolute_url()):
        html = html_of(client, url)
        assert html.count("Operator's note") == 1, url
        assert "Cambio de &lt;b&gt;servidor&lt;/b&gt;" in html


def test_an_ended_or_replaced_note_is_no_longer_shown(client, noted):
    project, production, _, _ = noted
    soon = timezone.now() + datetime.timedelta(seconds=1)
    factories.make_note(project, production, kind="resolved", text="Listo", ends_at=soon)
    html = html_of(client, production.get_absolute_url())
    assert "Listo" in html and "servidor" not in html.split("Recent checks")[0]


def test_a_project_note_shows_on_every_environment(client, noted):
    project, *_ = noted
    factories.make_note(project, kind="investigating", text="Demoras generales")
    html = html_of(client, project.get_absolute_url())
    assert html.count("Demoras generales") == 2


def test_the_status_json_carries_the_note_with_its_log_index(client, noted):
    _, _, note, index = noted
    state = json.loads(client.get("/badge/city-portal/production.json").content)
    assert state["note"] == {
        "kind": "maintenance",
        "text": TEXT,
        "starts_at": state["note"]["starts_at"],
        "ends_at": state["note"]["ends_at"],
        "log_index": index,
    }
    assert json.loads(client.get("/badge/city-portal/staging.json").content)["note"] is None
    project = json.loads(client.get("/badge/city-portal.json").content)
    assert [env["note"] is not None for env in project["environments"]] == [True, False]


def test_the_log_page_summarises_the_note(client, noted):
    _, _, _, index = noted
    html = html_of(client, f"/log/?entry={index}")
    summary = "city-portal/production: operator&#x27;s note, scheduled maintenance: “Cambio de &lt;b&gt;"
    assert summary in html
    assert 'href="/p/city-portal/production/"' in html


def test_the_status_feed_has_an_entry_for_the_note_in_the_language_asked_for(client, noted):
    _, _, note, index = noted
    feed = ET.fromstring(client.get("/feeds/status.atom?lang=es").content)
    (entry,) = feed.findall(f"{ATOM}entry")
    title = entry.findtext(f"{ATOM}title")
    assert title.startswith("city-portal/") and title.endswith(
        ": nota del operador, mantenimiento programado"
    )
    summary = entry.findtext(f"{ATOM}summary")
    assert summary.startswith(TEXT + "\n")
    assert f"#{index}" in summary and "ada" in summary
    assert entry.findtext(f"{ATOM}id").endswith(f"/p/city-portal/production/#note-{note.pk}")
