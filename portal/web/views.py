"""The public pages: load, ask the models, render. Status comes from the database, never a live fetch.

Every page runs a fixed number of queries however many projects or environments there are: statuses
are joined, lists are prefetched, and each environment's current deployment is found by a subquery.
"""

import time

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, Subquery
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from portal.monitoring import evidence, ladder, uptime
from portal.monitoring.models import Observation, status_of
from portal.registry.models import Deployment, Environment, Project, Release, ReleaseComponent, current_notes
from portal.transparency.services import logged_entries, verifier_key
from portal.transparency.signing import LogKeyError

from . import changes, history, shared_cache

RECENT_RELEASES = 10
DEPLOY_HISTORY = 50
TIMELINE = 50
# The strip shows this many checks as small cells; the table details the newest few of them.
CHECK_STRIP = 30
RECENT_OBSERVATIONS = 10
# The home and project pages' status tables are the same for every visitor of a language: render
# them at most once every few seconds. A light may show up to this many seconds late there; the
# environment page, the API and the badges' own short cache are separate.
FRAGMENT_SECONDS = 5
FRAGMENT_RENDER_LOCK_SECONDS = 10
# A stale fragment is served only while another request renders the new one; past this, render anew.
FRAGMENT_KEEP_SECONDS = 60


def environments_with_status():
    """Environments with their status joined and the id of their current deployment annotated."""
    current = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-deployed_at", "-id")
    return Environment.objects.select_related("status").annotate(
        current_deployment_id=Subquery(current.values("pk")[:1])
    )


def attach_current(environments):
    """Give each environment ``.current`` (latest deployment, with release), ``.state`` and ``.note`` (the
    operator's note it shows now, or None), in four queries."""
    ids = [env.current_deployment_id for env in environments if env.current_deployment_id]
    # Whether the release has components, in the same query: only a release of several reads them.
    components = ReleaseComponent.objects.filter(release=OuterRef("release"))
    deployments = (
        Deployment.objects.select_related("release__project", "release__signer_key")
        .annotate(release_has_components=Exists(components))
        .in_bulk(ids)
    )
    notes = current_notes([env.pk for env in environments], timezone.now())
    for env in environments:
        env.current = deployments.get(env.current_deployment_id)
        env.state = status_of(env)
        env.note = notes.get(env.pk)
    return environments


def log_indexes(kind, records):
    """Each record's index in the transparency log, as ``.log_index`` (None while not logged), and
    ``.log_pending``: its entry is queued and gets its index within a second (``logged_entries``)."""
    entries = logged_entries(Q(kind=kind, object_id__in=[r.pk for r in records]))
    indexes = {entry.object_id: entry.index for entry in entries}
    for record in records:
        record.log_index = indexes.get(record.pk)
        record.log_pending = record.pk in indexes and record.log_index is None
    return records


def home(request):
    status_html = cached_fragment(f"home-status:{get_language()}", render_home_status)
    return render(request, "web/home.html", {"status_html": status_html})


def cached_fragment(key, render_fragment):
    """A rendered page fragment, re-rendered by one request at a time once it is stale.

    The others keep serving the previous rendering meanwhile (stale-while-revalidate), so a busy
    portal never renders the same fragment many times at once when it expires. Fragments hold no
    per-visitor data (no CSRF token): only what every reader of that language sees.
    """
    cached = shared_cache.get(key)
    now = time.time()
    if cached is not None:
        rendered_at, html = cached
        fresh = now - rendered_at < FRAGMENT_SECONDS
        if fresh or not shared_cache.add(f"{key}:rendering", 1, FRAGMENT_RENDER_LOCK_SECONDS):
            return mark_safe(html)  # noqa: S308 - rendered by our own templates
    html = render_fragment()
    shared_cache.set(key, (now, html), FRAGMENT_KEEP_SECONDS)
    shared_cache.delete(f"{key}:rendering")
    return mark_safe(html)  # noqa: S308 - rendered by our own templates


def render_home_status():
    """Every project with each environment's light: the part of the home page that costs the most."""
    projects = list(
        Project.objects.prefetch_related(Prefetch("environments", queryset=environments_with_status()))
    )
    environments = attach_current([env for project in projects for env in project.environments.all()])
    attach_history(environments, days=1)
    summary = uptime.summarize(env.state for env in environments)
    return render_to_string("web/_home_status.html", {"projects": projects, "summary": summary})


def attach_history(environments, days=uptime.DAYS):
    """Give each environment ``.history``, its last ``days`` days: one query for all (uptime.histories)."""
    histories = uptime.histories(environments, days=days)
    for env in environments:
        env.history = histories[env.pk]
    return environments


def project(request, slug):
    project = get_object_or_404(Project, slug=slug)
    body = cached_fragment(
        f"project-body:{project.pk}:{get_language()}", lambda: render_project_body(project)
    )
    return render(request, "web/project.html", {"project": project, "body_html": body})


