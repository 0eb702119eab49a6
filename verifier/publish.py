"""``python -m verifier publish``: post a signed envelope to a Vitrina portal, and optionally a deployment.

The one part of the verifier that talks to Vitrina, and only when a CI job asks it to. Standard
library only (``urllib``): every request has a timeout, every answer is read up to a cap, redirects
are not followed (a redirect would carry the token to wherever it points), and plain ``http://`` is
refused except to a loopback address, so the token never crosses a network in clear text.

The token is read from an environment variable (``--token-env``, default ``VITRINA_TOKEN``), never
from the command line, where process listings and CI logs would show it.

Exit codes, so a pipeline can tell a refusal from an outage:
0 published; 1 refused by the portal (the server's message is printed on one line); 2 the portal
could not be reached or failed (network error, timeout, 5xx: worth a retry); 3 bad input (missing
file, malformed envelope, empty token variable, unusable URL).
"""

import argparse
import ipaddress
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from http.client import HTTPException
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from verifier import command, dsse, jsontext
from verifier.errors import FormatError
from verifier.keyless import MAX_SIGSTORE_BUNDLE_BYTES

DEFAULT_TOKEN_ENV = "VITRINA_TOKEN"  # noqa: S105 (the variable's name, not a token)
TIMEOUT_SECONDS = 30
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "vitrina-verifier-publish/1"

# The shared exit codes (``verifier.command``) as a pipeline reads them after ``publish``.
EXIT_REFUSED = command.EXIT_FAILED
EXIT_UNREACHABLE = command.EXIT_COULD_NOT_CHECK


class PublishError(command.CommandError):
    """Publishing cannot go on: bad input unless a subclass says otherwise."""


class Refused(PublishError):
    """The portal answered 4xx: it understood and said no."""

    exit_code = EXIT_REFUSED


class Unreachable(PublishError):
    """No usable answer: network error, timeout, a 5xx, or an answer too large to be one."""

    exit_code = EXIT_UNREACHABLE


class _Readable(Protocol):
    def read(self, amt: int, /) -> bytes: ...


def opener_refusing_redirects(refuse: Callable[[int, str], Exception]) -> urllib.request.OpenerDirector:
    """A urllib opener that never follows a redirect: ``refuse(code, new_url)`` is raised instead.

    The portal's address is the one the user gave; following a redirect would talk to another server
    with the token (``publish``) or trust another server's proofs (``verify --portal``).
    """

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: Message,
            newurl: str,
        ) -> urllib.request.Request | None:
            raise refuse(code, newurl)

    return urllib.request.build_opener(NoRedirects)


def _redirect_refused(code: int, new_url: str) -> PublishError:
    return PublishError(
        f"the portal answered with a redirect ({code}) to {new_url}; give that address as --portal"
    )


