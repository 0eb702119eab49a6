"""Celery tasks of the log: thin wrappers, safe to run twice (see ``services``)."""

import logging

from celery import shared_task

from . import services
from .signing import LogKeyError

logger = logging.getLogger(__name__)


@shared_task
def integrate():
    """Integrate pending entries and sign a checkpoint. Returns the tree size."""
    try:
        checkpoint = services.integrate()
    except LogKeyError as exc:
        logger.error("log not integrated: %s", exc)
        return None
    return checkpoint.size


@shared_task
def audit():
    """Re-derive the tree from the entries; a failure turns the site's integrity banner red."""
    return services.audit().ok
