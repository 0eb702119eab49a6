"""Concurrent registrations get dense, consecutive log indexes, and concurrent integrations one tree."""

import threading

import pytest
from django.db import connection

from portal.transparency import services
from portal.transparency.models import Checkpoint, LogEntry, TreeHash
from tests.portal import factories
from verifier import merkle

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
PER_THREAD = 4


def run_in_threads(target, count):
    errors = []

    def worker(n):
        try:
            target(n)
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread's number
            errors.append((n, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_concurrent_registrations_get_distinct_consecutive_indexes(log_key_file):
    project = factories.make_project("busy")
    private_key, _ = factories.make_key(project)

    def register(n):
        for m in range(PER_THREAD):
            factories.make_release(project, private_key, f"{n}.{m}.0")

    run_in_threads(register, THREADS)
    services.integrate()
    indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(1 + THREADS * PER_THREAD))
    release_entries = LogEntry.objects.filter(kind="release")
    assert len(set(release_entries.values_list("object_id", flat=True))) == THREADS * PER_THREAD


def test_concurrent_integrations_build_one_tree(log_key_file):
    project = factories.make_project("busy")
    private_key, _ = factories.make_key(project)
    for n in range(40):
        factories.make_release(project, private_key, f"0.{n}.0")

    run_in_threads(lambda n: services.integrate(batch_size=7), 4)
    size = LogEntry.objects.count()
    assert services.tree_size() == size
    assert TreeHash.objects.count() == merkle.stored_hash_count(size)
    sizes = list(Checkpoint.objects.order_by("size").values_list("size", flat=True))
    assert sizes == sorted(set(sizes))
    assert services.audit().ok