def check_portal_url(url: str) -> str:
    """Return the portal's base URL without a trailing slash, refusing clear-text http off loopback."""
    try:
        parts = urlsplit(url)
        # Reading the port checks it: a bad one would otherwise surface as an outage at the first request.
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise PublishError(f"--portal {url!r} is not a usable URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise PublishError(f"--portal must be an https:// URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback(host):
        raise PublishError(
            f"--portal {url} is plain http: the token would travel in clear text; use https://"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_json(url: str, body: Any, token: str, timeout: float = TIMEOUT_SECONDS) -> tuple[int, Any]:
    """POST ``body`` as JSON with the bearer token; return (status, decoded answer or None)."""
    # Only http(s) URLs get here: the base URL went through check_portal_url.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        },
    )
    opener = opener_refusing_redirects(_redirect_refused)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, read_json(response)
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, read_json(answer)
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise Unreachable(f"could not reach {url}: {reason}") from exc


def read_json(response: _Readable) -> Any:
    """The answer's JSON document, or None when it is not strict JSON (``verifier.jsontext``)."""
    data = response.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        raise Unreachable(f"the portal's answer is larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return jsontext.loads(data, what="the portal's answer")
    except FormatError:
        return None


def call(url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    """POST and return the answer document; raise ``Refused`` (4xx) or ``Unreachable`` (5xx, network)."""
    status, document = post_json(url, body, token)
    if 200 <= status < 300 and isinstance(document, dict):
        return document
    if 400 <= status < 500:
        raise Refused(f"refused by the portal ({status}): {error_message(document)}")
    raise Unreachable(f"the portal answered {status} at {url}; try again later")


def error_message(document: Any) -> str:
    """The API's ``error.message``, on one line."""
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        return "no explanation given"
    return " ".join(message.split())


def read_envelope(path: str) -> Any:
    """The envelope file's JSON object, checked locally so a broken file never reaches the network;
    ``PublishError`` naming the file otherwise."""
    with open(path, "rb") as f:
        data = f.read(dsse.MAX_ENVELOPE_BYTES + 1)
    try:
        envelope = dsse.parse_envelope(data)
        if envelope.payload_type != dsse.PAYLOAD_TYPE_IN_TOTO:
            raise FormatError(
                f"payloadType must be {dsse.PAYLOAD_TYPE_IN_TOTO}, got {envelope.payload_type!r}"
            )
        return jsontext.loads(data, what="the envelope")
    except FormatError as exc:
        raise PublishError(f"{path}: {exc}") from None


def read_sigstore_bundle(path: str) -> dict[str, Any]:
    """The Sigstore bundle file's JSON object (the portal verifies it); ``PublishError`` naming the file
    when it is too large or not a JSON object."""
    with open(path, "rb") as f:
        data = f.read(MAX_SIGSTORE_BUNDLE_BYTES + 1)
    if len(data) > MAX_SIGSTORE_BUNDLE_BYTES:
        raise PublishError(
            f"{path}: larger than {MAX_SIGSTORE_BUNDLE_BYTES // 1024} KiB, not a Sigstore bundle"
        )
    try:
        return jsontext.loads_object(data, what="the Sigstore bundle")
    except FormatError as exc:
        raise PublishError(f"{path}: {exc}") from None


def read_token(variable: str) -> str:
    token = os.environ.get(variable, "").strip()
    if not token:
        raise PublishError(f"the environment variable {variable} is empty; put the project's API token there")
    return token


def publish(
    portal: str,
    token: str,
    envelope: Any,
    version: str,
    *,
    ci_build_url: str | None = None,
    environment: str | None = None,
    pipeline_url: str | None = None,
    evidence: str = "envelope",
) -> Iterator[str]:
    """Register the release and, with ``environment``, record its deployment. Yields one line per step.

    ``envelope`` is sent as the member ``evidence`` names: ``envelope`` (DSSE, signed with a project key)
    or ``sigstore_bundle`` (keyless, made in CI)."""
    body = {evidence: envelope, "version": version, **_given(ci_build_url=ci_build_url)}
    release = call(f"{portal}/api/v1/releases/", body, token)
    what = f"release {release.get('version')} of {release.get('project')} {release.get('artifact_digest')}"
    yield _logged(what, release)
    if environment:
        body = {"project": release.get("project"), "environment": environment, "release": version}
        body |= _given(pipeline_run_url=pipeline_url)
        deployment = call(f"{portal}/api/v1/deployments/", body, token)
        what = f"deployment of {deployment.get('release')} to {deployment.get('environment')}"
        yield _logged(what, deployment)


def _given(**members: str | None) -> dict[str, str]:
    """The optional members that were given; one left out (None or empty) is not sent at all."""
    return {name: value for name, value in members.items() if value}


def _logged(what: str, answer: dict[str, Any]) -> str:
    """The line for a record the portal logged: what it is, its index in the log, its page."""
    return f"{what}: log index {answer.get('log_index')}, {answer.get('url')}"


def add_publish_parser(subparsers: command.Subparsers) -> argparse.ArgumentParser:
    parser = command.add_subcommand(subparsers, "publish", run_publish)
    parser.add_argument(
        "--portal", required=True, help="the portal's base URL, e.g. https://vitrina.example.org"
    )
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        help=f"name of the environment variable holding the API token (default {DEFAULT_TOKEN_ENV})",
    )
    evidence = parser.add_mutually_exclusive_group(required=True)
    evidence.add_argument("--envelope", help="the DSSE envelope written by 'attest'")
    evidence.add_argument(
        "--sigstore-bundle",
        metavar="FILE",
        help="instead of --envelope: a Sigstore bundle made in CI (actions/attest-build-provenance, cosign)",
    )
    parser.add_argument("--version", required=True, help="the release's version, e.g. 1.4.2")
    parser.add_argument("--ci-url", help="the CI build log URL, if the signed statement does not name it")
    parser.add_argument("--environment", help="also record a deployment of this release to this environment")
    parser.add_argument("--pipeline-url", help="the deployment pipeline run's URL (with --environment)")
    return parser


def run_publish(args: argparse.Namespace) -> int:
    """Post a signed envelope to a Vitrina portal, and optionally record a deployment.

    Register the release signed in ENVELOPE (or made keyless in CI: a Sigstore bundle) with the portal;
    with --environment, also record that it now runs there. The API token comes from the environment
    variable that --token-env names. Exit codes: 0 ok, 1 refused, 2 could not reach the portal, 3 bad input.
    """
    if args.pipeline_url and not args.environment:
        raise PublishError("--pipeline-url describes a deployment: give --environment too")
    portal = check_portal_url(args.portal)
    token = read_token(args.token_env)
    if args.sigstore_bundle:
        evidence, document = "sigstore_bundle", read_sigstore_bundle(args.sigstore_bundle)
    else:
        evidence, document = "envelope", read_envelope(args.envelope)
    for line in publish(
        portal,
        token,
        document,
        args.version,
        ci_build_url=args.ci_url,
        environment=args.environment,
        pipeline_url=args.pipeline_url,
        evidence=evidence,
    ):
        print(line)
    return command.EXIT_OK
