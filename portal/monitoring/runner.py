"""Running checks: which environments, with what shared reads, on which threads, with which caches.

``check_environment`` and ``check_claims`` (what the Celery tasks call) read what a group of claims
shares, ask the live servers (and the sites, for the files they serve) concurrently (``fetchers``), hand
each answer to the rules (``rules.examine``, then ``layers.judge``) and their finding to the recording
(``recording.record``), each environment sealed off from the others (``settle``). The per-process
caches live here: the repository answers (``RepoChecks``) and the signature checks that passed
(``verified_signatures``).
"""

import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from portal.registry.models import Deployment, Environment, ObserverReport, Rebuild, Release
from portal.transparency.services import logged_entries
from verifier import __version__
from verifier.errors import CouldNotCheck, FormatError
from verifier.live import fetch_live
from verifier.reasons import Reason, Result
from verifier.repo import RepoMirror
from verifier.served import ServedLimits, fetch_served

from . import layers
from .models import Observation
from .recording import record
from .rules import BrokenLink, Finding, examine, repository_link

logger = logging.getLogger(__name__)

USER_AGENT = f"Vitrina-monitor/{__version__}"


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
    reports = observer_reports_of([environment for environment, _ in todo])
    rebuilds = rebuilds_of(deployments.values())
    results = {}

    def conclude(environment, due_at, checked_at, gathered, fetch_seconds):
        answer, served = gathered
        results[(environment.pk, due_at)] = settle(
            environment,
            due_at,
            checked_at=checked_at,
            answer=answer,
            served=served,
            fetch_seconds=fetch_seconds,
            deployment=deployments.get(environment.pk),
            log_entries=entries,
            reports=reports.get(environment.pk, []),
            rebuilds=rebuilds.get(deployments[environment.pk].release_id, [])
            if environment.pk in deployments
            else [],
        )

    if len(todo) == 1:
        environment, due_at = todo[0]
        conclude(
            environment, due_at, timezone.now(), *timed_fetch(environment, deployments.get(environment.pk))
        )
    else:
        pending = {}
        for environment, due_at in todo:
            deployment = deployments.get(environment.pk)
            pending[fetchers().submit(timed_fetch, environment, deployment)] = (
                environment,
                due_at,
                timezone.now(),
            )
        for future in as_completed(pending):
            environment, due_at, checked_at = pending[future]
            conclude(environment, due_at, checked_at, *future.result())
    return results


def settle(
    environment,
    due_at,
    *,
    checked_at,
    answer,
    fetch_seconds,
    deployment,
    log_entries,
    served=None,
    reports=(),
    rebuilds=(),
):
    """Examine one environment's ``answer`` (and ``served``, what its site served, ``reports``, its
    observers' recent reports, and ``rebuilds``, those of its deployed release) and record the finding;
    return the ``Observation``, or None.

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
        finding = examine(
            environment,
            answer=answer,
            deployment=deployment,
            releases=releases_bearing(environment.project, answer, deployment),
            log_entries=log_entries,
            verified=verified_signatures,
            repository=check_repository,
        )
        if isinstance(served, Exception) and not isinstance(served, CouldNotCheck):
            raise served
        finding = layers.judge(
            environment,
            finding,
            deployment=deployment,
            served=served,
            reports=reports,
            verified=verified_signatures,
            now=checked_at,
            rebuilds=rebuilds,
        )
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


def fetch_site(environment, deployment=None):
    """What the environment's site served (a ``ServedReport``), the ``CouldNotCheck`` saying why it could
    not be read, or None for an environment without a site URL. One deadline covers the whole site
    (``VITRINA_SERVED_TOTAL_TIMEOUT``), so a hostile site holds its own check only."""
    if not environment.site_url:
        return None
    try:
        return fetch_served(
            environment.site_url,
            environment.entry_page_list(),
            allow_private=settings.VITRINA_ALLOW_PRIVATE_ADDRESSES,
            limits=served_limits(),
            user_agent=USER_AGENT,
            listed_urls=layers.listed_urls(deployment, verified_signatures),
        )
    except CouldNotCheck as exc:
        return exc


def served_limits():
    return ServedLimits(
        total_timeout=getattr(settings, "VITRINA_SERVED_TOTAL_TIMEOUT", 30),
        connect_timeout=getattr(settings, "VITRINA_LIVE_CONNECT_TIMEOUT", 3),
    )


def timed_fetch(environment, deployment=None):
    """``((answer, served), seconds)``: what the live server said and what the site served. Never raises:
    an unexpected exception is returned in place of the answer, so that ``settle`` logs and records it as
    this environment's, while the group goes on with the others."""
    started = time.monotonic()
    answers = []
    for ask in (fetch, functools.partial(fetch_site, deployment=deployment)):
        try:
            answers.append(ask(environment))
        except Exception as exc:
            answers.append(exc)
    return tuple(answers), time.monotonic() - started


