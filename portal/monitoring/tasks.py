"""Celery tasks of the monitoring app: thin, idempotent, taking ids; the rules live in the services."""

import datetime

from celery import shared_task

from portal.registry.models import Environment, Release

from . import dispatch, notifications, releases, runner


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
    observation = runner.check_environment(environment, due_at=due)
    return observation and observation.pk


@shared_task
def check_environments(claims):
    """Check a few environments claimed together, ``[[environment id, due_at], ...]``.

    Each claim is checked as ``check_environment`` would, with the same idempotency; grouping them
    spares the per-task overhead and lets the reads be shared (see ``runner.check_claims``).
    """
    return runner.check_claims(
        [(pk, datetime.datetime.fromisoformat(due_at) if due_at else None) for pk, due_at in claims]
    )


@shared_task
def deliver_notification(delivery_id):
    """Send one pending delivery right after its change commits; the sweep retries it if this fails."""
    delivery = notifications.send(delivery_id)
    return delivery.pk if delivery else None


@shared_task
def send_due_notifications():
    """Run by beat: send the pending deliveries that are due (never queued, or due for a retry)."""
    return notifications.send_due()


@shared_task
def check_release_repository(release_id):
    """Ask the repository whether a newly registered release's commit is on the protected branch."""
    release = Release.objects.select_related("project").filter(pk=release_id).first()
    if release is None:
        return None
    return releases.check_release(release).pk


@shared_task
def check_unanswered_releases():
    """Run by beat: ask again about releases the repository never answered about (see ``releases``)."""
    return releases.check_unanswered()
