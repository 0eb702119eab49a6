"""``vitrina-verify observe``: a registered observer checks an environment from its own network.

A server can answer Vitrina's monitor one thing and the citizens another. An observer runs this command
from where it sits (a university, a newsroom, a member's machine) and sees what any visitor sees:

1. it asks the portal (``GET /api/v1/projects/<slug>/``) where the environment's live endpoint and site
   are, and which deployment is the latest;
2. it downloads that deployment's proof bundle and checks it as ``verify`` does (``verify_bundle``: the
   signature, the statement, the log entries, the checkpoint, pinned with ``--log-key``, and the
   remembered history): the portal's word is not taken, its proof is checked. A bundle that does not
   verify ends the run (exit 1): the portal is lying or broken, and nothing is published;
3. it asks the live endpoint which artifact runs (``fetch_live``) and compares it with the deployed
   release; with a site URL, it reads the site's scripts and style sheets (``fetch_served``) and compares
   them with the release's signed list (``compare_served``);
4. it prints one line per check and a ``RESULT`` line, and with ``--publish`` posts the observation,
   signed with the observer's own key (``verifier.observation``), to ``POST /api/v1/observer-reports/``
   with the observer's token from ``$VITRINA_OBSERVER_TOKEN`` (never from the command line).

Every request to the portal has a timeout, a size cap and refuses redirects (``verifier.publish``); the
live endpoint and the site are fetched by the hardened client of ``verifier.live``, which refuses private
addresses unless ``--allow-private`` is given.

Exit codes: 0 verified; 1 mismatch (or the portal's proof bundle does not verify, or the portal refused
the observation); 2 could not check (or could not reach the portal); 3 bad input.
"""

import argparse
import datetime
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from verifier import command, jsontext, publish, state
from verifier.attest import read_private_key
from verifier.bundle import ERROR, FAIL, MAX_BUNDLE_BYTES, PASS, SKIP, Bundle, parse_bundle, verify_bundle
from verifier.dsse import envelope_to_json, parse_envelope
from verifier.errors import CouldNotCheck, FormatError, VerifierError
from verifier.keyless import check_keyless_claims, verify_keyless
from verifier.keys import PrivateKey
from verifier.live import LiveReport, fetch_live
from verifier.observation import Observation, ServedFilesSeen, ServedProblemSeen, sign_observation
from verifier.reasons import Reason, Result
from verifier.release import Claims
from verifier.served import ServedVerdict, compare_served, fetch_served
from verifier.statement import Statement, component_digest, digest_sets_match, parse_statement
from verifier.version import __version__

TOKEN_ENV = "VITRINA_OBSERVER_TOKEN"  # noqa: S105 (the variable's name, not a token)
# Not the monitor's ("Vitrina-monitor/…"): a server that tells the monitor apart from everyone else
# must not be able to tell an observer apart from it. ``--user-agent`` can make it look like a browser.
USER_AGENT = f"Vitrina-observer/{__version__}"
MAX_PROJECT_BYTES = 1024 * 1024
FETCH_TIMEOUT = 30.0
# The portal's list of observers (or rebuilders) is read a page at a time (its largest page), up to a bound.
PARTIES_PAGE = 200
MAX_PARTIES = 10_000
SLUG = re.compile(r"[A-Za-z0-9_-]{1,50}")
LABELS = {PASS: "PASS ", FAIL: "FAIL ", SKIP: "SKIP ", ERROR: "ERROR"}
EXIT_CODES = {
    Result.VERIFIED: command.EXIT_OK,
    Result.MISMATCH: command.EXIT_FAILED,
    Result.UNVERIFIABLE: command.EXIT_COULD_NOT_CHECK,
}


class PortalUnreachable(command.CommandError):
    """The portal gave no usable answer (network, timeout, 5xx, too large): worth a retry."""

    exit_code = command.EXIT_COULD_NOT_CHECK


class BundleRefused(command.CommandError):
    """The portal's proof bundle of the deployment does not verify: evidence against the portal."""

    exit_code = command.EXIT_FAILED


