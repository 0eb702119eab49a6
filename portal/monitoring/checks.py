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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from portal.registry.models import Deployment, Environment, Release
from portal.transparency.models import LogEntry
from portal.transparency.services import LogClosed, append_entry, format_time, parse_entry
from verifier import __version__, dsse, statement
from verifier.errors import CouldNotCheck, FormatError, SignatureError, StatementError
from verifier.live import fetch_live
from verifier.reasons import Reason, Result
from verifier.repo import RepoMirror

from . import notifications
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
    """Check ``environment`` now; return the ``Observation`` written, or None if none could be (see
    ``check_group``).

    ``due_at`` is the scheduled time the dispatcher claimed; a second delivery of the same claim
    returns the observation already written instead of checking twice.
    """
    if due_at is not None:
        done = Observation.objects.filter(environment=environment, due_at=due_at).first()
        if done is not None:
            return done
    return check_group([(environment, due_at)])[(environment.pk, due_at)]


def check_claims(claims):
    """Check a few claimed environments together; return the id of each one's observation, in order.

    ``claims`` is ``[(environment id, due_at or None)]``, as the dispatcher claimed them. Each claim is
    checked and recorded exactly as ``check_environment`` would (same chain, same idempotency: a claim
    already recorded is not checked again), and what can be read for all of them at once is: the
    environments and the claims already done here, the rest in ``check_group``. An environment that
    no longer exists, or whose observation could not be written, gets None.
    """
    ids = [pk for pk, _ in claims]
    environments = Environment.objects.select_related("project").in_bulk(ids)
    due_dates = [due_at for _, due_at in claims if due_at is not None]
    done = {}
    if due_dates:
        done = {
            (environment_id, due_at): pk
            for pk, environment_id, due_at in Observation.objects.filter(
                environment_id__in=ids, due_at__in=due_dates
            ).values_list("pk", "environment_id", "due_at")
        }
    results = {claim: done.get(claim) for claim in claims}
    todo = [
        (environments[pk], due_at) for pk, due_at in claims if pk in environments and (pk, due_at) not in done
    ]
    if todo:
        results.update(
            {claim: observation and observation.pk for claim, observation in check_group(todo).items()}
        )
    return [results[claim] for claim in claims]


def check_group(todo):
    """Check ``[(environment, due_at)]`` and return ``{(environment id, due_at): Observation or None}``.

    The latest deployments and their log entries are read once for the group. The live servers are
    asked concurrently and each answer is examined and recorded as soon as it arrives, so a slow or
    hostile server holds up no other environment of the group. Each check is sealed off from the
    others (``settle``): nothing one of them raises reaches another's observation, or this caller.
    """
    deployments = latest_deployments([environment.pk for environment, _ in todo])
    entries = log_entries_of(deployments.values())
    results = {}

    def conclude(environment, due_at, checked_at, answer, fetch_seconds):
        results[(environment.pk, due_at)] = settle(
            environment,
            due_at,
            checked_at=checked_at,
            answer=answer,
            fetch_seconds=fetch_seconds,
            deployment=deployments.get(environment.pk),
            log_entries=entries,
        )

    if len(todo) == 1:
        environment, due_at = todo[0]
        conclude(environment, due_at, timezone.now(), *timed_fetch(environment))
    else:
        pending = {}
        for environment, due_at in todo:
            pending[fetchers().submit(timed_fetch, environment)] = (environment, due_at, timezone.now())
        for future in as_completed(pending):
            environment, due_at, checked_at = pending[future]
            conclude(environment, due_at, checked_at, *future.result())
    return results


def settle(environment, due_at, *, checked_at, answer, fetch_seconds, deployment, log_entries):
    """Examine one environment's ``answer`` and record the finding; return the ``Observation``, or None.

    Whatever goes wrong (``answer`` is an exception its fetch raised, the examination raises, the
    record cannot be written) is logged with its traceback and recorded as a could-not-check
    ``checker_error`` observation, which settles the claim and is never green. If even that cannot
    be written (the environment was deleted meanwhile, the database is down), the result is None and
    the claim's lease brings the environment back one interval later. Never raises ``Exception``.
    """
    started = time.monotonic()

    def duration_ms():
        return round((fetch_seconds + time.monotonic() - started) * 1000)

    try:
        if isinstance(answer, Exception) and not isinstance(answer, CouldNotCheck):
            raise answer
        finding = examine(environment, answer=answer, deployment=deployment, log_entries=log_entries)
        return record(environment, finding, checked_at=checked_at, duration_ms=duration_ms(), due_at=due_at)
    except Exception:
        logger.exception("The check of environment %s (claim %s) failed.", environment.pk, due_at)
    failed = Finding(
        result=Result.UNVERIFIABLE.value,
        reason=Reason.CHECKER_ERROR.value,
        message=f"The check of {environment} could not be completed: the checker failed (its error is in "
        "the worker's log).",
        expected_release=deployment.release if deployment else None,
    )
    try:
        return record(environment, failed, checked_at=checked_at, duration_ms=duration_ms(), due_at=due_at)
    except Exception:
        logger.exception(
            "The failed check of environment %s (claim %s) could not be recorded either.",
            environment.pk,
            due_at,
        )
        return None


_fetchers = None
_fetchers_lock = threading.Lock()


