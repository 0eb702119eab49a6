"""The other side of ``verifier.live``: a WSGI middleware with which a watched service says what it runs.

Wrap any WSGI application (Django, Flask, ...) and it answers ``GET /.well-known/vitrina/deployment``
with ``{"artifact_digest": "sha256:…", "source_commit": "…", "version": "…"}`` and
``Cache-Control: no-store`` (a cached answer would report a past deployment); every other request goes
to the application untouched.

    application = LiveEndpointMiddleware(application, manifest_path="/srv/app/deployment.json")

The values come either from arguments (fixed when the process starts) or from a JSON manifest file that
the deploy step writes next to the artifact. The file is read on every request, so rewriting it is
enough; if it is missing or malformed the endpoint answers 503, which Vitrina reports as "could not
check" rather than guessing.

This file uses only the standard library and imports nothing else from the verifier, so a service can
copy it as is instead of installing Vitrina. See docs/watched-service.md.
"""

import json
import os
import re
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

DEFAULT_PATH = "/.well-known/vitrina/deployment"
MAX_VERSION_LENGTH = 256  # what verifier.live accepts

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_COMPONENT_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
MAX_COMPONENTS = 64  # what verifier.live accepts
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    # Public and credential-free: anyone may re-check it, from a browser too.
    ("Access-Control-Allow-Origin", "*"),
]


class LiveEndpointMiddleware:
    """Serve the live endpoint at ``path`` (matched against ``PATH_INFO``), pass everything else on.

    Give either ``artifact_digest`` (with optional ``source_commit`` and ``version``) or
    ``manifest_path``, a JSON file with those same keys. Values given as arguments are checked at once,
    so a typo stops the service at start-up instead of turning its light red later.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        path: str = DEFAULT_PATH,
        artifact_digest: str | None = None,
        source_commit: str | None = None,
        version: str | None = None,
        manifest_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if (artifact_digest is None) == (manifest_path is None):
            raise ValueError("give either artifact_digest or manifest_path")
        if manifest_path is not None and (source_commit is not None or version is not None):
            raise ValueError("with manifest_path, source_commit and version come from the manifest")
        self.app = app
        self.path = path
        # The body itself when fixed at start-up (checked now), else the manifest read on each request.
        self.source: bytes | str | os.PathLike[str] = (
            deployment_json(artifact_digest, source_commit, version)
            if manifest_path is None
            else manifest_path
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _respond(start_response, "405 Method Not Allowed", b"", [("Allow", "GET, HEAD")], method)
        try:
            body = self.source if isinstance(self.source, bytes) else read_manifest(self.source)
        except ValueError as exc:
            error = json.dumps({"error": f"deployment manifest unusable: {exc}"}).encode()
            return _respond(start_response, "503 Service Unavailable", error, [], method)
        return _respond(start_response, "200 OK", body, [], method)


def read_manifest(path: str | os.PathLike[str]) -> bytes:
    """The endpoint's body from the manifest at ``path``; raises ``ValueError`` saying what is wrong."""
    try:
        with open(path, "rb") as manifest:
            document = json.load(manifest)
    except OSError as exc:
        raise ValueError(exc.strerror or "cannot be read") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return deployment_json(
        document.get("artifact_digest"),
        document.get("source_commit"),
        document.get("version"),
        components=document.get("components"),
    )


def deployment_json(
    artifact_digest: object,
    source_commit: object = None,
    version: object = None,
    *,
    components: object = None,
) -> bytes:
    """The endpoint's body as bytes, after checking each value; raises ``ValueError`` naming the bad one.

    A service deployed as several components gives ``components`` (name to ``sha256:<hex>`` or
    ``sha512:<hex>``, an image digest for a container) instead of ``artifact_digest``.
    """
    document: dict[str, object] = {}
    if components is not None and artifact_digest is None:
        document["components"] = _checked_components(components)
    elif not isinstance(artifact_digest, str) or not _DIGEST.fullmatch(artifact_digest):
        raise ValueError(f"artifact_digest must be 'sha256:' and 64 lowercase hex, got {artifact_digest!r}")
    else:
        document["artifact_digest"] = artifact_digest
    if source_commit is not None:
        if not isinstance(source_commit, str) or not _COMMIT.fullmatch(source_commit):
            raise ValueError(f"source_commit must be 40 or 64 lowercase hex, got {source_commit!r}")
        document["source_commit"] = source_commit
    if version is not None:
        if not isinstance(version, str) or len(version) > MAX_VERSION_LENGTH:
            raise ValueError(f"version must be a string of at most {MAX_VERSION_LENGTH} characters")
        document["version"] = version
    return json.dumps(document, sort_keys=True).encode() + b"\n"


def _checked_components(components: object) -> dict[str, str]:
    if not isinstance(components, dict) or not 0 < len(components) <= MAX_COMPONENTS:
        raise ValueError(f"components must be an object of 1 to {MAX_COMPONENTS} name: digest pairs")
    for name, digest in components.items():
        if not isinstance(digest, str) or not _COMPONENT_DIGEST.fullmatch(digest):
            raise ValueError(
                f"component {name!r} must be 'sha256:<64 hex>' or 'sha512:<128 hex>', got {digest!r}"
            )
    return components


def _respond(
    start_response: StartResponse, status: str, body: bytes, extra_headers: list[tuple[str, str]], method: str
) -> list[bytes]:
    headers = [*_HEADERS, ("Content-Length", str(len(body))), *extra_headers]
    start_response(status, headers)
    return [b""] if method == "HEAD" else [body]
