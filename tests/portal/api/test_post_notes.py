"""CI or an operator's script posts a public note through POST /api/v1/notes/, and anyone downloads its
proof bundle from /api/v1/notes/<id>/bundle, which the volunteer's verifier checks."""

import datetime
import json

import pytest
from django.utils import timezone

from portal.registry.models import StatusNote
from tests.portal import factories
from tests.portal.api.support import error_of
from verifier.bundle import PASS, SKIP, parse_bundle, verify_bundle


def post_note(ci, *, token=None, **fields):
    body = {"environment": "production", "kind": "maintenance", "text": "Mantenimiento programado", **fields}
    return ci.post("/api/v1/notes/", body, token=token)


def test_a_note_is_posted_with_the_token_as_its_author_and_logged(ci):
    ends = timezone.now() + datetime.timedelta(hours=2)
    response = post_note(ci, ends_at=ends.isoformat())
    assert response.status_code == 201, response.content
    note = StatusNote.objects.get()
    entry = factories.sequenced_entries().get(kind="note", object_id=note.pk)
    assert response.json() == {
        "id": note.pk,
        "project": "city-portal",
        "environment": "production",
        "kind": "maintenance",
        "text": "Mantenimiento programado",
        "starts_at": response.json()["starts_at"],
        "ends_at": response.json()["ends_at"],
        "log_index": entry.index,
        "url": "http://testserver/p/city-portal/production/",
    }
    assert datetime.datetime.fromisoformat(response.json()["ends_at"]) == ends
    assert json.loads(bytes(entry.entry))["by"]["kind"] == "token"
    assert note.posted_by_token.project == ci.project


def test_a_note_for_every_environment_names_none(ci):
    response = post_note(ci, environment=None, kind="investigating", text="Investigando demoras")
    assert response.status_code == 201
    assert (response.json()["environment"], response.json()["url"]) == (
        None,
        "http://testserver/p/city-portal/",
    )


@pytest.mark.parametrize(
    "fields, status, field",
    [
        ({"kind": "outage"}, 400, "kind"),
        ({"text": "x" * 281}, 400, "text"),
        ({"text": "dos\nlíneas"}, 400, "text"),
        ({"ends_at": "2020-01-01T00:00:00Z"}, 400, "ends_at"),
        ({"starts_at": "yesterday"}, 400, "starts_at"),
        ({"environment": "nowhere"}, 404, "environment"),
        ({"project": "other"}, 403, "project"),
    ],
)
def test_a_bad_note_is_a_clear_refusal_and_writes_nothing(ci, fields, status, field):
    factories.make_project("other")
    response = post_note(ci, **fields)
    assert response.status_code == status, response.content
    error = error_of(response)
    assert field in error["fields"] or field in error["message"], error
    assert not StatusNote.objects.exists() and not factories.sequenced_entries().filter(kind="note").exists()


def test_without_a_token_nothing_is_posted(ci):
    response = post_note(ci, token="")
    assert response.status_code == 401
    assert not StatusNote.objects.exists()


def test_the_note_bundle_passes_the_volunteers_checks(ci, log_key_file):
    note = factories.make_note(ci.project, ci.environment, text="Corte programado del sábado")
    response = ci.client.get(f"/api/v1/notes/{note.pk}/bundle")
    assert response.status_code == 200
    assert f"city-portal-note-{note.pk}.bundle.json" in response["Content-Disposition"]
    results = verify_bundle(parse_bundle(response.content))
    assert {r.name: r.status for r in results} == {
        "note log entry": PASS,
        "note project": PASS,
        "note checkpoint": PASS,
        "note witnesses": SKIP,
        "note inclusion": PASS,
        "note history": SKIP,
    }


def test_an_unknown_note_has_no_bundle(ci):
    response = ci.client.get("/api/v1/notes/999/bundle")
    assert response.status_code == 404
    assert "There is no note 999" in error_of(response)["message"]