def fetchers():
    """The threads that ask live servers for ``check_claims``, created on first use in each process.

    A hostile server holds one of them for at most the total timeout; ``VITRINA_LIVE_FETCH_THREADS``
    (default 64) bounds how many fetches run at once in a worker process.
    """
    global _fetchers
    with _fetchers_lock:
        if _fetchers is None:
            _fetchers = ThreadPoolExecutor(
                max_workers=getattr(settings, "VITRINA_LIVE_FETCH_THREADS", 64),
                thread_name_prefix="live-fetch",
            )
        return _fetchers


def fetch(environment):
    """What the live server says (a ``LiveReport``), or the ``CouldNotCheck`` saying why it was not asked."""
    try:
        return fetch_live(
            environment.live_url,
            allow_private=settings.VITRINA_ALLOW_PRIVATE_ADDRESSES,
            connect_timeout=getattr(settings, "VITRINA_LIVE_CONNECT_TIMEOUT", 3),
            total_timeout=getattr(settings, "VITRINA_LIVE_TOTAL_TIMEOUT", 10),
            user_agent=USER_AGENT,
        )
    except CouldNotCheck as exc:
        return exc


def timed_fetch(environment):
    """``(answer, seconds)``. Never raises: an unexpected exception is returned as the answer, so that
    ``settle`` logs and records it as this environment's, while the group goes on with the others."""
    started = time.monotonic()
    try:
        answer = fetch(environment)
    except Exception as exc:
        answer = exc
    return answer, time.monotonic() - started


def examine(environment, *, answer, deployment, log_entries):
    """Run every check of the chain against ``environment`` and return the ``Finding``.

    ``answer`` is the live server's ``LiveReport`` or the ``CouldNotCheck`` saying why it was not
    asked, ``deployment`` the latest deployment (None for none), ``log_entries`` from ``log_entries_of``.
    """
    project = environment.project
    report = answer
    if isinstance(report, CouldNotCheck):
        return Finding(
            result=Result.UNVERIFIABLE.value,
            reason=Reason(report.reason).value,
            message=str(report),
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
        check_logged(finding.live_release, deployment, entries=log_entries)
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


def latest_deployments(environment_ids):
    """``{environment id: latest deployment}`` for the environments that have one, in one query."""
    latest = (
        Deployment.objects.filter(environment=OuterRef("environment"))
        .order_by("-deployed_at", "-id")
        .values("pk")[:1]
    )
    return {
        deployment.environment_id: deployment
        for deployment in Deployment.objects.filter(environment_id__in=environment_ids, pk=Subquery(latest))
        .select_related("release__signer_key")
        .order_by()
    }


def log_entries_of(deployments):
    """The log entries of ``deployments`` and of their releases, in one query, for ``check_logged``:
    ``{(kind, object id): LogEntry or None}``, with None where a record has no entry."""
    deployments = list(deployments)
    if not deployments:
        return {}
    entries = {("release", d.release_id): None for d in deployments}
    entries.update({("deployment", d.pk): None for d in deployments})
    for entry in LogEntry.objects.filter(
        Q(kind="release", object_id__in={d.release_id for d in deployments})
        | Q(kind="deployment", object_id__in={d.pk for d in deployments})
    ):
        entries[(entry.kind, entry.object_id)] = entry
    return entries


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


def check_logged(release, deployment, *, entries=None):
    """Release and deployment each have a log entry, and the entry describes the record as it is now.

    ``entries`` (from ``log_entries_of``) spares the query when it covers both records.
    """
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
    if (
        entries is None
        or ("release", release.pk) not in entries
        or ("deployment", deployment.pk) not in entries
    ):
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
    the same answer; keeping it spares the git processes each answer costs (a check inside the
    interval starts none). A repository change is seen within two intervals. Failures are not kept:
    the next check tries again. When many threads ask the same question as its answer expires, one
    asks git and the others wait for its answer instead of each starting git processes of their own.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._answers = {}
        self._asking = {}

    def check_commit(self, repo_url, commit, branch):
        interval = getattr(settings, "VITRINA_REPO_MIN_FETCH_INTERVAL", 30)
        cache_dir = settings.VITRINA_REPO_CACHE_DIR
        allow_private = settings.VITRINA_ALLOW_PRIVATE_ADDRESSES
        key = (str(cache_dir), allow_private, repo_url, commit, branch)
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and kept[0] > time.monotonic():
                return kept[1]
            asking = self._asking.setdefault(key, threading.Lock())
        with asking:
            with self._lock:
                kept = self._answers.get(key)
            if kept is not None and kept[0] > time.monotonic():
                return kept[1]
            mirror = RepoMirror(
                cache_dir,
                timeout=getattr(settings, "VITRINA_REPO_TIMEOUT", 60),
                min_fetch_interval=interval,
                allow_private=allow_private,
            )
            answer = mirror.check_commit(repo_url, commit, branch)
            if interval > 0:
                now = time.monotonic()
                with self._lock:
                    self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
                    self._answers[key] = (now + interval, answer)
                    self._asking = {k: v for k, v in self._asking.items() if k in self._answers or v.locked()}
        return answer


repo_checks = RepoChecks()


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


STATUS_FIELDS = (
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
)


def status_fields(observation):
    """What the status takes over from ``observation``, as keyword arguments of an UPDATE."""
    return {name: getattr(observation, name) for name in STATUS_FIELDS}


def update_status(status, observation):
    for name, value in status_fields(observation).items():
        setattr(status, name, value)
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