@dataclass(frozen=True)
class Target:
    """What the portal says about the environment to observe (its proof bundle is checked separately)."""

    project: str
    environment: str
    live_url: str
    site_url: str  # "" when the environment serves no web site
    entry_pages: tuple[str, ...]
    deployment_id: int | None  # None: nothing was ever deployed there
    bundle_url: str | None  # the deployment's proof bundle, on the portal
    inline_scripts_must_be_declared: bool


@dataclass(frozen=True)
class Publisher:
    """Who signs and posts the observation: the observer's token, private key and registered name."""

    token: str
    private_key: PrivateKey
    observer: str


@dataclass(frozen=True)
class Verdict:
    """One check's outcome: ``reason`` is None only for a plain ``verified``."""

    result: Result
    reason: Reason | None
    message: str


# --- The portal ---------------------------------------------------------------------------------------


def fetch_target(portal: str, project: str, environment: str) -> Target:
    """GET the project from the portal and return the ``Target`` for ``environment``.

    Raises ``command.CommandError`` (bad input) for a project or environment the portal does not have or
    a document that does not say what an observer needs, ``PortalUnreachable`` otherwise.
    """
    url = f"{portal}/api/v1/projects/{project}/"
    status, body = fetch_portal(url, MAX_PROJECT_BYTES)
    if status == 404:
        raise command.CommandError(f"--project {project}: the portal at {portal} has no such project")
    if status != 200:
        raise PortalUnreachable(f"the portal answered {status} to {url}{_error_detail(body)}")
    try:
        document = jsontext.loads_object(body, what="the portal's answer")
    except FormatError as exc:
        raise PortalUnreachable(f"{url}: {exc}") from None
    return read_target(document, project, environment)


def read_target(document: Mapping[str, Any], project: str, environment: str) -> Target:
    """The ``Target`` of ``environment`` in the project document the portal's API serves."""
    environments = document.get("environments")
    found = (
        [e for e in environments if isinstance(e, dict) and e.get("name") == environment]
        if isinstance(environments, list)
        else []
    )
    if not found:
        names = ", ".join(str(e.get("name")) for e in environments or [] if isinstance(e, dict)) or "none"
        raise command.CommandError(
            f"--environment {environment}: project {project} has no such environment (it has: {names})"
        )
    env = found[0]
    deployment = env.get("current_deployment")
    try:
        pages = env.get("entry_pages") or ["/"]
        target = Target(
            project=project,
            environment=environment,
            live_url=_text(env.get("live_url"), "live_url"),
            site_url=_text(env.get("site_url") or "", "site_url"),
            entry_pages=tuple(_text(page, "entry_pages") for page in _list(pages, "entry_pages")),
            deployment_id=_deployment_field(deployment, "id", int),
            bundle_url=_deployment_field(deployment, "bundle_url", str),
            inline_scripts_must_be_declared=document.get("inline_scripts_must_be_declared") is not False,
        )
    except FormatError as exc:
        raise PortalUnreachable(
            f"the portal's description of {project}/{environment} is unusable: {exc}"
        ) from None
    if (target.deployment_id is None) != (target.bundle_url is None):
        raise PortalUnreachable(
            f"the portal names a deployment of {project}/{environment} without its bundle"
        )
    return target


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{name} is not a string")
    return value


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise FormatError(f"{name} is not a list")
    return value


