"""Celery tasks of the monitoring app: thin, idempotent, taking ids; the rules live in the services."""

import datetime

from celery import shared_task

from portal.registry.models import Environment

from . import checks, dispatch, notifications
from .models import NotificationChannel, Observation


@shared_task
def dispatch_due_checks():
    """Run by beat every few seconds: claim the due environments and queue their checks."""
    return dispatch.dispatch_due()


@shared_task
def check_environment(environment_id, due_at=None):
    """Check one environment. Running it twice for the same claim writes one observation."""
    environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
    if environment is None:
        return None
    due = datetime.datetime.fromisoformat(due_at) if due_at else None
    return checks.check_environment(environment, due_at=due).pk


@shared_task
def check_environments(claims):
    """Check a few environments claimed together, ``[[environment id, due_at], ...]``.

    Each claim is checked as ``check_environment`` would, with the same idempotency; grouping them
    spares the per-task overhead and lets the reads be shared (see ``checks.check_claims``).
    """
    return checks.check_claims(
        [(pk, datetime.datetime.fromisoformat(due_at) if due_at else None) for pk, due_at in claims]
    )


@shared_task(bind=True, max_retries=notifications.MAX_RETRIES)
def deliver_notification(self, channel_id, observation_id):
    """Announce one status change on one channel; retried with exponential backoff until it succeeds."""
    channel = NotificationChannel.objects.filter(pk=channel_id, enabled=True).first()
    observation = Observation.objects.select_related("environment__project").filter(pk=observation_id).first()
    if channel is None or observation is None:
        return None
    if channel.deliveries.filter(observation=observation, succeeded=True).exists():
        return None
    delivery = notifications.deliver(channel, observation, attempt=self.request.retries + 1)
    if not delivery.succeeded:
        raise self.retry(countdown=notifications.backoff(self.request.retries))
    return delivery.pk
