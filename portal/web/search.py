"""Search: paste an artifact digest, a commit or a version, and learn where and when it was published and
deployed, whether a server runs it now, and whether a server ever reported a digest that no release has
(which is what tampering looks like). A fixed number of queries whatever is found.
"""

import re
from dataclasses import dataclass, field

from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from portal.monitoring.models import Observation, Status
from portal.registry.models import Deployment, Release
from portal.registry.services import VERSION_PATTERN
from verifier.reasons import Reason

from .views import log_indexes

MAX_INPUT = 100
HEX = re.compile(r"[0-9a-f]+")
DIGEST_PREFIX = "sha256:"
MIN_DIGEST_HEX = 12
MIN_COMMIT_HEX = 7
MAX_HEX = 64
LIMIT = 20


class BadQuery(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Query:
    """What the text can be: a version (any text), a digest prefix (``sha256:`` and hex), a commit prefix."""

    text: str
    version: str | None
    digest: str | None
    commit: str | None


def parse(text):
    """Read what was pasted; raise ``BadQuery`` with a message the reader can act on."""
    text = (text or "").strip()
    if not text:
        raise BadQuery(_("Paste an artifact digest, a commit or a version to search for."))
    if len(text) > MAX_INPUT:
        raise BadQuery(_("That is too long: a digest, a commit or a version has at most 100 characters."))
    lower = text.lower()
    if lower.startswith(DIGEST_PREFIX):
        hex_part = lower.removeprefix(DIGEST_PREFIX)
        if not HEX.fullmatch(hex_part) or not MIN_DIGEST_HEX <= len(hex_part) <= MAX_HEX:
            raise BadQuery(_("After sha256: come from 12 to 64 hexadecimal digits (0-9, a-f)."))
        return Query(text=text, version=None, digest=lower, commit=None)
    # A commit and a bare digest are hex, so every query that is not a digest is written like a version.
    if not VERSION_PATTERN.fullmatch(text):
        raise BadQuery(
            _(
                "A version or a commit has only letters, digits and the signs . _ + ~ - (a digest begins "
                "with sha256:)."
            )
        )
    is_hex = HEX.fullmatch(lower) is not None and len(lower) <= MAX_HEX
    return Query(
        text=text,
        version=text,
        digest=DIGEST_PREFIX + lower if is_hex and len(lower) >= MIN_DIGEST_HEX else None,
        commit=lower if is_hex and len(lower) >= MIN_COMMIT_HEX else None,
    )


@dataclass
class Found:
    """The releases the query names, each with ``.log_index``, ``.deployments`` (newest first, each with
    ``.is_current``) and ``.running`` (statuses whose server reports it now); and ``reported``: digests
    servers reported that no release has."""

    releases: list = field(default_factory=list)
    reported: list = field(default_factory=list)

    def __bool__(self):
        return bool(self.releases or self.reported)


def find(query):
    releases = list(
        Release.objects.select_related("project")
        .filter(_release_match(query))
        .order_by("-registered_at", "-id")[:LIMIT]
    )
    log_indexes("release", releases)
    _attach_deployments(releases)
    _attach_running(releases)
    found = Found(releases=releases)
    published = any(release.artifact_digest.startswith(query.digest or "\0") for release in releases)
    if query.digest and not published:
        found.reported = _reported(query.digest)
    return found


def _release_match(query):
    match = Q(version=query.version) if query.version else Q(pk__in=[])
    if query.digest:
        match |= Q(artifact_digest__startswith=query.digest)
    if query.commit:
        match |= Q(source_commit__startswith=query.commit)
    return match


def _attach_deployments(releases):
    latest = Deployment.objects.filter(environment=OuterRef("environment")).order_by("-deployed_at", "-id")
    deployments = (
        Deployment.objects.filter(release__in=releases)
        .select_related("environment__project")
        .annotate(current_id=Subquery(latest.values("pk")[:1]))
        .order_by("-deployed_at", "-id")
    )
    by_release = {release.pk: [] for release in releases}
    for deployment in deployments:
        deployment.is_current = deployment.current_id == deployment.pk
        by_release[deployment.release_id].append(deployment)
    for release in releases:
        release.deployments_found = by_release[release.pk]


def _attach_running(releases):
    digests = {release.artifact_digest for release in releases}
    statuses = Status.objects.filter(
        Q(live_release__in=releases) | Q(live_digest__in=digests)
    ).select_related("environment__project")
    for release in releases:
        release.running = [
            status
            for status in statuses
            if status.checked_at
            and (status.live_release_id == release.pk or status.live_digest == release.artifact_digest)
        ]


def _reported(digest):
    """Digests starting with ``digest`` that a server reported and no release had, per environment: first
    and last seen. Such a check is always red for that reason, which an index of its own covers."""
    return list(
        Observation.objects.filter(reason=Reason.UNREGISTERED_ARTIFACT.value, live_digest__startswith=digest)
        .values(
            "live_digest", "environment__name", "environment__project__slug", "environment__project__name"
        )
        .annotate(first_seen=Min("checked_at"), last_seen=Max("checked_at"), checks=Count("id"))
        .order_by("-last_seen")[:LIMIT]
    )


def search(request):
    """``/search/?q=``: the form alone without ``q``; a 400 with the reason for input that cannot be one."""
    if "q" not in request.GET:
        return render(request, "web/search.html", {"q": ""})
    raw = request.GET["q"]
    try:
        query = parse(raw)
    except BadQuery as exc:
        return render(request, "web/search.html", {"q": raw[:MAX_INPUT], "error": exc.message}, status=400)
    return render(request, "web/search.html", {"q": query.text, "query": query, "found": find(query)})
