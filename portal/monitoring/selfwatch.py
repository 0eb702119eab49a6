"""The portal watches itself: what this Vitrina runs, and registering it as a watched project.

``running_deployment`` is the answer of Vitrina's own live endpoint. It comes from a build manifest
(``VITRINA_BUILD_MANIFEST``, a JSON file ``{"artifact_digest", "source_commit", "version"}`` written by
the build) when there is one; otherwise it is computed once per process:

- ``artifact_digest``: ``source_tree_digest`` of the ``portal`` and ``verifier`` packages, the
  ``sha256sum`` listing scheme of ``verifier.digest.sha256_directory`` applied to their files with
  paths relative to the project root (``portal/settings.py``), compiled files (``__pycache__``, ``.pyc``)
  left out. Anyone can recompute it from a checkout's root::

      find portal verifier -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort \\
          | xargs -d '\\n' sha256sum | sha256sum

- ``source_commit``: ``git rev-parse HEAD`` of the project root, when it is a git checkout;
- ``version``: the package version followed by ``+`` and the digest's first 12 hex characters.

``watch_self`` registers Vitrina as project ``vitrina`` with environment ``local`` pointing at that
endpoint, a signing key kept in a file of the var directory (only its public half enters the database),
a release of the running digest and commit signed with it, and a deployment. It is idempotent.
"""

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from portal.registry import services
from portal.registry.models import Environment, Project, Release
from verifier import __version__, dsse, statement
from verifier.digest import format_digest, parse_digest, sha256_file
from verifier.errors import FormatError
from verifier.keys import generate_private_key, load_private_key

SOURCE_PACKAGES = ("portal", "verifier")
SELF_SLUG = "vitrina"
SELF_ENVIRONMENT = "local"
ENDPOINT_PATH = "/.well-known/vitrina/deployment"


class SelfWatchError(Exception):
    """Vitrina cannot describe what it runs well enough to watch itself; the message says what is missing."""


@functools.cache
def running_deployment():
    """``{"artifact_digest", "source_commit", "version"}`` of the running Vitrina."""
    manifest = getattr(settings, "VITRINA_BUILD_MANIFEST", "")
    if manifest and Path(manifest).is_file():
        return read_manifest(manifest)
    root = Path(settings.BASE_DIR)
    digest = source_tree_digest(root)
    return {
        "artifact_digest": digest,
        "source_commit": git_head(root),
        "version": f"{__version__}+{parse_digest(digest)[:12]}",
    }


def read_manifest(path):
    try:
        data = json.loads(Path(path).read_text())
        parse_digest(data["artifact_digest"])
    except (OSError, ValueError, KeyError, TypeError, FormatError) as exc:
        raise ImproperlyConfigured(
            f"VITRINA_BUILD_MANIFEST {path} is not a valid build manifest: {exc}"
        ) from exc
    return {
        "artifact_digest": data["artifact_digest"],
        "source_commit": data.get("source_commit"),
        "version": data.get("version") or f"{__version__}+{parse_digest(data['artifact_digest'])[:12]}",
    }


def source_tree_digest(root, packages=SOURCE_PACKAGES):
    """sha256 of the ``sha256sum`` listing of the packages' files, paths relative to ``root``, C-sorted."""
    root = Path(root)
    paths = []
    for package in packages:
        for directory, subdirectories, files in os.walk(root / package):
            subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
            relative_dir = Path(directory).relative_to(root).as_posix()
            paths.extend(f"{relative_dir}/{name}" for name in files if not name.endswith(".pyc"))
    listing = hashlib.sha256()
    for relative in sorted(paths, key=os.fsencode):
        listing.update(
            f"{parse_digest(sha256_file(root / relative))}  ".encode() + os.fsencode(relative) + b"\n"
        )
    return format_digest(listing.digest())


def git_head(root):
    """The commit checked out at ``root``, or None when it is not a git checkout (or git is missing)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    head = result.stdout.strip()
    return head if result.returncode == 0 and head else None


def key_file():
    return Path(getattr(settings, "VITRINA_SELF_KEY_FILE", "") or Path(settings.VAR_DIR) / "self-signing.key")


def load_or_create_key(path):
    """The self-watch signing key, generated on first use into a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_private_key(path.read_text())
    key = generate_private_key()
    with os.fdopen(descriptor, "w") as f:
        f.write(key.private_pem())
    return key


@transaction.atomic
def watch_self():
    """Register (or bring up to date) project ``vitrina``; return ``(environment, release, deployment)``.

    ``deployment`` is None when the running release was already the latest deployment.
    """
    running = running_deployment()
    if not running["source_commit"]:
        raise SelfWatchError(
            "The running Vitrina has no source commit (not a git checkout): set VITRINA_BUILD_MANIFEST to a "
            "build manifest naming artifact_digest and source_commit."
        )
    project, _ = Project.objects.get_or_create(
        slug=SELF_SLUG,
        defaults={
            "name": "Vitrina",
            "description": "This Vitrina, watching itself.",
            "repo_url": getattr(settings, "VITRINA_SELF_REPO_URL", "") or Path(settings.BASE_DIR).as_uri(),
            "protected_branch": getattr(settings, "VITRINA_SELF_BRANCH", "") or "main",
        },
    )
    environment, _ = Environment.objects.get_or_create(
        project=project,
        name=SELF_ENVIRONMENT,
        defaults={"live_url": settings.SITE_URL + ENDPOINT_PATH, "check_interval": 60},
    )
    private_key = load_or_create_key(key_file())
    services.add_signing_key(
        project, private_key.public_key.pem, label="self-watch key (file in the var directory)"
    )
    release = Release.objects.filter(project=project, artifact_digest=running["artifact_digest"]).first()
    if release is None:
        signed = statement.build_statement(
            artifact_name="vitrina-source",
            artifact_digest=running["artifact_digest"],
            repo_uri=project.repo_url,
            commit=running["source_commit"],
        )
        envelope = dsse.sign_envelope(statement.statement_to_payload(signed), private_key)
        try:
            release, _ = services.register_release(project, envelope, version=running["version"])
        except services.Refused as exc:
            raise SelfWatchError(
                f"Could not register the running Vitrina as a release: {exc.message}"
            ) from exc
    latest = environment.latest_deployment()
    deployment = None
    if latest is None or latest.release_id != release.pk:
        deployment = services.record_deployment(environment, release)
    return environment, release, deployment
