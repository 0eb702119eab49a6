"""Operators' public notes on a status: posted through one service, logged in the same transaction,
append-only, audited like every record, and shown while current, the newest replacing the older."""

import datetime
import logging

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from portal.registry import services as registry
from portal.registry.models import ImmutableRecord, StatusNote, current_notes
from portal.transparency import services
from tests.portal import factories
from verifier.entries import parse_entry

pytestmark = pytest.mark.django_db
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def place():
    project = factories.make_project("demo")
    return project, factories.make_environment(project), factories.make_environment(project, "staging")


def logged(note):
    entry = factories.sequenced_entries().get(kind="note", object_id=note.pk)
    return entry, parse_entry(bytes(entry.entry))


def test_a_note_is_logged_with_its_author_in_the_documented_shape(place):
    project, production, _ = place
    operator = get_user_model().objects.create_user("ada")
    ends = timezone.now() + 2 * HOUR
    note = factories.make_note(
        project, production, text="  Actualización de la base  ", ends_at=ends, user=operator
    )
    _, entry = logged(note)
    assert note.text == "Actualización de la base"
    assert entry == {
        "v": 1,
        "type": "note",
        "logged_at": entry["logged_at"],
        "project": "demo",
        "environment": "production",
        "note_id": note.pk,
        "kind": "maintenance",
        "text": "Actualización de la base",
        "starts_at": entry["starts_at"],
        "ends_at": entry["ends_at"],
        "by": {"kind": "operator", "name": "ada"},
    }
    assert entry["ends_at"] is not None and note.entered_by_hand


def test_a_note_for_the_whole_project_logs_a_null_environment_and_a_token_author(place):
    project, *_ = place
    token, _ = factories.make_token(project, "deploy-bot")
    note = factories.make_note(project, kind="investigating", text="Investigando demoras", token=token)
    _, entry = logged(note)
    assert (entry["environment"], entry["ends_at"]) == (None, None)
    assert entry["by"] == {"kind": "token", "name": "deploy-bot", "hint": token.hint}


def test_a_note_can_be_neither_changed_nor_deleted(place):
    note = factories.make_note(place[0], place[1])
    note.text = "otra cosa"
    with pytest.raises(ImmutableRecord):
        note.save()
    with pytest.raises(ImmutableRecord):
        StatusNote.objects.filter(pk=note.pk).delete()


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"kind": "outage"}, "kind", "must be one of: maintenance, investigating, resolved, info"),
        ({"text": "   "}, "text", "text is required"),
        ({"text": "x" * 281}, "text", "281 characters long; a note holds at most 280"),
        ({"text": "línea uno\nlínea dos"}, "text", "one line of plain text"),
        ({"text": "pago \u202eodnum"}, "text", "control or format characters"),
        ({"starts_at": "past"}, "starts_at", "starts_at is in the past"),
        ({"ends_at": "past"}, "ends_at", "ends_at must come after starts_at and after now"),
    ],
)
def test_a_bad_note_is_refused_with_the_field_and_nothing_is_written(place, changes, field, words):
    project, production, _ = place
    now = timezone.now()
    moments = {"past": now - HOUR}
    values = {"kind": "info", "text": "Hola", **{k: moments.get(v, v) for k, v in changes.items()}}
    with pytest.raises(registry.Refused) as refused:
        registry.post_note(project, environment=production, **values)
    assert (refused.value.field, refused.value.status) == (field, 400)
    assert words in refused.value.message
    assert not StatusNote.objects.exists() and not factories.sequenced_entries().filter(kind="note").exists()


def test_an_environment_of_another_project_is_refused(place):
    other = factories.make_project("other")
    with pytest.raises(registry.Refused, match="belongs to another project"):
        registry.post_note(other, environment=place[1], kind="info", text="Hola")


