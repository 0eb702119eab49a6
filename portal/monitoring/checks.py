"""Checking one environment: the chain of evidence behind a green light, link by link.

``check_environment`` asks the live server what it runs, compares the answer with the environment's
latest deployment and with every release of the project, re-verifies the release's signature and its
log entries, asks the repository whether the release's commit is on the protected branch, and records
an ``Observation`` and the environment's current ``Status``. The result is green only when every link
holds; the first broken link names the reason.

Evidence of inconsistency (a mismatch) outranks inability to check: local evidence (registry,
signature, log) is examined before the repository, so a bad signature is reported as such even while
the repository is unreachable.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from portal.registry.models import Release
from portal.transparency.models import LogEntry
from portal.transparency.services import append_entry, format_time, parse_entry
from verifier import __version__, dsse, statement
from verifier.errors import CouldNotCheck, FormatError, SignatureError, StatementError
from verifier.live import fetch_live
from verifier.reasons import Reason, Result
from verifier.repo import RepoMirror

from .models import Observation, Status

logger = logging.getLogger(__name__)

USER_AGENT = f"Vitrina-monitor/{__version__}"


@dataclass
class Finding:
    """What one check found, before it is written down."""

    result: str
    reason: str
    message: str
    live_digest: str = ""
    live_commit: str = ""
    live_version: str = ""
    http_status: int | None = None
    expected_release: Release | None = None
    live_release: Release | None = None
    ahead_by: int | None = None

    @property
    def expected_digest(self):
        return self.expected_release.artifact_digest if self.expected_release else ""


class BrokenLink(Exception):
    """One link of the chain does not hold: ``reason`` and a specific sentence."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_environment(environment, *, due_at=None):
    """Check ``environment`` now; return the ``Observation`` written.

    ``due_at`` is the scheduled time the dispatcher claimed; a second delivery of the same claim
    returns the observation already written instead of checking twice.
    """
    if due_at is not None:
        done = Observation.objects.filter(environment=environment, due_at=due_at).first()
        if done is not None:
            return done
    checked_at = timezone.now()
    started = time.monotonic()
    finding = examine(environment)
    duration_ms = round((time.monotonic() - started) * 1000)
    return record(environment, finding, checked_at=checked_at, duration_ms=duration_ms, due_at=due_at)


def examine(environment):
    """Run every check of the chain against ``environment`` and return the ``Finding``."""
    project = environment.project
    try:
        report = fetch_live(
            environment.live_url,
            allow_private=settings.VITRINA_ALLOW_PRIVATE_ADDRESSES,
            connect_timeout=getattr(settings, "VITRINA_LIVE_CONNECT_TIMEOUT", 3),
            total_timeout=getattr(settings, "VITRINA_LIVE_TOTAL_TIMEOUT", 10),
            user_agent=USER_AGENT,
        )
    except CouldNotCheck as exc:
        deployment = latest_deployment(environment)
        return Finding(
            result=Result.UNVERIFIABLE.value,
            reason=Reason(exc.reason).value,
            message=str(exc),
            expected_release=deployment.release if deployment else None,
        )
    finding = Finding(
        result=Result.VERIFIED.value,
        reason="",
        message="",
        live_digest=report.artifact_digest,
        live_commit=report.source_commit or "",
        live_version=(report.version or "")[:100],
        http_status=report.http_status,
    )
    deployment = latest_deployment(environment)
    if deployment is not None:
        finding.expected_release = deployment.release
    try:
        finding.live_release = live_release(project, report.artifact_digest, deployment)
        if deployment is None:
            raise BrokenLink(
                Reason.NO_DEPLOYMENT,
                f"The server reports {report.artifact_digest} (release {finding.live_release.version}), but "
                f"no deployment to {environment} was ever recorded, so there is nothing to compare it with.",
            )
        check_deployed_release(environment, deployment, finding.live_release)
        check_signature(finding.live_release)
        check_logged(finding.live_release, deployment)
        finding.ahead_by = check_repository(project, finding.live_release)
    except BrokenLink as broken:
        finding.result = broken.reason.result.value
        finding.reason = broken.reason.value
        finding.message = broken.message
        return finding
    release = finding.live_release
    finding.message = (
        f"The server runs release {release.version} ({release.artifact_digest}), deployed to {environment} "
        f"at {format_time(deployment.deployed_at)}; its signature, its log entries and commit "
        f"{release.source_commit[:12]} on branch '{project.protected_branch}' "
        f"({finding.ahead_by} commits behind the branch head) all check out."
    )
    return finding


