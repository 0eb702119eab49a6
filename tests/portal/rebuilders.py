"""Factories for independent rebuilders in portal tests: a registered rebuilder with its own key, and the
rebuild attestations it signs (``verifier.rebuilds``), through the real services."""

import datetime
import itertools
import secrets

from django.utils import timezone

from portal.registry import services
from verifier.keys import generate_private_key
from verifier.rebuilds import Rebuilt, sign_rebuild
from verifier.statement import BuildInstructions, Subject

_counter = itertools.count(1)

BUILD = BuildInstructions("./build.sh", {"PYTHON": "3.12"}, {"app.tar.gz": "dist/app.tar.gz"})


def make_rebuilder(name=None, algorithm="ed25519"):
    """A registered rebuilder. Returns (private key, Rebuilder, raw token)."""
    private_key = generate_private_key(algorithm)
    rebuilder, token = services.add_rebuilder(
        name or f"Rebuilder {next(_counter)}", private_key.public_key.pem
    )
    return private_key, rebuilder, token


def make_rebuilt(rebuilder, release, /, *, got=None, **changes):
    """What ``rebuilder`` got rebuilding ``release``: by default the release's own subjects (reproduced);
    ``got`` maps a subject's name to the sha256 hex the rebuilder got instead. Any other member of
    ``Rebuilt`` can be replaced by keyword."""
    subjects = services.release_statement(release).subjects
    got = got or {}
    now = timezone.now()
    values = {
        "subjects": tuple(
            Subject(subject.name, {"sha256": got[subject.name]}) if subject.name in got else subject
            for subject in subjects
        ),
        "portal": "http://testserver",
        "project": release.project.slug,
        "version": release.version,
        "release_id": release.pk,
        "artifact_digest": release.artifact_digest,
        "repository": release.repo_url,
        "commit": release.source_commit,
        "build": BUILD,
        "rebuilder": rebuilder.name,
        "started_on": now - datetime.timedelta(seconds=30),
        "finished_on": now,
        "invocation_id": secrets.token_hex(8),
    }
    values.update(changes)
    return Rebuilt(**values)


def signed(private_key, rebuilt):
    """The DSSE envelope (a dict) of ``rebuilt`` signed with the rebuilder's ``private_key``."""
    return sign_rebuild(rebuilt, private_key)


def rebuild(private_key, rebuilder, release, **changes):
    """A rebuild recorded through ``services.record_rebuild``: by default it reproduced the release."""
    return services.record_rebuild(
        rebuilder, signed(private_key, make_rebuilt(rebuilder, release, **changes))
    )