def rebuilds_of(deployments):
    """``{release id: [Rebuild, newest first]}`` for the deployed releases, with their rebuilders and
    answers, in one query (``layers.rebuilds_layer`` keeps each rebuilder's latest)."""
    release_ids = {deployment.release_id for deployment in deployments}
    if not release_ids:
        return {}
    found = {}
    for rebuild in (
        Rebuild.objects.filter(release_id__in=release_ids)
        .select_related("rebuilder", "answer")
        .order_by("-rebuilt_at", "-id")
    ):
        found.setdefault(rebuild.release_id, []).append(rebuild)
    return found


def observer_reports_of(environments):
    """``{environment id: [ObserverReport, newest first]}`` received within each one's observer window,
    in one query (``layers.observers_layer`` keeps each observer's latest)."""
    if not environments:
        return {}
    since = timezone.now() - max(layers.observer_window(environment) for environment in environments)
    found = {}
    for report in (
        ObserverReport.objects.filter(
            environment_id__in=[environment.pk for environment in environments], observed_at__gte=since
        )
        .select_related("observer")
        .order_by("-observed_at", "-id")
    ):
        found.setdefault(report.environment_id, []).append(report)
    return found


def latest_deployments(environment_ids):
    """``{environment id: latest deployment}`` for the environments that have one, in one query, and
    the components of their releases in a second (``rules`` compares and checks each)."""
    latest = (
        Deployment.objects.filter(environment=OuterRef("environment"))
        .order_by("-deployed_at", "-id")
        .values("pk")[:1]
    )
    return {
        deployment.environment_id: deployment
        for deployment in Deployment.objects.filter(environment_id__in=environment_ids, pk=Subquery(latest))
        .select_related("release__signer_key")
        .prefetch_related("release__components")
        .order_by()
    }


def log_entries_of(deployments):
    """The log entries of ``deployments`` and of their releases, in one query, for ``rules.check_logged``:
    ``{(kind, object id): Logged or None}``, with None where a record has no entry. An entry queued with its
    record and not yet given its index counts: the record is logged (``services.logged_entries``)."""
    deployments = list(deployments)
    if not deployments:
        return {}
    entries = {("release", d.release_id): None for d in deployments}
    entries.update({("deployment", d.pk): None for d in deployments})
    for entry in logged_entries(
        Q(kind="release", object_id__in={d.release_id for d in deployments})
        | Q(kind="deployment", object_id__in={d.pk for d in deployments})
    ):
        entries[(entry.kind, entry.object_id)] = entry
    return entries


def releases_bearing(project, answer, deployment):
    """The newest release of ``project`` bearing the live digest, as a list of at most one, for
    ``rules.live_release``; nothing is read when the deployed release bears it or there is no digest."""
    if isinstance(answer, CouldNotCheck) or answer.artifact_digest is None:
        return []  # a service of several components is compared with the deployed release alone
    if deployment is not None and deployment.release.artifact_digest == answer.artifact_digest:
        return [deployment.release]
    return list(
        Release.objects.filter(project=project, artifact_digest=answer.artifact_digest)
        .select_related("signer_key")
        .order_by("-registered_at", "-id")[:1]
    )


class Memo:
    """A set of hashable inputs, per process, emptied when it holds ``limit`` of them."""

    def __init__(self, limit):
        self._limit = limit
        self._members = set()

    def __contains__(self, inputs):
        return inputs in self._members

    def add(self, inputs):
        if len(self._members) >= self._limit:
            self._members.clear()
        self._members.add(inputs)


# Signature checks that passed, keyed by every input they depend on (``rules.check_signature``): checks of
# a release every minute in hundreds of environments then cost one verification, not hundreds.
verified_signatures = Memo(10_000)


def check_repository(project, release):
    """Ask the repository (through ``repo_checks``) about the release's commit; ``rules.repository_link``
    judges the answer. Return how many commits the protected branch has on top of it, or ``BrokenLink``."""
    try:
        found = repo_checks.check_commit(project.repo_url, release.source_commit, project.protected_branch)
    except CouldNotCheck as exc:
        raise BrokenLink(Reason.REPO_UNREACHABLE, str(exc)) from None
    except FormatError as exc:
        raise BrokenLink(
            Reason.REPO_UNREACHABLE, f"The repository of project '{project.slug}' cannot be checked: {exc}."
        ) from None
    return repository_link(project, release, found)


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