def latest_deployment(environment):
    """``Environment.latest_deployment`` with the release's signing key, loaded in the same query."""
    return (
        environment.deployments.select_related("release__signer_key").order_by("-deployed_at", "-id").first()
    )


def live_release(project, digest, deployment):
    """The release the live digest names: the deployed one if it matches, else any release with it."""
    if deployment is not None and deployment.release.artifact_digest == digest:
        return deployment.release
    release = (
        Release.objects.filter(project=project, artifact_digest=digest)
        .select_related("signer_key")
        .order_by("-registered_at", "-id")
        .first()
    )
    if release is None:
        raise BrokenLink(
            Reason.UNREGISTERED_ARTIFACT,
            f"The server reports {digest}, which matches no release of project '{project.slug}': "
            "what runs was never registered (an unrecorded deploy).",
        )
    return release


def check_deployed_release(environment, deployment, release):
    if deployment.release_id != release.pk:
        expected = deployment.release
        raise BrokenLink(
            Reason.WRONG_RELEASE,
            f"The server runs release {release.version} ({release.artifact_digest}), but the latest "
            f"deployment to {environment} (at {format_time(deployment.deployed_at)}) is release "
            f"{expected.version} ({expected.artifact_digest}).",
        )


# Signature verifications that succeeded, keyed by every input they depend on (the envelope's hash, the
# key and the record's fields): any change to one of them misses the memo and is verified afresh. Checks
# of a release every minute in hundreds of environments then cost one verification, not hundreds.
_VERIFIED = {}
_VERIFIED_MAX = 10_000


def check_signature(release):
    """The stored envelope verifies under the release's signer key, trusted when it was registered,
    and the signed statement names exactly the digest, commit and repository of the record."""
    key = release.signer_key
    if not key.is_valid_at(release.registered_at):
        raise BrokenLink(
            Reason.BAD_SIGNATURE,
            f"Release {release.version} was registered at {format_time(release.registered_at)}, when its "
            f"signing key {key.short_id} was not trusted ({key.refusal_at(release.registered_at)}).",
        )
    memo = (
        hashlib.sha256(release.envelope.encode()).digest(),
        key.public_key_pem,
        release.artifact_digest,
        release.source_commit,
        release.repo_url,
    )
    if memo in _VERIFIED:
        return
    try:
        envelope = dsse.parse_envelope(release.envelope)
        dsse.verify_envelope(envelope, [key.public_key()])
        signed = statement.parse_statement(envelope.payload)
    except (FormatError, SignatureError, StatementError) as exc:
        raise BrokenLink(
            Reason.BAD_SIGNATURE,
            f"The stored envelope of release {release.version} does not verify under its signing key "
            f"{key.short_id}: {exc}.",
        ) from None
    recorded = {
        "artifact digest": (signed.artifact_digest, release.artifact_digest),
        "commit": (signed.source_commit, release.source_commit),
        "repository": (signed.source_uri, release.repo_url),
    }
    for name, (in_statement, in_record) in recorded.items():
        if in_statement != in_record:
            raise BrokenLink(
                Reason.BAD_SIGNATURE,
                f"Release {release.version} records {name} {in_record}, but its signed statement says "
                f"{in_statement}.",
            )
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[memo] = True


def check_logged(release, deployment):
    """Release and deployment each have a log entry, and the entry describes the record as it is now."""
    envelope_sha256 = hashlib.sha256(release.envelope.encode()).hexdigest()
    expectations = [
        (
            "release",
            release.pk,
            f"Release {release.version}",
            {"artifact_digest": release.artifact_digest, "envelope_sha256": envelope_sha256},
        ),
        (
            "deployment",
            deployment.pk,
            f"Deployment {deployment.pk}",
            {"artifact_digest": release.artifact_digest, "release_id": release.pk},
        ),
    ]
    entries = {
        (entry.kind, entry.object_id): entry
        for entry in LogEntry.objects.filter(
            Q(kind="release", object_id=release.pk) | Q(kind="deployment", object_id=deployment.pk)
        )
    }
    for kind, object_id, what, fields in expectations:
        entry = entries.get((kind, object_id))
        if entry is None:
            raise BrokenLink(
                Reason.NOT_IN_LOG, f"{what} (id {object_id}) has no entry in the transparency log."
            )
        body = parse_entry(entry.entry)
        for name, value in fields.items():
            if body.get(name) != value:
                raise BrokenLink(
                    Reason.NOT_IN_LOG,
                    f"{what} differs from its log entry #{entry.index}: {name} is {value} in the record "
                    f"but {body.get(name)} in the log; the record was changed after it was logged.",
                )