def render_project_body(project):
    """The project's environments with their lights and its recent releases."""
    environments = attach_current(
        list(environments_with_status().select_related("project").filter(project=project))
    )
    attach_history(environments)
    releases = project.releases.select_related("registered_by_token", "registered_by_user").order_by(
        "-registered_at", "-id"
    )[:RECENT_RELEASES]
    return render_to_string(
        "web/_project_body.html",
        {
            "project": project,
            "environments": environments,
            "releases": releases,
            "summary": uptime.summarize(env.state for env in environments),
        },
    )


def environment(request, slug, env):
    environment = get_object_or_404(
        environments_with_status().select_related("project", "status__live_release__project"),
        project__slug=slug,
        name=env,
    )
    attach_current([environment])
    attach_history([environment])
    checks = list(
        Observation.objects.filter(environment=environment).order_by("-checked_at", "-id")[:CHECK_STRIP]
    )
    past, past_error = time_travel(request, environment)
    release = environment.current.release if environment.current else None
    if release is not None:
        log_indexes("release", [release])
        release.has_components = environment.current.release_has_components
    return render(
        request,
        "web/environment.html",
        {
            "project": environment.project,
            "environment": environment,
            "ladder": ladder.environment_ladder(environment, status_row(environment), release),
            "status": environment.state,
            "timeline": history.timeline(environment, TIMELINE),
            "observations": checks[:RECENT_OBSERVATIONS],
            "check_strip": checks,
            "past": past,
            "past_error": past_error,
            "public_zone": settings.TIME_ZONE,
            "asked_date": request.GET.get("date", "")[: history.MAX_INPUT],
            "asked_time": request.GET.get("time", "")[: history.MAX_INPUT],
        },
        status=400 if past_error else 200,
    )


def status_row(environment):
    """The environment's ``Status`` row (joined by ``environments_with_status``), or None before any check."""
    try:
        return environment.status
    except Environment.status.RelatedObjectDoesNotExist:
        return None


def time_travel(request, environment):
    """Answer ``?date=YYYY-MM-DD&time=HH:MM`` (the public's local time): (PastState or None, error or '')."""
    if "date" not in request.GET and "time" not in request.GET:
        return None, ""
    try:
        moment = history.parse_moment(request.GET.get("date"), request.GET.get("time"), timezone.now())
    except history.BadMoment as exc:
        return None, exc.message
    return history.what_ran_at(environment, moment), ""


def release(request, slug, version):
    release = get_object_or_404(
        Release.objects.select_related(
            "project", "signer_key", "registered_by_token", "registered_by_user"
        ).annotate(has_components=Exists(ReleaseComponent.objects.filter(release=OuterRef("pk")))),
        project__slug=slug,
        version=version,
    )
    log_indexes("release", [release])
    deployments = release.deployments.select_related("environment__project").order_by("-deployed_at", "-id")[
        :DEPLOY_HISTORY
    ]
    previous = changes.previous_release(release)
    compare_url = commits = None
    if previous is not None and previous.source_commit != release.source_commit:
        project = release.project
        compare_url = changes.compare_url(
            project.repo_web_url(), previous.source_commit, release.source_commit
        )
        commits = changes.commits_between(project.repo_url, previous.source_commit, release.source_commit)
    return render(
        request,
        "web/release.html",
        {
            "project": release.project,
            "release": release,
            "deployments": deployments,
            "previous": previous,
            "compare_url": compare_url,
            "commits": commits,
            "commit_limit": changes.COMMIT_LIMIT,
            **release_evidence_context(release),
        },
    )


def release_evidence_context(release):
    """What a release's and a deployment's page show of the release's evidence: the pieces (signed,
    logged, on the protected branch), the environments it runs in now, and the log's key for the
    verify commands. ``release.log_index`` must be read first."""
    running = [
        env
        for env in attach_current(list(environments_with_status().filter(project_id=release.project_id)))
        if env.current is not None and env.current.release_id == release.pk
    ]
    return {"evidence": evidence.release_evidence(release), "running": running, "log_key": log_key()}


def log_key():
    """The log's verifier key for the commands on the pages, or "" while it is unavailable."""
    try:
        return verifier_key()
    except LogKeyError:
        return ""


def deployment(request, pk):
    deployment = get_object_or_404(
        Deployment.objects.select_related(
            "environment__project",
            "release__project",
            "release__signer_key",
            "release__registered_by_token",
            "release__registered_by_user",
            "reported_by_token",
            "reported_by_user",
        ).annotate(
            release_has_components=Exists(ReleaseComponent.objects.filter(release=OuterRef("release")))
        ),
        pk=pk,
    )
    deployment.release.has_components = deployment.release_has_components
    log_indexes("deployment", [deployment])
    log_indexes("release", [deployment.release])
    return render(
        request,
        "web/deployment.html",
        {
            "project": deployment.environment.project,
            "deployment": deployment,
            "release": deployment.release,
            **release_evidence_context(deployment.release),
        },
    )


def verify(request):
    """How to check a release on one's own computer, in general; each release's and deployment's page
    gives its own commands, filled in. Links to the latest releases' commands."""
    return render(
        request,
        "web/verify.html",
        {
            "source_url": settings.VITRINA_SOURCE_URL,
            "log_key": log_key(),
            "recent_releases": Release.objects.select_related("project").order_by("-registered_at", "-id")[
                :RECENT_RELEASES
            ],
        },
    )
