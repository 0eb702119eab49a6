"""Claiming the environments that are due for a check, and queueing their checks.

Any number of dispatchers may run at once (several beat hosts, a manual run): an environment is
claimed by moving its ``next_check_at`` forward, under a row lock that other dispatchers skip
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writing transactions anyway)
and with a conditional UPDATE that only succeeds if ``next_check_at`` is still the value read, so the
claim holds on any database. The new ``next_check_at`` is a lease: if the queued check is lost (broker
restarted, worker killed), the environment falls due again one interval later and is checked then.
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.celery import app
from portal.registry.models import Environment

# The tasks this module queues, by name: ``tasks.py`` imports this module, never the reverse.
CHECK_ENVIRONMENT = "portal.monitoring.tasks.check_environment"
CHECK_ENVIRONMENTS = "portal.monitoring.tasks.check_environments"
BATCH_SIZE = 500
# Claims are queued in groups of this many, one task each: a task costs the worker a few milliseconds
# of its own (message, acknowledgement, logging), as much as a check, and a group's reads are shared.
# The live servers of a group are asked concurrently, so a hostile one delays none of the others.
CHUNK_SIZE = 10
# Intervals are stretched or shrunk by up to 10% at random, so environments created together (or all
# due after an outage) spread out instead of being checked in one burst forever after.
JITTER = 0.10


def next_check_time(now, interval, rng=random):
    return now + timedelta(seconds=interval * rng.uniform(1 - JITTER, 1 + JITTER))


def claim_due(now, limit=BATCH_SIZE):
    """Claim up to ``limit`` environments due at ``now``; return ``[(environment id, due_at)]``."""
    claimed = []
    with transaction.atomic():
        due = list(
            Environment.objects.select_for_update(skip_locked=True)
            .filter(next_check_at__lte=now)
            .order_by("next_check_at")
            .values_list("pk", "next_check_at", "check_interval")[:limit]
        )
        for pk, due_at, interval in due:
            lease = next_check_time(now, interval)
            if Environment.objects.filter(pk=pk, next_check_at=due_at).update(next_check_at=lease):
                claimed.append((pk, due_at, interval))
    return claimed


def dispatch_due(now=None):
    """Claim every due environment, batch by batch, and queue their checks; return how many.

    Each batch is committed before its checks are queued, so a worker never looks for a claim that
    is not visible yet. The claims are queued in groups of ``CHUNK_SIZE`` (``check_environments``), a
    lone claim as ``check_environment``. A check message expires after one interval (the shortest of
    its group): by then the lease has run out and a fresh claim supersedes it, so a backlog left by an
    outage never runs as a burst of stale checks.
    """
    check_environment, check_environments = app.tasks[CHECK_ENVIRONMENT], app.tasks[CHECK_ENVIRONMENTS]
    now = now or timezone.now()
    total = 0
    while True:
        claimed = claim_due(now)
        if claimed:
            with app.producer_or_acquire() as producer:
                for start in range(0, len(claimed), CHUNK_SIZE):
                    chunk = claimed[start : start + CHUNK_SIZE]
                    expires = now + timedelta(seconds=min(interval for _, _, interval in chunk))
                    if len(chunk) == 1:
                        pk, due_at, _ = chunk[0]
                        check_environment.apply_async(
                            (pk, due_at.isoformat()), expires=expires, producer=producer
                        )
                    else:
                        check_environments.apply_async(
                            ([(pk, due_at.isoformat()) for pk, due_at, _ in chunk],),
                            expires=expires,
                            producer=producer,
                        )
        total += len(claimed)
        if len(claimed) < BATCH_SIZE:
            return total