def check_repository(project, release):
    """Return how many commits the protected branch has on top of the release's commit."""
    branch = project.protected_branch
    try:
        found = repo_checks.check_commit(project.repo_url, release.source_commit, branch)
    except CouldNotCheck as exc:
        raise BrokenLink(Reason.REPO_UNREACHABLE, str(exc)) from None
    except FormatError as exc:
        raise BrokenLink(
            Reason.REPO_UNREACHABLE, f"The repository of project '{project.slug}' cannot be checked: {exc}."
        ) from None
    if not found.commit_exists:
        raise BrokenLink(
            Reason.COMMIT_MISSING,
            f"Commit {release.source_commit} of release {release.version} does not exist in "
            f"{project.repo_url}.",
        )
    if not found.on_branch:
        raise BrokenLink(
            Reason.COMMIT_NOT_ON_BRANCH,
            f"Commit {release.source_commit} of release {release.version} exists in {project.repo_url} "
            f"but is not reachable from its protected branch '{branch}' (head {found.branch_head}).",
        )
    return found.ahead_by


class RepoChecks:
    """``RepoMirror.check_commit`` with answers kept for ``min_fetch_interval`` seconds.

    The mirror is not fetched again within that interval, so within it the same question always gets
    the same answer; keeping it spares the four git processes each answer costs. A repository change is
    seen within two intervals. Failures are not kept: the next check tries again.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._answers = {}

    def check_commit(self, repo_url, commit, branch):
        interval = getattr(settings, "VITRINA_REPO_MIN_FETCH_INTERVAL", 30)
        mirror = RepoMirror(
            settings.VITRINA_REPO_CACHE_DIR,
            timeout=getattr(settings, "VITRINA_REPO_TIMEOUT", 60),
            min_fetch_interval=interval,
        )
        key = (str(mirror.cache_dir), repo_url, commit, branch)
        now = time.monotonic()
        with self._lock:
            kept = self._answers.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        answer = mirror.check_commit(repo_url, commit, branch)
        if interval > 0:
            with self._lock:
                self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
                self._answers[key] = (now + interval, answer)
        return answer


repo_checks = RepoChecks()


def record(environment, finding, *, checked_at, duration_ms, due_at=None):
    """Write the observation and, if it is the newest, the status; log and announce a change.

    Runs in one transaction with the status row locked, so two checks of one environment finishing
    together cannot both think they changed it. A check that finishes after a newer one is kept in the
    history but does not overwrite the newer status.
    """
    try:
        with transaction.atomic():
            status, _ = Status.objects.select_for_update().get_or_create(environment=environment)
            newest = status.checked_at is None or status.checked_at <= checked_at
            changed = newest and (status.result, status.reason) != (finding.result, finding.reason)
            observation = Observation.objects.create(
                environment=environment,
                checked_at=checked_at,
                due_at=due_at,
                result=finding.result,
                reason=finding.reason,
                message=finding.message,
                live_digest=finding.live_digest,
                live_commit=finding.live_commit,
                live_version=finding.live_version,
                expected_digest=finding.expected_digest,
                expected_release=finding.expected_release,
                live_release=finding.live_release,
                http_status=finding.http_status,
                ahead_by=finding.ahead_by,
                duration_ms=duration_ms,
                changed_status=changed,
            )
            if not newest:
                return observation
            if changed:
                append_entry("status", status_entry_body(environment, observation), object_id=observation.pk)
                status.changed_at = checked_at
                transaction.on_commit(lambda: announce_later(observation.pk))
            update_status(status, observation)
    except IntegrityError:
        # The same claim was recorded by another delivery of this task in the meantime.
        existing = Observation.objects.filter(environment=environment, due_at=due_at).first()
        if due_at is None or existing is None:
            raise
        return existing
    return observation


def update_status(status, observation):
    for name in (
        "result",
        "reason",
        "message",
        "checked_at",
        "live_digest",
        "live_commit",
        "live_version",
        "expected_digest",
        "live_release",
        "ahead_by",
    ):
        setattr(status, name, getattr(observation, name))
    status.save()


def status_entry_body(environment, observation):
    return {
        "project": environment.project.slug,
        "environment": environment.name,
        "result": observation.result,
        "reason": observation.reason or None,
        "live_digest": observation.live_digest or None,
        "expected_digest": observation.expected_digest or None,
        "observed_at": format_time(observation.checked_at),
    }


def announce_later(observation_id):
    from .notifications import announce

    announce(observation_id)
