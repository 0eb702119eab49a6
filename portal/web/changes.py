"""What changed between a release and the project's previous one: a link to the range on the repository
host, and the commits themselves when the portal's repository mirror already holds them.

A page view never fetches: it reads the mirror the monitoring workers keep (``RepoMirror`` with
``fetch=False``), waits at most ``GIT_TIMEOUT`` seconds for it, lists at most ``COMMIT_LIMIT`` commits,
and keeps the answer in Django's cache for ``CACHE_SECONDS``. Without a mirror the page simply shows
the link.
"""

import hashlib
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q

from verifier.errors import VerifierError
from verifier.repo import RepoMirror

from . import shared_cache

GIT_TIMEOUT = 2.0
COMMIT_LIMIT = 50
CACHE_SECONDS = 300


def previous_release(release):
    """The project's release registered just before ``release``, or None for its first."""
    earlier = Q(registered_at__lt=release.registered_at) | Q(
        registered_at=release.registered_at, pk__lt=release.pk
    )
    return release.project.releases.filter(earlier).order_by("-registered_at", "-id").first()


def compare_url(repo_web_url, old_commit, new_commit):
    """The repository host's page comparing two commits, or '' when the URL is not a forge's https URL.

    GitLab puts it under ``/-/compare/``; GitHub, Gitea and Forgejo (Codeberg) under ``/compare/``,
    which is also the guess for any other https host.
    """
    parts = urlsplit(repo_web_url or "")
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        return ""
    if not parts.path.strip("/"):
        return ""
    base = repo_web_url.rstrip("/")
    if "gitlab" in parts.hostname.split("."):
        return f"{base}/-/compare/{old_commit}...{new_commit}"
    return f"{base}/compare/{old_commit}...{new_commit}"


def commits_between(repo_url, old_commit, new_commit):
    """Commits in ``new_commit`` and not in ``old_commit``, newest first, from the local mirror only.

    None when the mirror is missing, busy for longer than ``GIT_TIMEOUT``, or lacks either commit.
    """
    key = "vitrina:commits:" + hashlib.sha256(f"{repo_url}\0{old_commit}\0{new_commit}".encode()).hexdigest()
    kept = shared_cache.get(key)
    if kept is not None:
        return kept["commits"]
    mirror = RepoMirror(settings.VITRINA_REPO_CACHE_DIR, timeout=GIT_TIMEOUT)
    try:
        commits = mirror.list_commits(repo_url, old_commit, new_commit, limit=COMMIT_LIMIT, fetch=False)
    except (VerifierError, OSError):
        commits = None
    shared_cache.set(key, {"commits": commits}, CACHE_SECONDS)
    return commits
