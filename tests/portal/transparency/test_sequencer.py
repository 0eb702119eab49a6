"""The batching sequencer: appends queue their entry with their record, the integrator gives indexes.

Appends of many writer processes commit in parallel and still get dense, unique indexes, each record its
one entry; a rolled-back record leaves neither entry nor gap; the commit that queued an entry integrates it
at once, without Celery; the tree the sequencer builds is the RFC 9162 tree, proved at sizes around powers
of two; an entry still queued is its record's entry for every check that a record is logged.
"""

import logging
import os
import subprocess
import sys
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from portal.monitoring.models import Observation
from portal.monitoring.runner import log_entries_of
from portal.registry.audit import audit_records
from portal.transparency import services
from portal.transparency.models import Checkpoint, LogEntry, PendingEntry, TreeHash
from tests.portal import factories
from tests.portal.monitoring.celerystack import ROOT, database_url
from verifier import merkle
from verifier.entries import canonical_entry

PROCESSES = 6
PER_PROCESS = 40
ROLLBACK_EVERY = 8


class Refused(Exception):
    pass


def append_status(n, *, object_id=None):
    with transaction.atomic():
        return services.append_entry(
            "status", {"project": "demo", "environment": "production", "n": n}, object_id=object_id
        )


def leaf_hashes():
    return [bytes(h) for h in LogEntry.objects.order_by("index").values_list("leaf_hash", flat=True)]


@pytest.fixture
def fresh_attempts(monkeypatch):
    """This process has not tried to integrate after a commit yet (``services.integrate_soon``)."""
    monkeypatch.setattr(services._Attempts, "last", float("-inf"))


@pytest.mark.django_db(transaction=True)
def test_appends_of_many_processes_get_dense_unique_indexes_and_each_record_its_entry(log_key_file):
    environment = factories.make_environment(factories.make_project("busy"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url(),
        "VITRINA_LOG_KEY_FILE": str(log_key_file),
        "VITRINA_TESTING": "1",
        # Every commit tries to integrate: the writers contend for the integrator's lock all along.
        "VITRINA_LOG_INTEGRATE_INTERVAL": "0",
    }
    command = [sys.executable, "-m", "tests.portal.transparency.appender", str(environment.pk)]
    command += [str(PER_PROCESS), "--rollback-every", str(ROLLBACK_EVERY)]
    writers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(PROCESSES)
    ]
    committed = []
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err.decode()[-2000:]
        assert b"Traceback" not in err, err.decode()[-2000:]
        committed += [int(pk) for pk in out.split()]

    services.integrate()  # the last commits of each writer may have found another integrating
    entries = list(LogEntry.objects.order_by("index").values_list("index", "object_id"))
    assert len(committed) == PROCESSES * (PER_PROCESS - PER_PROCESS // ROLLBACK_EVERY)
    assert [index for index, _ in entries] == list(range(len(committed)))
    assert sorted(object_id for _, object_id in entries) == sorted(committed)
    assert set(Observation.objects.values_list("pk", flat=True)) == set(committed)
    assert not PendingEntry.objects.exists()
    assert Checkpoint.objects.count() > 1  # the writers integrated as they went
    assert bytes(services.latest_checkpoint().root) == merkle.root_from_leaf_hashes(leaf_hashes())
    assert services.audit().ok


@pytest.mark.django_db
def test_a_rolled_back_record_leaves_no_entry_and_no_gap():
    append_status(0)
    with pytest.raises(Refused), transaction.atomic():
        services.append_entry("status", {"project": "demo", "n": 1})
        raise Refused
    append_status(2)
    assert PendingEntry.objects.count() == 2

    services.integrate()

    assert list(LogEntry.objects.values_list("index", flat=True)) == [0, 1]
    assert [
        services.parse_entry(bytes(e))["n"] for e in LogEntry.objects.values_list("entry", flat=True)
    ] == [
        0,
        2,
    ]


@pytest.mark.django_db
def test_an_append_queues_its_entry_without_reading_or_locking_the_log(django_assert_num_queries):
    with transaction.atomic():
        with django_assert_num_queries(1):  # the entry, inserted only while the log is open
            pending = services.append_entry("status", {"project": "demo"}, object_id=7)
    assert isinstance(pending, PendingEntry)
    assert not LogEntry.objects.exists()


def set_artifact_name(release, name):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_release SET artifact_name = %s WHERE id = %s", [name, release.pk])


@pytest.mark.django_db
def test_a_closed_log_refuses_appends_and_sequences_nothing_until_resolved(settings):
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    services.integrate()
    queued = append_status(1)
    set_artifact_name(release, "forged")
    # The audit integrates first: what was queued before it is sequenced, then the log closes.
    assert not services.audit().ok
    assert not PendingEntry.objects.filter(pk=queued.pk).exists()
    size = services.tree_size()

    with pytest.raises(services.LogClosed):
        append_status(2)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_release SET artifact_name = %s WHERE id = %s",
            [release.artifact_name, release.pk],
        )
    PendingEntry.objects.create(kind="status", entry=b"{}", leaf_hash=merkle.leaf_hash(b"{}"))
    assert services.integrate().size == size  # closed: nothing sequenced

    run, resolution = services.resolve_audit("restored the release's row")
    assert run.ok and resolution is not None
    assert services.integrate().size == size + 1


