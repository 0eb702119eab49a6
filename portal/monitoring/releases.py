"""A release's own repository check: is its source commit on the project's protected branch?

Environment checks ask the repository about the release each environment runs; a release nobody runs
yet would never be asked. So every release is asked once it is registered (``queue_check``, on commit,
by task name) and, on a schedule, again while no answer came (``check_unanswered``: never asked, or
the repository could not be reached). The question and its judgement are the environment check's own
(``runner.check_repository``, ``rules.repository_link``); the answer is kept as a
``ReleaseRepositoryCheck``, which the release's page and the admin's deployment form read.
"""

import logging

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone
from kombu.exceptions import OperationalError

from portal.celery import app
from portal.registry.models import Release
from verifier.reasons import Result

from .models import ReleaseRepositoryCheck
from .rules import BrokenLink
from .runner import check_repository

logger = logging.getLogger(__name__)

CHECK_RELEASE_REPOSITORY = "portal.monitoring.tasks.check_release_repository"
# Releases asked per scheduled run: a run stays short however many releases could not be asked.
UNANSWERED_BATCH = 20


def check_release(release):
    """Ask the repository about ``release``'s commit now and record the answer; return the check."""
    checked_at = timezone.now()
    try:
        ahead_by = check_repository(release.project, release)
    except BrokenLink as broken:
        return ReleaseRepositoryCheck.objects.create(
            release=release,
            checked_at=checked_at,
            on_branch=None if broken.reason.result is Result.UNVERIFIABLE else False,
            reason=broken.reason.value,
            message=broken.message,
        )
    return ReleaseRepositoryCheck.objects.create(
        release=release,
        checked_at=checked_at,
        on_branch=True,
        ahead_by=ahead_by,
        message=(
            f"Commit {release.source_commit} of release {release.version} is on the protected branch "
            f"'{release.project.protected_branch}' ({ahead_by} commits behind its head)."
        ),
    )


def queue_check(release_id):
    """Queue the check of a newly registered release once its transaction commits. If the broker
    cannot take it, the scheduled run (``check_unanswered``) asks later."""

    def enqueue():
        try:
            app.tasks[CHECK_RELEASE_REPOSITORY].delay(release_id)
        except OperationalError as exc:
            logger.warning(
                "Could not queue the check of release %s (%s); the schedule will.", release_id, exc
            )

    transaction.on_commit(enqueue)


def unanswered(limit=UNANSWERED_BATCH):
    """Releases the repository never answered about, the never-asked first, then the longest waiting."""
    answered = ReleaseRepositoryCheck.objects.filter(release=OuterRef("pk"), on_branch__isnull=False)
    last_asked = ReleaseRepositoryCheck.objects.filter(release=OuterRef("pk")).values("checked_at")[:1]
    return list(
        Release.objects.filter(~Exists(answered))
        .annotate(last_asked=Subquery(last_asked))
        .select_related("project")
        .order_by(F("last_asked").asc(nulls_first=True), "registered_at", "pk")[:limit]
    )


def check_unanswered(limit=UNANSWERED_BATCH):
    """Ask about up to ``limit`` releases without an answer; return how many were asked. One release's
    failure is logged and leaves the others' checks alone."""
    releases = unanswered(limit)
    for release in releases:
        try:
            check_release(release)
        except Exception:
            logger.exception("The repository check of release %s failed.", release.pk)
    return len(releases)
