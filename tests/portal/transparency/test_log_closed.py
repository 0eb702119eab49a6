"""A failed self-audit closes the log to new entries until an operator resolves it.

Every writer passes through ``append_entry``: the registry (API, admin, commands) gets a clean refusal,
the monitoring keeps its observation without changing the light, and the banner stays red until
``manage.py resolveaudit`` records a passing audit with the operator's note.
"""

import io
import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from portal.monitoring.models import Observation, Status
from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from portal.registry import services as registry
from portal.registry.models import Release, SigningKey
from portal.transparency import services
from portal.transparency.context_processors import log_integrity
from portal.transparency.models import AuditResolution, LogEntry, PendingEntry
from tests.portal import factories
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def raw_sql(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def q(name):
    return connection.ops.quote_name(name)


def set_artifact_name(release, name):
    """Edit a release behind the application's back, as someone with database access could."""
    raw_sql("UPDATE registry_release SET artifact_name = %s WHERE id = %s", [name, release.pk])


@pytest.fixture
def project(log_key_file):
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    project.private_key = private_key
    return project


@pytest.fixture
def tampered(project):
    """A logged release edited in the database, and the real self-audit that caught it."""
    release = factories.make_release(project, project.private_key, "1.0.0")
    services.integrate()
    set_artifact_name(release, "forged.tar.gz")
    assert not services.audit().ok
    return release


def repair(release):
    set_artifact_name(release, release.artifact_name)


def entries():
    """Entries sequenced and queued: a refused append adds to neither."""
    return LogEntry.objects.count() + PendingEntry.objects.count()


def test_append_raises_log_closed_and_writes_nothing(tampered):
    before = entries()
    with pytest.raises(services.LogClosed, match="failed its self-audit at .* until an operator resolves it"):
        with transaction.atomic():
            services.append_entry("status", {"project": "demo"})
    assert entries() == before


def test_entries_deleted_behind_the_applications_back_stop_the_sequencer_before_a_fork(project):
    """No index a published checkpoint covers is ever given again: the queued entry waits, the audit
    fails and closes the log."""
    factories.make_release(project, project.private_key, "1.0.0")
    services.integrate()
    last = LogEntry.objects.order_by("-index").first()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE transparency_logentry DISABLE TRIGGER transparency_logentry_append_only"
            )
        cursor.execute(f"DELETE FROM transparency_logentry WHERE {q('index')} = %s", [last.index])
    factories.make_release(project, project.private_key, "2.0.0")

    ends = f"entries end at index {last.index - 1} but its latest checkpoint covers {last.index + 1}"
    with pytest.raises(services.LogCorrupted, match=ends):
        services.integrate()
    assert services.tree_size() == last.index + 1
    assert PendingEntry.objects.count() == 1

    assert not services.audit().ok
    with pytest.raises(registry.Refused, match="self-audit") as refused:
        factories.make_release(project, project.private_key, "3.0.0")
    assert refused.value.status == 503
    assert not Release.objects.filter(version="3.0.0").exists()


def test_the_banner_stays_red_until_an_operator_resolves_it_and_costs_one_query(
    tampered, django_assert_num_queries
):
    repair(tampered)
    assert services.audit().ok
    with django_assert_num_queries(1):
        verdict = log_integrity(None)["log_integrity"]
    assert verdict["ok"] is False
    assert "forged.tar.gz" in verdict["message"]

    call_command("resolveaudit", note="restored release 1.0.0 from backup", stdout=io.StringIO())

    with django_assert_num_queries(1):
        assert log_integrity(None)["log_integrity"]["ok"] is True


def test_resolveaudit_records_the_note_with_the_passing_audit_and_logs_it(tampered, caplog):
    repair(tampered)
    out = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="portal.transparency.services"):
        call_command("resolveaudit", note="restored release 1.0.0 from backup", stdout=out)

    assert "open again" in out.getvalue()
    resolution = AuditResolution.objects.get()
    assert resolution.run.ok and not resolution.failed_run.ok
    assert resolution.note == "restored release 1.0.0 from backup"
    assert "restored release 1.0.0 from backup" in caplog.text
    factories.make_release(tampered.project, tampered.project.private_key, "2.0.0")


def test_a_new_failure_after_a_resolution_closes_the_log_again(tampered):
    repair(tampered)
    call_command("resolveaudit", note="restored", stdout=io.StringIO())
    set_artifact_name(tampered, "forged-again.tar.gz")
    assert not services.audit().ok

    with pytest.raises(registry.Refused, match="self-audit"):
        factories.make_release(tampered.project, tampered.project.private_key, "2.0.0")


def test_resolveaudit_needs_a_note(tampered):
    repair(tampered)
    with pytest.raises(CommandError, match="--note: a note is required"):
        call_command("resolveaudit", note="  ")
    with pytest.raises(registry.Refused, match="self-audit"):
        factories.make_release(tampered.project, tampered.project.private_key, "2.0.0")


def test_resolveaudit_on_an_open_log_says_so(project):
    factories.make_release(project, project.private_key, "1.0.0")
    services.integrate()
    out = io.StringIO()
    call_command("resolveaudit", note="routine", stdout=out)
    assert "was not closed" in out.getvalue()
    assert not AuditResolution.objects.exists()


def test_a_status_change_keeps_its_observation_but_not_the_light_while_closed(tampered, caplog):
    environment = factories.make_environment(tampered.project)
    Status.objects.create(environment=environment, result="verified", message="ok", checked_at=timezone.now())
    before = entries()

    with caplog.at_level(logging.WARNING, logger="portal.monitoring.recording"):
        observation = record(
            environment,
            Finding(result="unverifiable", reason="timeout", message="no answer"),
            checked_at=timezone.now(),
            duration_ms=5,
        )

    assert Observation.objects.get(pk=observation.pk).result == "unverifiable"
    assert not observation.changed_status
    assert Status.objects.get(environment=environment).result == "verified"
    assert entries() == before
    assert "log is closed" in caplog.text


def test_the_admin_shows_the_refusal_as_a_form_error(tampered, admin_client):
    project = tampered.project
    envelope = factories.make_envelope(project.private_key, repo_url=project.repo_url)
    response = admin_client.post(
        "/admin/registry/release/add/",
        {"project": project.pk, "version": "2.0.0", "envelope": json.dumps(envelope)},
    )
    assert response.status_code == 200
    assert "failed its self-audit" in response.content.decode()
    assert not Release.objects.filter(version="2.0.0").exists()

    response = admin_client.post(
        "/admin/registry/signingkey/add/",
        {
            "project": project.pk,
            "public_key_pem": generate_private_key("ed25519").public_key.pem,
            "valid_from_0": "2026-01-01",
            "valid_from_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert "failed its self-audit" in response.content.decode()
    assert SigningKey.objects.count() == 1


def test_the_key_commands_refuse_in_one_line(tampered, tmp_path):
    pem = tmp_path / "new.pub"
    pem.write_text(generate_private_key("ed25519").public_key.pem)
    with pytest.raises(CommandError, match="failed its self-audit"):
        call_command("addkey", "demo", str(pem))
    key = SigningKey.objects.get()
    with pytest.raises(CommandError, match="failed its self-audit"):
        call_command("revokekey", "demo", key.key_id[:8])
    assert SigningKey.objects.get().revoked_at is None