@pytest.mark.django_db(transaction=True)
def test_the_commit_that_queued_an_entry_integrates_it_without_celery(fresh_attempts, settings):
    settings.VITRINA_LOG_INTEGRATE_INTERVAL = 60
    environment = factories.make_environment(factories.make_project("demo"))
    started = time.monotonic()
    with transaction.atomic():
        observation = Observation.objects.create(
            environment=environment, result="verified", checked_at=timezone.now()
        )
        services.append_entry("status", {"project": "demo"}, object_id=observation.pk)
    covered = services.tree_size()
    assert time.monotonic() - started < 1
    assert covered == LogEntry.objects.count() == 1
    assert services.entry_for("status", observation.pk).index == 0

    # Within the interval, this process leaves the next commit's entry to the next attempt.
    append_status(1)
    assert PendingEntry.objects.count() == 1 and services.tree_size() == 1
    services._Attempts.last = time.monotonic() - 61
    append_status(2)  # this process may try again, but the latest checkpoint is younger than 30 s
    assert PendingEntry.objects.count() == 2 and services.tree_size() == 1
    settings.VITRINA_LOG_INTEGRATE_INTERVAL = 0
    append_status(3)
    assert not PendingEntry.objects.exists() and services.tree_size() == 4


@pytest.mark.django_db(transaction=True)
def test_an_integration_that_fails_after_commit_is_logged_and_the_record_kept(
    fresh_attempts, settings, tmp_path, caplog
):
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "absent.key")
    with caplog.at_level(logging.ERROR, logger="portal.transparency.services"):
        append_status(0, object_id=5)
    assert "entries not integrated after commit" in caplog.text and "absent.key" in caplog.text
    assert PendingEntry.objects.count() == 1
    assert services.index_of("status", 5) is None  # logged, not raised
    with pytest.raises(services.LogKeyError):
        services.entry_for("status", 5)


@pytest.mark.django_db
def test_another_integrator_holding_the_lock_makes_the_after_commit_attempt_give_up():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer: its integrator waits for the database's own lock")
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [services.INTEGRATE_LOCK_ID])
        append_status(0)
        assert services.integrate(wait=False) is None
        assert PendingEntry.objects.count() == 1
    finally:
        other.close()
    assert services.integrate().size == 1


@pytest.mark.django_db
def test_entry_for_integrates_a_pending_entry_and_says_none_for_a_record_without_one():
    queued = append_status(0, object_id=3)
    entry = services.entry_for("status", 3)
    assert isinstance(entry, LogEntry) and entry.index == 0
    assert bytes(entry.entry) == bytes(queued.entry)
    assert services.entry_for("status", 4) is None
    assert services.index_of("status", 3) == 0
    append_status(1, object_id=8)
    assert services.ensure_integrated(PendingEntry.objects.get()).size == 2


@pytest.mark.django_db
def test_entries_indexed_at_append_by_the_previous_version_are_integrated_first_in_their_order():
    """An upgrade from the log that gave indexes at append time: its entries not yet under a checkpoint
    are hashed first, then the queue; the tree is the RFC tree of both in that order."""
    append_status(0)
    services.integrate()
    legacy = []
    for n in (1, 2, 3):
        entry = canonical_entry(
            "status", {"project": "demo", "environment": "production", "n": n}, timezone.now()
        )
        LogEntry.objects.create(index=n, kind="status", entry=entry, leaf_hash=merkle.leaf_hash(entry))
        legacy.append(merkle.leaf_hash(entry))
    append_status(4)
    checkpoint = services.integrate()
    leaves = leaf_hashes()
    assert checkpoint.size == 5 and leaves[1:4] == legacy
    assert bytes(checkpoint.root) == merkle.root_from_leaf_hashes(leaves)
    assert services.audit().ok


@pytest.mark.django_db
def test_an_entry_indexed_out_of_order_beyond_the_tree_stops_the_integration():
    append_status(0)
    services.integrate()
    entry = canonical_entry(
        "status", {"project": "demo", "environment": "production", "n": 5}, timezone.now()
    )
    LogEntry.objects.create(index=5, kind="status", entry=entry, leaf_hash=merkle.leaf_hash(entry))
    with pytest.raises(services.LogCorrupted, match="log entry 5 beyond the latest checkpoint"):
        services.integrate()
    assert services.tree_size() == 1


SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025]


@pytest.mark.django_db
def test_the_sequenced_tree_is_the_rfc_tree_and_proves_at_sizes_around_powers_of_two():
    done = 0
    for size in SIZES:
        for n in range(done, size):
            append_status(n)
        services.integrate(batch_size=100)
        done = size
    leaves = leaf_hashes()
    assert [
        merkle.leaf_hash(bytes(e)) for e in LogEntry.objects.order_by("index").values_list("entry", flat=True)
    ] == leaves

    roots = {c.size: bytes(c.root) for c in Checkpoint.objects.all()}
    assert set(SIZES) <= set(roots)
    for size, root in roots.items():
        assert root == merkle.root_from_leaf_hashes(leaves[:size]), size
    stored = dict(TreeHash.objects.values_list("index", "hash"))
    assert len(stored) == merkle.stored_hash_count(len(leaves))
    written = {}
    for n, leaf in enumerate(leaves):  # the stored hashes, appended one entry at a time
        first = merkle.stored_hash_count(n)
        for offset, h in enumerate(merkle.stored_hashes(n, leaf, lambda ix: [written[i] for i in ix])):
            written[first + offset] = h
    assert {i: bytes(h) for i, h in stored.items()} == written

    for size in SIZES:
        for index in {0, size // 2, size - 2, size - 1} - {-1}:
            proof = services.get_inclusion_proof(index, size)
            merkle.verify_inclusion(leaves[index], index, size, proof, roots[size])
        for first in SIZES:
            if first <= size:
                proof = services.get_consistency_proof(first, size)
                merkle.verify_consistency(first, size, proof, roots[first], roots[size])


@pytest.mark.django_db
def test_proofs_and_tiles_read_the_store_once(client, django_assert_num_queries):
    for n in range(300):
        append_status(n)
    services.integrate()
    with django_assert_num_queries(1):
        services.get_inclusion_proof(17, 300)
    with django_assert_num_queries(1):
        services.get_inclusion_proof(0, 1)  # a proof of no hashes still checks the size
    with django_assert_num_queries(1):
        services.get_consistency_proof(100, 300)
    with django_assert_num_queries(1):
        assert len(services.get_tile(0, 1, 44)) == 44 * 32
    with django_assert_num_queries(1):
        assert services.get_tile(0, 1, 45) is None
    with django_assert_num_queries(1):
        assert services.get_entry_bundle(1, 44) is not None


@pytest.mark.django_db
def test_a_proof_beyond_the_integrated_tree_is_refused_with_its_size():
    for n in range(5):
        append_status(n)
    services.integrate(limit=4)
    with pytest.raises(services.LogRequestError, match=r"between 1 and 4 .*got 5") as refused:
        services.get_inclusion_proof(3, 5)
    assert refused.value.field == "tree_size"
    with pytest.raises(services.LogRequestError, match=r"between 1 and 4 .*got 5"):
        services.get_consistency_proof(5, 5)


@pytest.mark.django_db
def test_tiles_carry_the_specs_cache_headers(client):
    for n in range(257):
        append_status(n)
    services.integrate()
    full_headers = "public, max-age=31536000, immutable"
    assert client.get("/log/tile/0/000")["Cache-Control"] == full_headers
    assert client.get("/log/tile/entries/000")["Cache-Control"] == full_headers
    assert client.get("/log/tile/0/001.p/1")["Cache-Control"] == "public, max-age=60"
    assert client.get("/log/tile/entries/001.p/1")["Cache-Control"] == "public, max-age=60"
    assert client.get("/log/tile/0/001.p/2").status_code == 404


@pytest.mark.django_db
def test_a_queued_entry_is_its_records_entry_for_the_checks_that_a_record_is_logged():
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    services.integrate()
    deployment = factories.make_deployment(environment, release)  # queued, not yet sequenced

    entries = log_entries_of([deployment])
    assert entries[("release", release.pk)].index == 1
    assert entries[("deployment", deployment.pk)].index is None
    assert "Every record matches its log entries" in audit_records(chunk_size=10)

    other = factories.make_release(project, private_key, "2.0.0")
    with connection.cursor() as cursor:  # an edit behind the application's back is still caught
        cursor.execute(
            "UPDATE registry_deployment SET release_id = %s WHERE id = %s", [other.pk, deployment.pk]
        )
    with pytest.raises(services.LogCorrupted, match=f"but {release.pk} in the pending log entry"):
        audit_records(chunk_size=10)
