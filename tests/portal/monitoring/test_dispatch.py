"""The dispatcher: claims due environments once, leases them for one interval, queues their checks."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.monitoring import dispatch, tasks
from portal.registry.models import Environment
from tests.portal import factories


@pytest.fixture
def queued(monkeypatch):
    """The checks the dispatcher queues, one ((environment id, due_at), options) per claim, whether
    queued alone (``check_environment``) or in a group (``check_environments``), instead of a broker."""
    calls = []
    monkeypatch.setattr(
        tasks.check_environment, "apply_async", lambda args, **options: calls.append((tuple(args), options))
    )
    monkeypatch.setattr(
        tasks.check_environments,
        "apply_async",
        lambda args, **options: calls.extend((tuple(claim), options) for claim in args[0]),
    )
    return calls


@pytest.fixture
def messages(monkeypatch):
    """How many claims each queued message carries."""
    sizes = []
    monkeypatch.setattr(tasks.check_environment, "apply_async", lambda args, **options: sizes.append(1))
    monkeypatch.setattr(
        tasks.check_environments, "apply_async", lambda args, **options: sizes.append(len(args[0]))
    )
    return sizes


def make_environments(count, **fields):
    project = factories.make_project()
    return [factories.make_environment(project, name=f"env-{n}", **fields) for n in range(count)]


@pytest.mark.django_db
def test_due_environment_is_claimed_and_leased_for_one_interval_with_jitter():
    now = timezone.now()
    environment = factories.make_environment(factories.make_project(), check_interval=100, next_check_at=now)

    claimed = dispatch.claim_due(now)

    assert claimed == [(environment.pk, now, 100)]
    lease = Environment.objects.get(pk=environment.pk).next_check_at
    assert now + timedelta(seconds=90) <= lease <= now + timedelta(seconds=110)


@pytest.mark.django_db
def test_environment_not_yet_due_is_left_alone():
    now = timezone.now()
    later = now + timedelta(seconds=1)
    factories.make_environment(factories.make_project(), next_check_at=later)

    assert dispatch.claim_due(now) == []


@pytest.mark.django_db
def test_claimed_environment_is_not_claimed_again_until_its_lease_runs_out():
    now = timezone.now()
    environment = factories.make_environment(factories.make_project(), check_interval=60, next_check_at=now)

    dispatch.claim_due(now)

    assert dispatch.claim_due(now + timedelta(seconds=1)) == []
    again = dispatch.claim_due(now + timedelta(seconds=67))
    assert [pk for pk, _, _ in again] == [environment.pk]


@pytest.mark.django_db
def test_jitter_stays_within_ten_percent():
    now = timezone.now()
    leases = [dispatch.next_check_time(now, 60) - now for _ in range(500)]

    assert min(leases) >= timedelta(seconds=54)
    assert max(leases) <= timedelta(seconds=66)
    assert max(leases) - min(leases) > timedelta(seconds=6)


@pytest.mark.django_db
def test_dispatch_queues_one_check_per_due_environment_with_its_claim(queued):
    now = timezone.now()
    due = make_environments(3, next_check_at=now - timedelta(seconds=5))
    make_environments(2, next_check_at=now + timedelta(seconds=5))

    assert dispatch.dispatch_due(now) == 3

    assert sorted(args[0] for args, _ in queued) == sorted(e.pk for e in due)
    assert {args[1] for args, _ in queued} == {(now - timedelta(seconds=5)).isoformat()}
    assert all(options["expires"] == now + timedelta(seconds=60) for _, options in queued)


@pytest.mark.django_db
def test_dispatch_claims_more_than_one_batch(queued, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 4)
    now = timezone.now()
    make_environments(10, next_check_at=now)

    assert dispatch.dispatch_due(now) == 10
    assert len({args[0] for args, _ in queued}) == 10


@pytest.mark.django_db
def test_dispatch_groups_claims_into_chunks(messages, monkeypatch):
    monkeypatch.setattr(dispatch, "CHUNK_SIZE", 4)
    make_environments(9, next_check_at=timezone.now())

    assert dispatch.dispatch_due() == 9
    assert sorted(messages) == [1, 4, 4]


@pytest.mark.django_db
def test_chunk_expires_after_its_shortest_interval(queued):
    now = timezone.now()
    project = factories.make_project()
    factories.make_environment(project, name="slow", check_interval=300, next_check_at=now)
    factories.make_environment(project, name="fast", check_interval=30, next_check_at=now)

    assert dispatch.dispatch_due(now) == 2
    assert {options["expires"] for _, options in queued} == {now + timedelta(seconds=30)}


@pytest.mark.django_db
def test_new_deployment_makes_the_environment_due_at_once():
    project = factories.make_project()
    private_key, _ = factories.make_key(project)
    environment = factories.make_environment(project, next_check_at=timezone.now() + timedelta(hours=1))

    factories.make_deployment(environment, factories.make_release(project, private_key))

    assert [pk for pk, _, _ in dispatch.claim_due(timezone.now())] == [environment.pk]


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_claim_one_environment_twice():
    now = timezone.now()
    environments = make_environments(120, next_check_at=now)
    results = [[], [], []]

    def run(into):
        try:
            while batch := dispatch.claim_due(now, limit=7):
                into.extend(pk for pk, _, _ in batch)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(into,)) for into in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [pk for into in results for pk in into]
    assert sorted(claimed) == sorted(e.pk for e in environments)
