"""The append-only guarantees and the self-audit that catches what gets past them.

An attacker with database access can drop a trigger and edit a row; the tests do exactly that, then
expect the audit to notice.
"""

import logging

import pytest
from django.db import connection, transaction

from portal.transparency import services
from portal.transparency.context_processors import log_integrity
from portal.transparency.models import AppendOnly, AuditRun, Checkpoint, LogEntry, PendingEntry, TreeHash
from tests.portal import factories

pytestmark = pytest.mark.django_db

LOG_TABLES = {
    "transparency_logentry": "index",
    "transparency_treehash": "index",
    "transparency_checkpoint": "id",
    "transparency_auditrun": "id",
}


def raw_sql(sql, params=(), *, bypass_triggers_on):
    """Run ``sql`` as an attacker with database access would: with the table's trigger out of the way."""
    table = bypass_triggers_on
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        else:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        cursor.execute(sql, params)


def q(name):
    return connection.ops.quote_name(name)


@pytest.fixture
def log(log_key_file):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    for n in range(5):
        release = factories.make_release(project, private_key, f"1.{n}.0")
        services.integrate()
    factories.make_deployment(environment, release)
    services.integrate()
    return LogEntry.objects.count()


def test_an_untouched_log_passes_the_audit(log):
    run = services.audit()
    assert run.ok, run.message
    assert run.tree_size == log
    verdict = {"ok": True, "message": run.message, "checked_at": run.checked_at}
    assert log_integrity(None) == {"log_integrity": verdict}


def test_the_audit_verifies_consistency_of_each_new_checkpoint_once(log, log_key_file):
    first = services.audit()
    assert "5 consistency proofs verified" in first.message
    project = factories.make_project()
    private_key, _ = factories.make_key(project)
    factories.make_release(project, private_key)
    services.integrate()
    second = services.audit()
    assert second.ok, second.message
    assert "1 consistency proofs verified" in second.message


def test_an_entry_edited_by_raw_sql_is_caught(log, caplog):
    entry = LogEntry.objects.get(index=2)
    forged = bytes(entry.entry).replace(b'"1.0.0"', b'"6.6.6"').replace(b'"1.1.0"', b'"6.6.6"')
    assert forged != bytes(entry.entry)
    raw_sql(
        f"UPDATE transparency_logentry SET {q('entry')} = %s WHERE {q('index')} = %s",
        [forged, 2],
        bypass_triggers_on="transparency_logentry",
    )
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        run = services.audit()
    assert not run.ok
    assert "entry 2" in run.message
    assert any(record.levelno == logging.CRITICAL for record in caplog.records)
    assert log_integrity(None)["log_integrity"]["ok"] is False


def test_an_entry_edited_together_with_its_leaf_hash_is_caught_by_the_tree_hashes(log):
    from verifier.merkle import leaf_hash

    forged = b'{"type":"release","version":"6.6.6"}'
    raw_sql(
        f"UPDATE transparency_logentry SET {q('entry')} = %s, {q('leaf_hash')} = %s WHERE {q('index')} = 3",
        [forged, leaf_hash(forged)],
        bypass_triggers_on="transparency_logentry",
    )
    run = services.audit()
    assert not run.ok
    assert "stored tree hash" in run.message and "entry 3" in run.message


def test_a_rewritten_tree_and_checkpoint_root_is_caught_by_the_signature(log):
    checkpoint = Checkpoint.objects.order_by("-size").first()
    raw_sql(
        f"UPDATE transparency_checkpoint SET {q('root')} = %s WHERE {q('id')} = %s",
        [b"\x00" * 32, checkpoint.pk],
        bypass_triggers_on="transparency_checkpoint",
    )
    run = services.audit()
    assert not run.ok
    assert f"checkpoint of size {checkpoint.size}" in run.message


def test_an_edited_tree_hash_is_caught(log):
    raw_sql(
        f"UPDATE transparency_treehash SET {q('hash')} = %s WHERE {q('index')} = 2",
        [b"\x01" * 32],
        bypass_triggers_on="transparency_treehash",
    )
    run = services.audit()
    assert not run.ok
    assert "stored tree hash 2" in run.message


def test_a_deleted_entry_is_caught(log):
    raw_sql(
        f"DELETE FROM transparency_logentry WHERE {q('index')} = 1",
        bypass_triggers_on="transparency_logentry",
    )
    run = services.audit()
    assert not run.ok
    assert "missing" in run.message


def test_integration_refuses_an_entry_whose_bytes_do_not_match_its_leaf_hash(log, log_key_file):
    project = factories.make_project()
    factories.make_key(project)
    pending = PendingEntry.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE transparency_pendingentry SET entry = %s WHERE id = %s", [b"{}", pending.pk])
    with pytest.raises(services.LogCorrupted, match=f"pending entry {pending.pk}"):
        services.integrate()
    assert services.tree_size() == log
    assert not LogEntry.objects.filter(index=log).exists()


@pytest.mark.parametrize("model", [LogEntry, TreeHash, Checkpoint, AuditRun])
def test_the_orm_refuses_to_change_or_delete_log_rows(log, model):
    services.audit()
    row = model.objects.first()
    with pytest.raises(AppendOnly):
        row.save()
    with pytest.raises(AppendOnly):
        row.delete()
    with pytest.raises(AppendOnly):
        model.objects.all().delete()
    with pytest.raises(AppendOnly):
        model.objects.all().update(pk=1)


def refused_by_trigger(sql):
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.mark.parametrize("table, key", LOG_TABLES.items())
def test_database_triggers_refuse_update(log, table, key):
    services.audit()
    refused_by_trigger(f"UPDATE {table} SET {q(key)} = -5")


@pytest.mark.parametrize("table", LOG_TABLES)
def test_postgresql_triggers_refuse_delete(log, table):
    if connection.vendor != "postgresql":
        pytest.skip("DELETE triggers exist on PostgreSQL only (see migration 0003)")
    services.audit()
    refused_by_trigger(f"DELETE FROM {table}")
    assert LogEntry.objects.count() == log


def test_the_integrity_banner_shows_on_pages_once_the_audit_fails(client, log, settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                **settings.TEMPLATES[0]["OPTIONS"],
                "context_processors": [
                    *settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
                    "portal.transparency.context_processors.log_integrity",
                ],
            },
        }
    ]
    services.audit()
    assert "integrity-alert" not in client.get("/log/").content.decode()
    raw_sql(
        f"UPDATE transparency_treehash SET {q('hash')} = %s WHERE {q('index')} = 0",
        [b"\x01" * 32],
        bypass_triggers_on="transparency_treehash",
    )
    services.audit()
    page = client.get("/log/").content.decode()
    assert "integrity-alert" in page
    assert "stored tree hash 0" in page


def test_no_audit_yet_means_no_verdict(db):
    assert log_integrity(None) == {}