def test_the_newest_started_note_applies_until_its_end_and_replaces_older_ones(place):
    project, production, staging = place
    now = timezone.now()
    maintenance = factories.make_note(project, production, ends_at=now + 3 * HOUR)
    factories.make_note(project, staging, kind="info", text="Mañana", starts_at=now + HOUR)
    assert current_notes([production.pk, staging.pk], now + datetime.timedelta(minutes=1)) == {
        production.pk: maintenance,
        staging.pk: None,  # scheduled: not shown before it starts
    }
    resolved = factories.make_note(project, production, kind="resolved", text="Listo", ends_at=now + HOUR)
    later = now + datetime.timedelta(minutes=2)
    assert current_notes([production.pk], later) == {production.pk: resolved}
    # Once the newer note ends, the older one does not come back: it was replaced.
    assert current_notes([production.pk], now + 2 * HOUR) == {production.pk: None}


def test_a_project_note_applies_to_every_environment_until_a_newer_one(place):
    project, production, staging = place
    whole = factories.make_note(project, kind="investigating", text="Demoras en todos")
    assert current_notes([production.pk, staging.pk], timezone.now()) == {
        production.pk: whole,
        staging.pk: whole,
    }
    own = factories.make_note(project, staging, kind="resolved", text="Staging normal")
    assert current_notes([production.pk, staging.pk], timezone.now()) == {
        production.pk: whole,
        staging.pk: own,
    }


def test_an_edited_note_text_is_caught_by_the_self_audit(place, log_key_file, caplog):
    note = factories.make_note(place[0], place[1], text="Mantenimiento")
    services.integrate()
    assert services.audit().ok
    table, column = StatusNote._meta.db_table, connection.ops.quote_name("text")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", ["Todo normal", note.pk])
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        run = services.audit()
    index = factories.sequenced_entries().get(kind="note", object_id=note.pk).index
    assert not run.ok
    assert (
        f"note {note.pk} of project 'demo': text is 'Todo normal' in the database but 'Mantenimiento' "
        f"in log entry {index}"
    ) in run.message


def test_a_deleted_note_is_caught_by_the_self_audit(place, log_key_file, caplog):
    note = factories.make_note(place[0], place[1])
    services.integrate()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {StatusNote._meta.db_table} WHERE id = %s", [note.pk])
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        run = services.audit()
    assert f"is for note {note.pk}, but there is no such note in the database" in run.message


def test_a_closed_log_refuses_a_note(place, log_key_file, caplog):
    note = factories.make_note(place[0], place[1])
    services.integrate()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {StatusNote._meta.db_table} WHERE id = %s", [note.pk])
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        services.audit()
    with pytest.raises(registry.Refused) as refused:
        factories.make_note(place[0], place[1], text="Otra")
    assert refused.value.status == 503


# --- the admin ------------------------------------------------------------------------------------


def test_a_note_posted_in_the_admin_starts_now_and_is_logged_with_the_operator(admin_client, place):
    project, production, _ = place
    response = admin_client.post(
        "/admin/registry/statusnote/add/",
        {
            "project": project.pk,
            "environment": production.pk,
            "kind": "investigating",
            "text": "Investigando",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    note = StatusNote.objects.get()
    assert abs(note.starts_at - timezone.now()) < datetime.timedelta(seconds=30)
    assert logged(note)[1]["by"] == {"kind": "operator", "name": "admin"}
    page = admin_client.get(f"/admin/registry/statusnote/{note.pk}/change/")
    assert page.status_code == 200 and "Investigando" in page.content.decode()
    assert admin_client.get("/admin/registry/statusnote/").status_code == 200


def test_a_refused_note_is_a_form_error_with_the_services_sentence(admin_client, place):
    project, _, _ = place
    other = factories.make_environment(factories.make_project("other"))
    response = admin_client.post(
        "/admin/registry/statusnote/add/",
        {"project": project.pk, "environment": other.pk, "kind": "info", "text": "Hola"},
    )
    assert response.status_code == 200
    assert "belongs to another project" in str(response.context["adminform"].form.errors["environment"])
    assert not StatusNote.objects.exists()


def test_a_note_can_be_neither_changed_nor_deleted_in_the_admin(admin_client, place):
    note = factories.make_note(place[0], place[1])
    change = admin_client.post(f"/admin/registry/statusnote/{note.pk}/change/", {"text": "otra"})
    assert change.status_code == 403
    assert (
        admin_client.post(f"/admin/registry/statusnote/{note.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert StatusNote.objects.get().text == "Mantenimiento programado"
