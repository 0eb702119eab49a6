"""Recording what a check found: the observation, the environment's status, the status's log entry and
the announcement of a change, in one transaction."""

import dataclasses
import logging

from django.db import IntegrityError, transaction

from portal.transparency.services import LogClosed, append_entry
from verifier.entries import entry_body

from . import notifications
from .models import CheckResult, Observation, Status

logger = logging.getLogger(__name__)


def record(environment, finding, *, checked_at, duration_ms, due_at=None):
    """Write the observation and, if it is the newest, the status; log and announce a change.

    Runs in one transaction with the status row locked, so two checks of one environment finishing
    together cannot both think they changed it. A check that finishes after a newer one is kept in the
    history but does not overwrite the newer status. A check that confirms the current status costs one
    conditional UPDATE and the INSERT; only a change (or a first check) reads the status and logs.
    """
    observation = Observation(
        environment=environment,
        checked_at=checked_at,
        due_at=due_at,
        **{field.name: getattr(finding, field.name) for field in dataclasses.fields(finding)},
        expected_digest=finding.expected_digest,
        duration_ms=duration_ms,
    )
    try:
        with transaction.atomic():
            # The common case, a check that changes nothing: one conditional UPDATE, which holds only
            # while the status still has this result and reason and no newer check was recorded (it
            # takes the row lock, and PostgreSQL re-evaluates the condition after waiting for it).
            if Status.objects.filter(
                environment=environment,
                result=finding.result,
                reason=finding.reason,
                checked_at__lte=checked_at,
            ).update(**status_fields(observation)):
                observation.save(force_insert=True)
                return observation
            status, _ = Status.objects.select_for_update().get_or_create(environment=environment)
            newest = status.checked_at is None or status.checked_at <= checked_at
            changed = newest and (status.result, status.reason) != (finding.result, finding.reason)
            observation.changed_status = changed
            observation.save(force_insert=True)
            if not newest:
                return observation
            if changed:
                try:
                    append_entry(
                        "status", status_entry_body(environment, observation), object_id=observation.pk
                    )
                except LogClosed as exc:
                    return keep_status(observation, exc)
                status.changed_at = checked_at
                notifications.announce(observation)
            update_status(status, observation)
    except IntegrityError:
        # The same claim was recorded by another delivery of this task in the meantime.
        existing = Observation.objects.filter(environment=environment, due_at=due_at).first()
        if due_at is None or existing is None:
            raise
        return existing
    return observation


def keep_status(observation, closed):
    """The log is closed after a failed self-audit: keep the observation, leave the status as last logged.

    A status changed without its log entry would be a light the log cannot back. The observation stays in
    the history, and the site's red banner tells every visitor not to rely on the lights meanwhile. The
    log refuses before writing anything, so the transaction is intact.
    """
    logger.warning(
        "%s/%s: status change to %s not recorded, the log is closed: %s",
        observation.environment.project.slug,
        observation.environment.name,
        observation.result,
        closed.message,
    )
    observation.changed_status = False
    observation.save(update_fields=["changed_status"])
    return observation


def status_fields(observation):
    """What the status takes over from ``observation``, as keyword arguments of an UPDATE."""
    return {name: getattr(observation, name) for name in CheckResult.shared_fields()}


def update_status(status, observation):
    for name, value in status_fields(observation).items():
        setattr(status, name, value)
    status.save()


def status_entry_body(environment, observation):
    return entry_body(
        "status",
        {
            "project": environment.project.slug,
            "environment": environment.name,
            "result": observation.result,
            "reason": observation.reason,
            "live_digest": observation.live_digest,
            "expected_digest": observation.expected_digest,
            "observed_at": observation.checked_at,
        },
    )