def _deployment_field(deployment: object, name: str, kind: type) -> Any:
    if deployment is None:
        return None
    value = deployment.get(name) if isinstance(deployment, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FormatError(f"current_deployment.{name} is missing or not a {kind.__name__}")
    return value


def fetch_bundle(portal: str, target: Target) -> Bundle:
    """GET the deployment's proof bundle from the portal (only from the portal: a bundle URL elsewhere is
    refused) and parse it; it must be the bundle of the deployment the portal named, of the environment."""
    url = urljoin(portal + "/", target.bundle_url or "")
    if urlsplit(url)[:2] != urlsplit(portal)[:2]:
        raise PortalUnreachable(f"the portal names a proof bundle at {url[:100]}, outside the portal")
    status, body = fetch_portal(url, MAX_BUNDLE_BYTES)
    if status != 200:
        raise PortalUnreachable(f"the portal answered {status} to {url}{_error_detail(body)}")
    try:
        bundle = parse_bundle(body)
    except FormatError as exc:
        raise BundleRefused(f"the portal's proof bundle {url} is not a usable bundle: {exc}") from None
    record = bundle.record
    wanted = ("deployment", target.project, target.environment, target.deployment_id)
    found = (bundle.kind, record.get("project"), record.get("environment"), record.get("deployment_id"))
    if found != wanted:
        raise BundleRefused(
            f"the portal's proof bundle {url} is of {found[0]} {found[3]} of {found[1]}/{found[2]}, not of "
            f"deployment {target.deployment_id} of {target.project}/{target.environment}"
        )
    return bundle


def fetch_portal(url: str, max_bytes: int, *, timeout: float = FETCH_TIMEOUT) -> tuple[int, bytes]:
    """GET ``url`` without following redirects; ``(status, body)``, the body read up to ``max_bytes``
    within ``timeout``. ``PortalUnreachable`` when no answer comes, or a larger one."""
    request = urllib.request.Request(  # noqa: S310 - the portal's URL went through check_portal_url
        url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    opener = publish.opener_refusing_redirects(_redirected)
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, state.read_capped(response, max_bytes, deadline, url)
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, state.read_capped(answer, max_bytes, deadline, url)
    except CouldNotCheck as exc:
        raise PortalUnreachable(str(exc)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PortalUnreachable(f"could not reach {url}: {reason}") from None


def _redirected(code: int, new_url: str) -> command.CommandError:
    return command.CommandError(
        f"the portal answered with a redirect ({code}) to {new_url[:100]}; give that address as --portal"
    )


def _error_detail(body: bytes) -> str:
    try:
        document = jsontext.loads(body)
    except FormatError:
        return ""
    return f": {publish.error_message(document)[:200]}" if isinstance(document, dict) else ""


# --- The deployed release -----------------------------------------------------------------------------


def deployed_statement(bundle: Bundle) -> Statement:
    """The signed statement of the deployment bundle's release, once ``verify_bundle`` passed it."""
    if bundle.release is None:
        raise FormatError("the deployment bundle holds no release bundle")
    return release_statement(bundle.release)


def release_statement(release: Bundle) -> Statement:
    """The signed statement of a release bundle, once ``verify_bundle`` passed it: the envelope's
    payload, or a keyless release's statement as ``verifier.keyless`` reads it."""
    if release.sigstore_bundle is not None:
        evidence = verify_keyless(release.sigstore_bundle.encode("utf-8"), release.identities)
        return check_keyless_claims(evidence, Claims(artifact_digest=release.record["artifact_digest"]))
    if release.envelope is None:
        raise FormatError("the release bundle holds no envelope")
    return parse_statement(parse_envelope(release.envelope).payload)


def compare_live(report: LiveReport, release: Mapping[str, Any], environment: str) -> Verdict:
    """The live endpoint's answer against the deployed release's record (as its verified bundle has it).

    One artifact digest must be the release's (and the release must be of one artifact); components must
    be exactly the release's, each matching by the strongest digest both know. The observer knows only the
    deployed release, not every release of the project: a digest that is not the deployed release's is
    ``UNREGISTERED_ARTIFACT`` ("not the deployed release"), whether or not the portal knows it.
    """
    version, digest = release["version"], release["artifact_digest"]
    what = f"release {version} ({digest}), the latest deployment to {environment}"
    declared = {
        str(c["name"]): dict(c["digest"]) for c in release.get("components") or [] if isinstance(c, dict)
    }
    if report.components is None:
        if report.artifact_digest != digest:
            return Verdict(
                Result.MISMATCH,
                Reason.UNREGISTERED_ARTIFACT,
                f"The server reports {report.artifact_digest}, which is not {what}: it runs something else "
                "than the deployed release (this observer cannot tell whether the portal knows it).",
            )
        if declared:
            return Verdict(
                Result.MISMATCH,
                Reason.COMPONENT_MISSING,
                f"The server reports one artifact digest, but {what} has the components "
                f"{_quoted(declared)}: it must report each by name.",
            )
        return Verdict(Result.VERIFIED, None, f"The server runs {what}.")
    declared = declared or {release["artifact_name"]: {"sha256": digest.removeprefix("sha256:")}}
    for name, digests in declared.items():
        if name in report.components:
            algorithm, hex_part = component_digest(report.components[name])
            if not digest_sets_match(digests, {algorithm: hex_part}):
                expected = ", ".join(f"{alg}:{value}" for alg, value in sorted(digests.items()))
                return Verdict(
                    Result.MISMATCH,
                    Reason.COMPONENT_MISMATCH,
                    f"The server reports component '{name}' as {report.components[name]}, but {what} "
                    f"declares {expected}.",
                )
    missing = [name for name in declared if name not in report.components]
    if missing:
        return Verdict(
            Result.MISMATCH,
            Reason.COMPONENT_MISSING,
            f"The server does not report component {_quoted(missing)} of {what}.",
        )
    extra = [name for name in report.components if name not in declared]
    if extra:
        return Verdict(
            Result.MISMATCH,
            Reason.COMPONENT_UNEXPECTED,
            f"The server reports component {_quoted(extra)}, which {what} does not have.",
        )
    return Verdict(Result.VERIFIED, None, f"The server runs every component of {what}.")


def _quoted(names: Sequence[str] | Mapping[str, Any]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The verdict that decides: the first mismatch, else the first that could not check, else the first."""
    for result in (Result.MISMATCH, Result.UNVERIFIABLE):
        for verdict in verdicts:
            if verdict.result == result:
                return verdict
    return verdicts[0]


# --- The command --------------------------------------------------------------------------------------


def add_observe_parser(subparsers: command.Subparsers) -> argparse.ArgumentParser:
    parser = command.add_subcommand(subparsers, "observe", run_observe)
    parser.add_argument(
        "--portal", required=True, help="the portal's base URL, e.g. https://vitrina.example.org"
    )
    parser.add_argument("--project", required=True, help="the project's slug")
    parser.add_argument("--environment", required=True, help="the environment's name, e.g. production")
    parser.add_argument("--key", metavar="KEY.pem", help="the observer's private key (needed with --publish)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help=f"post the signed observation to the portal, with the token in ${TOKEN_ENV}",
    )
    state.add_history_options(parser)
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="let the live endpoint and the site be on private or loopback addresses (your own network)",
    )
    parser.add_argument(
        "--user-agent",
        default=USER_AGENT,
        help=f"the User-Agent of the requests to the server and the site (default {USER_AGENT})",
    )
    return parser


def run_observe(args: argparse.Namespace) -> int:
    """Check an environment from here, as an independent observer, and optionally publish what you saw.

    Ask the portal which release is deployed to the environment, check that deployment's proof bundle,
    then ask the live endpoint and read the site's scripts and style sheets from this machine and compare
    them with the release. With --publish, post the observation signed with your key (--key) and your
    observer token from $VITRINA_OBSERVER_TOKEN. Exit codes: 0 verified, 1 mismatch (or a proof bundle
    that does not verify, or a refused observation), 2 could not check, 3 bad input.
    """
    for option, name in (("--project", args.project), ("--environment", args.environment)):
        if not SLUG.fullmatch(name):
            raise command.CommandError(f"{option} {name[:80]!r} is not a slug (letters, digits, - and _)")
    if args.publish and not args.key:
        raise command.CommandError("--publish signs the observation: give your private key with --key")
    portal = publish.check_portal_url(args.portal) if args.publish else state.check_portal_url(args.portal)
    log_key = command.read_log_key(args.log_key) if args.log_key else None
    private_key = read_private_key(args.key) if args.key else None
    token = os.environ.get(TOKEN_ENV, "").strip() if args.publish else None
    if token == "":
        raise command.CommandError(
            f"--publish: the environment variable {TOKEN_ENV} is empty; put your observer token (vto_…) there"
        )
    publishing = (
        Publisher(token, private_key, observer_name(portal, private_key)) if token and private_key else None
    )
    history = state.history_from(args, portal)

    target = fetch_target(portal, args.project, args.environment)
    observed_at = datetime.datetime.now(datetime.UTC)
    if target.deployment_id is None:
        verdict = Verdict(
            Result.UNVERIFIABLE,
            Reason.NO_DEPLOYMENT,
            f"No deployment to {args.project}/{args.environment} is recorded: nothing to compare with.",
        )
        print(f"{LABELS[ERROR]} deployment: {verdict.message}")
        return finish(portal, publishing, target, None, observed_at, verdict, None, None)
    bundle = fetch_bundle(portal, target)
    check_bundle(bundle, log_key, history)
    release = bundle.release.record if bundle.release else {}

    live, live_verdict = observe_live(target, release, args.allow_private, args.user_agent)
    print(f"{_label(live_verdict)} live endpoint: {live_verdict.message}")
    verdicts = [live_verdict]
    served = None
    if target.site_url:
        served = observe_served(bundle, target, args.allow_private, args.user_agent)
        served_verdict = Verdict(served.result, served.reason, served.message)
        print(f"{_label(served_verdict)} served files: {served.message}")
        verdicts.append(served_verdict)
    else:
        print(f"{LABELS[SKIP]} served files: the environment has no site URL")
    return finish(portal, publishing, target, bundle, observed_at, worst(verdicts), live, served)


def check_bundle(bundle: Bundle, log_key: str | None, history: state.History | None) -> None:
    """Run ``verify_bundle`` and print its lines; a failure is ``BundleRefused``, a check that could not
    run ``PortalUnreachable``: without a verified release there is nothing to compare with."""
    results = verify_bundle(bundle, log_key=log_key, history=history)
    for result in results:
        print(f"{LABELS[result.status]} {result.name}: {result.message}")
    failed = [result.name for result in results if result.status == FAIL]
    if failed:
        print(f"RESULT: FAILED. the portal's proof bundle does not verify: {', '.join(failed)}")
        raise BundleRefused("the portal's proof bundle does not verify; nothing was published")
    errors = [result.name for result in results if result.status == ERROR]
    if errors:
        raise PortalUnreachable(f"could not check the portal's proof bundle: {', '.join(errors)}")


def observe_live(
    target: Target, release: Mapping[str, Any], allow_private: bool, user_agent: str
) -> tuple[LiveReport | None, Verdict]:
    try:
        live = fetch_live(target.live_url, allow_private=allow_private, user_agent=user_agent)
    except CouldNotCheck as exc:
        return None, Verdict(Result.UNVERIFIABLE, exc.reason, str(exc))
    return live, compare_live(live, release, f"{target.project}/{target.environment}")


def observe_served(bundle: Bundle, target: Target, allow_private: bool, user_agent: str) -> ServedVerdict:
    try:
        statement = deployed_statement(bundle)
    except VerifierError as exc:
        return unverifiable_served(
            Reason.CHECKER_ERROR, f"the release's signed statement cannot be read here: {exc}"
        )
    try:
        report = fetch_served(
            target.site_url,
            target.entry_pages,
            allow_private=allow_private,
            user_agent=user_agent,
            listed_urls=[f.path for f in statement.served_files if f.path.startswith("https://")],
        )
    except CouldNotCheck as exc:
        return unverifiable_served(exc.reason, str(exc))
    return compare_served(
        report,
        statement.served_files,
        statement.inline_scripts,
        inline_must_be_declared=target.inline_scripts_must_be_declared,
    )


def unverifiable_served(reason: Reason, message: str) -> ServedVerdict:
    return ServedVerdict(
        result=Result.UNVERIFIABLE,
        reason=reason,
        message=message,
        checked=0,
        matched=0,
        inline_scripts=0,
        inline_declared=0,
        problems=(),
    )


def _label(verdict: Verdict) -> str:
    return LABELS[{Result.VERIFIED: PASS, Result.MISMATCH: FAIL}.get(verdict.result, ERROR)]


def finish(
    portal: str,
    publishing: Publisher | None,
    target: Target,
    bundle: Bundle | None,
    observed_at: datetime.datetime,
    verdict: Verdict,
    live: LiveReport | None,
    served: ServedVerdict | None,
) -> int:
    """Print the RESULT line; with --publish, sign and post the observation. Return the exit code."""
    words = {Result.VERIFIED: "verified", Result.MISMATCH: "MISMATCH", Result.UNVERIFIABLE: "COULD NOT CHECK"}
    reason = f" ({verdict.reason})" if verdict.reason else ""
    print(f"RESULT: {words[verdict.result]}{reason}. {verdict.message}")
    if publishing is None:
        return EXIT_CODES[verdict.result]
    deployment = bundle.record if bundle else {}
    observation = Observation(
        portal=portal,
        project=target.project,
        environment=target.environment,
        observer=publishing.observer,
        observed_at=observed_at,
        deployment_id=deployment.get("deployment_id"),
        release_id=deployment.get("release_id"),
        expected_digest=deployment.get("artifact_digest", ""),
        live_url=target.live_url,
        live_digest=live.artifact_digest if live else None,
        live_components=live.components if live else None,
        served_files=served_seen(served) if served else None,
        result=verdict.result,
        reason=verdict.reason,
        message=verdict.message[:2000],
    )
    envelope = sign_observation(observation, publishing.private_key)
    answer = publish.call(
        f"{portal}/api/v1/observer-reports/", {"envelope": envelope_to_json(envelope)}, publishing.token
    )
    print(f"published: observer report {answer.get('id')}, log index {answer.get('log_index')}")
    return EXIT_CODES[verdict.result]


def served_seen(verdict: ServedVerdict) -> ServedFilesSeen:
    """The served-files verdict as an observation carries it."""
    return ServedFilesSeen(
        result=verdict.result,
        reason=verdict.reason,
        message=verdict.message[:2000],
        checked=verdict.checked,
        matched=verdict.matched,
        inline_scripts=verdict.inline_scripts,
        inline_declared=verdict.inline_declared,
        problems=tuple(
            ServedProblemSeen(p.reason, p.path, p.expected, p.found) for p in verdict.problems[:20]
        ),
    )


def observer_name(portal: str, private_key: PrivateKey) -> str:
    """The name the portal registered this observer's key under (``party_name``)."""
    return party_name(portal, private_key, "observer")


def party_name(portal: str, private_key: PrivateKey, party: str) -> str:
    """The name the portal registered this ``party``'s key under (``observer`` or ``rebuilder``), from
    its public list of them (``GET /api/v1/<party>s/``, page by page, by key id): a key it does not list
    as active is bad input, said before anything is checked or signed."""
    key_id = private_key.public_key.key_id
    for offset in range(0, MAX_PARTIES, PARTIES_PAGE):
        url = f"{portal}/api/v1/{party}s/?limit={PARTIES_PAGE}&offset={offset}"
        status, body = fetch_portal(url, MAX_PROJECT_BYTES)
        if status != 200:
            raise PortalUnreachable(f"the portal answered {status} to {url}{_error_detail(body)}")
        try:
            page = jsontext.loads_object(body, what=f"the portal's list of {party}s")["results"]
        except (FormatError, KeyError) as exc:
            raise PortalUnreachable(f"{url}: not a list of {party}s ({exc})") from None
        listed = page if isinstance(page, list) else []
        for registered in listed:
            if (
                isinstance(registered, dict)
                and registered.get("key_id") == key_id
                and not registered.get("removed_at")
            ):
                name = registered.get("name")
                if isinstance(name, str) and name:
                    return name
        if len(listed) < PARTIES_PAGE:
            break
    raise command.CommandError(
        f"--key: the portal at {portal} lists no active {party} with key {key_id[:16]}…; ask its operators "
        f"to register your public key (manage.py add{party})"
    )
