"""Celery tasks of the log: thin wrappers, safe to run twice (see ``services``)."""

import logging
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.conf import settings
from django.db import connection

from . import services, witnesses
from .models import Witness
from .signing import LogKeyError

logger = logging.getLogger(__name__)


@shared_task
def integrate():
    """Sequence pending entries and sign a checkpoint: the backstop of the integration each commit tries
    (``services.integrate_soon``). Returns the tree size."""
    try:
        checkpoint = services.integrate()
    except LogKeyError as exc:
        logger.error("log not integrated: %s", exc)
        return None
    except services.LogCorrupted as exc:
        logger.critical("log not integrated: %s", exc)
        return None
    return checkpoint.size


@shared_task
def audit():
    """Re-derive the tree from the entries; a failure turns the site's integrity banner red."""
    return services.audit().ok


# Witnesses asked at once by one run; each waits at most VITRINA_WITNESS_TIMEOUT per attempt.
MAX_WITNESS_THREADS = 16


@shared_task
def witness():
    """Ask each active witness due to cosign the latest checkpoint, each in its own thread so that a slow
    witness delays no other; returns how many cosigned. Appends never wait for this."""
    checkpoint = services.latest_checkpoint()
    if checkpoint is None:
        return 0
    due = list(witnesses.witnesses_due(checkpoint).values_list("pk", flat=True))
    if not due:
        return 0
    with ThreadPoolExecutor(max_workers=min(len(due), MAX_WITNESS_THREADS)) as pool:
        return sum(found is not None for found in pool.map(_cosign, due))


def _cosign(witness_id):
    try:
        found = Witness.objects.filter(pk=witness_id).first()
        if found is None:
            return None
        return witnesses.cosign_latest(found, timeout=settings.VITRINA_WITNESS_TIMEOUT)
    finally:
        connection.close()  # each thread has its own connection
