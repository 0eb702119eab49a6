"""``vitrina-verify monitor``: anyone checks every entry of a portal's log, and that the log only grows.

A proof bundle proves one release; a monitor watches them all. Run from cron or CI, it:

1. fetches the portal's checkpoint (``/log/checkpoint``) and verifies it under the log key given with
   ``--log-key`` (cosignature lines by witnesses are ignored);
2. reads the log's hash tiles and entry bundles (``verifier.follow``): the tiles must hash to the new
   checkpoint's root, and the first ``m`` leaves of the new tree must hash to the root of the checkpoint
   of size ``m`` remembered from the last run. If not, the log FORKED (or went back, if smaller): the
   finding quotes both signed checkpoints, a copy is kept as ``fork-<time>.txt`` and nothing advances;
3. checks every new entry (``EntryChecker``): every release verifies (its proof bundle, fetched from the
   portal, passes ``verify_bundle`` and carries the entry the tiles hold) under a key, or a CI identity,
   that the log says the project trusted when it was registered; every release and deployment names who
   entered it; key, identity and party changes are reported; a deployment of a release whose commit is
   not on the project's protected branch (or whose branch cannot be told) is reported;
4. prints one line per finding, ``<problem|notice> <entry index|-> <kind>: <sentence>``, then a ``RESULT``
   line; remembers the new checkpoint and what it learned (keys, identities, releases) in ``--state DIR``,
   only once every new entry was checked; with ``--webhook URL`` posts the findings as one JSON document.

Exit codes (``verifier.command``): 0 no finding, 1 any finding, 2 could not check (the portal, a
repository or the webhook did not answer; nothing is remembered unless every entry was checked), 3 bad
input. docs/monitor.md lists every finding and what to do about it.

The portal is read through the hardened client of ``verifier.live`` (every request capped in bytes and
time, no redirects, private addresses only with ``--allow-private``), in the functions named ``fetch_…``;
repositories through ``verifier.repo``. Everything else here is pure.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any, NamedTuple

from verifier import command, jsontext, publish, state
from verifier.bundle import MAX_BUNDLE_BYTES
from verifier.entries import format_time
from verifier.errors import CouldNotCheck, FormatError, VerifierError
from verifier.findings import PROBLEM, EntryChecker, Evidence, Finding, Knowledge, problem, quoted
from verifier.follow import Fetch, LogInconsistent, TileLog
from verifier.live import REDIRECT_STATUSES, HardenedClient
from verifier.note import MAX_NOTE_BYTES, Checkpoint, parse_verifier_key, verify_checkpoint
from verifier.observe import SLUG
from verifier.reasons import Reason
from verifier.repo import RepoCheck, RepoMirror
from verifier.version import __version__

USER_AGENT = f"Vitrina-log-monitor/{__version__}"
FETCH_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 10.0
MAX_WEBHOOK_ANSWER = 64 * 1024
# What the state remembers grows with the log (a few hundred bytes a release); a damaged or hostile file
# is not read past this.
MAX_STATE_BYTES = 64 * 1024 * 1024


# --- Following the log ------------------------------------------------------------------------------------


class Remembered(NamedTuple):
    """What the last complete run left: the checkpoint it verified, and what it had learned."""

    note: str
    checkpoint: Checkpoint
    knowledge: Knowledge


@dataclass
class Outcome:
    """A run's result: ``advance`` when every new entry was checked (the state may move on)."""

    advance: bool
    knowledge: Knowledge
    old_size: int
    new_size: int
    tiles_read: int = 0
    bundles_read: int = 0
    proofs_read: int = 0


# keep_fork(message, remembered note, new note): where both notes were kept as evidence.
KeepFork = Callable[[str, str, str], Path]


class LogMonitor:
    """One run over the log whose verifier key is ``log_key``: ``run`` compares the served checkpoint with
    the remembered one through the tiles, then checks each new entry. Findings go to ``emit`` as found."""

    def __init__(
        self,
        log_key: str,
        *,
        fetch: Fetch,
        evidence: Evidence,
        emit: Callable[[Finding], None],
        keep_fork: KeepFork,
        projects: frozenset[str] = frozenset(),
    ) -> None:
        self.log_key = log_key
        self.origin = parse_verifier_key(log_key).name
        self.fetch = fetch
        self.evidence = evidence
        self.emit = emit
        self.keep_fork = keep_fork
        self.projects = projects

    def run(self, note: str, remembered: Remembered | None, *, from_size: int = 0) -> Outcome:
        """Check the log up to the checkpoint ``note``, from ``remembered`` (or from the start, reporting
        from ``from_size``). Raises ``CouldNotCheck`` when something did not answer."""
        knowledge = remembered.knowledge if remembered else Knowledge()
        old_size = remembered.checkpoint.size if remembered else 0
        held = Outcome(False, knowledge, old_size, old_size)
        try:
            checkpoint = verify_checkpoint(note, self.log_key, origin=self.origin)
        except VerifierError as exc:
            self.emit(problem(None, "bad_checkpoint", f"the portal's checkpoint does not verify: {exc}"))
            return held
        held.new_size = checkpoint.size
        if remembered is None and from_size > checkpoint.size:
            raise FormatError(f"--from-size {from_size} is past the log's size {checkpoint.size}")
        if remembered is not None and self._diverged(remembered, checkpoint, note, None):
            return held
        try:
            log = TileLog(checkpoint.size, checkpoint.root, self.fetch)
            if remembered is not None and self._diverged(remembered, checkpoint, note, log):
                return held
            checker = EntryChecker(
                knowledge,
                log_key=self.log_key,
                evidence=self.evidence,
                projects=self.projects,
                tree=log.tree_hash,
                tree_size=checkpoint.size,
            )
            for index, entry in log.entries(old_size):
                for finding in checker.check(index, entry, report=index >= from_size):
                    self.emit(finding)
        except LogInconsistent as exc:
            trusted = "nothing after the remembered checkpoint is trusted"
            self.emit(problem(None, "log_inconsistent", f"{exc}; {trusted}"))
            return held
        return Outcome(
            True, knowledge, old_size, checkpoint.size, log.tiles_read, log.bundles_read, checker.bundles_read
        )

    def _diverged(self, remembered: Remembered, new: Checkpoint, note: str, log: TileLog | None) -> bool:
        """Whether the checkpoint served now contradicts the remembered one: by their sizes and roots alone
        (``log`` None), or through the tiles, whose first leaves must hash to the remembered root. A
        contradiction is reported with both checkpoints as evidence."""
        old = remembered.checkpoint
        if log is not None:
            if log.tree_hash(old.size) == old.root:
                return False
            kind = "fork"
            what = (
                f"the log FORKED: its tree of size {new.size} does not extend the remembered tree of size "
                f"{old.size} (its first {old.size} entries hash to another root)"
            )
        elif new.size < old.size:
            kind, what = "rollback", f"the log WENT BACK from size {old.size} to size {new.size}"
        elif new.size == old.size and new.root != old.root:
            kind, what = "fork", f"the log FORKED: two different trees of size {old.size}"
        else:
            return False
        message = (
            f"{what}: remembered checkpoint {quoted(remembered.note)}, checkpoint served now {quoted(note)}"
        )
        kept = self.keep_fork(message, remembered.note, note)
        self.emit(problem(None, kind, f"{message}; both are kept in {kept}; the remembered one stays"))
        return True


# --- The state directory --------------------------------------------------------------------------------


class MonitorState:
    """One JSON file per log origin in ``directory``: the last checkpoint verified (its signed note, read
    back under the log key every time) and the ``Knowledge`` learned up to it, written atomically."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path_for(self, origin: str) -> Path:
        return self.directory / f"monitor-{hashlib.sha256(origin.encode()).hexdigest()[:32]}.json"

    def load(self, origin: str, log_key: str) -> Remembered | None:
        """What the last complete run left, or None; ``command.CommandError`` when the file is damaged or
        was written for another log key."""
        path = self.path_for(origin)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            if len(data) > MAX_STATE_BYTES:
                raise FormatError(f"larger than {MAX_STATE_BYTES // (1024 * 1024)} MiB")
            document = jsontext.loads_object(data, what="the file")
            if document["verifier_key"] != log_key:
                raise command.CommandError(
                    f"{path} remembers the log under the key {str(document['verifier_key'])[:80]}, not the "
                    "--log-key given: use another --state directory for another log"
                )
            note = document["checkpoint"]
            if not isinstance(note, str):
                raise TypeError("checkpoint is not a string")
            return Remembered(
                note,
                verify_checkpoint(note, log_key, origin=origin),
                Knowledge.from_json(document["knowledge"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, VerifierError) as exc:
            raise command.CommandError(
                f"{path} is damaged ({str(exc)[:200]}); move it away to start afresh"
            ) from None

    def save(self, origin: str, log_key: str, note: str, knowledge: Knowledge) -> None:
        document = {
            "origin": origin,
            "verifier_key": log_key,
            "checkpoint": note,
            "knowledge": knowledge.to_json(),
        }
        self._write(self.path_for(origin), json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n")

    def keep_fork(self, message: str, old_note: str, new_note: str) -> Path:
        moment = datetime.datetime.now(datetime.UTC)
        path = self.directory / f"fork-{moment:%Y%m%dT%H%M%S.%fZ}.txt"
        text = (
            f"vitrina-verify monitor found at {format_time(moment)}: {message}\n\n"
            f"The checkpoint remembered:\n\n{old_note}\nThe checkpoint served now:\n\n{new_note}"
        )
        self._write(path, text)
        return path

    def _write(self, path: Path, text: str) -> None:
        """Write ``path`` atomically (``state.write_atomically``), for the user only."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        state.write_atomically(path, text.encode())


# --- The network ----------------------------------------------------------------------------------------


def fetch_from_portal(
    portal: str, path: str, *, max_bytes: int, accept: str, allow_private: bool
) -> bytes | None:
    """GET ``<portal>/<path>`` through the hardened client: its body (200), None (404), or ``CouldNotCheck``
    for anything else, a redirect included (the portal is the address the user gave)."""
    url = f"{portal}/{path}"
    client = HardenedClient(
        allow_private=allow_private, total_timeout=FETCH_TIMEOUT, max_redirects=0, user_agent=USER_AGENT
    )
    fetched = client.fetch(url, max_bytes=max_bytes, accept=accept, redirect_ok=lambda _target: False)
    if fetched.status == 200:
        return fetched.body
    if fetched.status == 404:
        return None
    if fetched.status in REDIRECT_STATUSES:
        raise CouldNotCheck(
            Reason.BAD_RESPONSE,
            f"{url} redirects to {fetched.final_url[:100]}; give the portal's own address as --portal",
        )
    raise CouldNotCheck(Reason.BAD_RESPONSE, f"{url} answered HTTP {fetched.status}")


def fetch_checkpoint(portal: str, *, allow_private: bool) -> str:
    """The portal's latest checkpoint (``/log/checkpoint``), as text."""
    body = fetch_from_portal(
        portal, "log/checkpoint", max_bytes=MAX_NOTE_BYTES, accept="text/plain", allow_private=allow_private
    )
    if body is None:
        raise CouldNotCheck(Reason.BAD_RESPONSE, f"{portal}/log/checkpoint: the log has no checkpoint yet")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise CouldNotCheck(Reason.BAD_RESPONSE, f"{portal}/log/checkpoint is not UTF-8 text") from None


class PortalEvidence:
    """``Evidence`` from the portal (proof bundles) and from the repositories, mirrored under ``repos``."""

    def __init__(self, portal: str, *, allow_private: bool, repos: RepoMirror) -> None:
        self.portal = portal
        self.allow_private = allow_private
        self.repos = repos

    def fetch_tile(self, path: str, max_bytes: int) -> bytes | None:
        """A tile or an entry bundle of the log (``verifier.follow.Fetch``)."""
        return fetch_from_portal(
            self.portal,
            f"log/{path}",
            max_bytes=max_bytes,
            accept="application/octet-stream",
            allow_private=self.allow_private,
        )

    def fetch_release_bundle(self, release_id: int) -> bytes | None:
        return self._fetch_bundle(f"api/v1/releases/{release_id}/bundle")

    def fetch_deployment_bundle(self, deployment_id: int) -> bytes | None:
        return self._fetch_bundle(f"api/v1/deployments/{deployment_id}/bundle")

    def _fetch_bundle(self, path: str) -> bytes | None:
        return fetch_from_portal(
            self.portal,
            path,
            max_bytes=MAX_BUNDLE_BYTES,
            accept="application/json",
            allow_private=self.allow_private,
        )

    def fetch_branch_check(self, repo_url: str, commit: str, branch: str) -> RepoCheck:
        return self.repos.check_commit(repo_url, commit, branch)


def check_webhook_url(url: str) -> str:
    """``--webhook``: an http(s) URL; ``command.CommandError`` otherwise."""
    try:
        parsed = urllib.parse.urlsplit(url)
        _port = parsed.port
    except ValueError as exc:
        raise command.CommandError(f"--webhook {url[:80]!r} is not a usable URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise command.CommandError(f"--webhook must be an http:// or https:// URL, got {url[:80]!r}")
    return url


def post_webhook(url: str, document: Mapping[str, Any], *, timeout: float = WEBHOOK_TIMEOUT) -> None:
    """POST ``document`` as JSON to ``url`` (not following redirects), within ``timeout`` seconds;
    ``CouldNotCheck`` unless it answers 2xx."""
    request = urllib.request.Request(  # noqa: S310 - check_webhook_url allows http(s) only
        url,
        data=json.dumps(document, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    opener = publish.opener_refusing_redirects(
        lambda code, new_url: CouldNotCheck(
            Reason.BAD_RESPONSE, f"the webhook {url[:100]} redirected ({code}) to {new_url[:100]}"
        )
    )
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            state.read_capped(response, MAX_WEBHOOK_ANSWER, deadline, url)
    except urllib.error.HTTPError as answer:
        with answer:
            raise CouldNotCheck(
                Reason.BAD_RESPONSE, f"the webhook {url[:100]} answered HTTP {answer.code}"
            ) from None
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CouldNotCheck(
            Reason.UNREACHABLE, f"could not reach the webhook {url[:100]}: {reason}"
        ) from None


# --- The command ----------------------------------------------------------------------------------------


class CouldNotMonitor(command.CommandError):
    """The portal, a repository or the state directory did not let the run finish: worth a retry."""

    exit_code = command.EXIT_COULD_NOT_CHECK


def add_monitor_parser(subparsers: command.Subparsers) -> argparse.ArgumentParser:
    parser = command.add_subcommand(subparsers, "monitor", run_monitor)
    parser.add_argument("--portal", required=True, metavar="URL", help="the portal's base URL")
    parser.add_argument(
        "--log-key",
        required=True,
        metavar="KEY",
        help="the log's verifier key (name+hash+base64), or a file holding it, as the portal publishes it",
    )
    parser.add_argument(
        "--state",
        required=True,
        metavar="DIR",
        help="where the last checkpoint checked and what was learned are kept between runs",
    )
    parser.add_argument(
        "--project",
        action="append",
        default=[],
        metavar="SLUG",
        help="report only on this project's entries (repeat for each); the whole log is still followed",
    )
    parser.add_argument(
        "--from-size",
        type=int,
        metavar="N",
        help="on a first run, report only on entries from index N (the earlier ones are still read)",
    )
    parser.add_argument("--webhook", metavar="URL", help="POST the findings there as one JSON document")
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="let the portal, and the repositories, be on loopback or private addresses (tests, intranets)",
    )
    return parser


def run_monitor(args: argparse.Namespace) -> int:
    """Follow a portal's whole log and check every new entry.

    Read the log's tiles from the checkpoint remembered in --state DIR to the portal's latest one (proving
    that the log only grew, or reporting a fork with both checkpoints), and check every new entry: each
    release verifies and was signed by a key or CI identity the project trusted then, every release and
    deployment says who entered it, changes of keys, identities and parties are reported, and deployments
    of releases not built from the protected branch are reported. Prints one line per finding and a
    RESULT line; --webhook URL also posts them as JSON. Exit codes: 0 no finding, 1 findings, 2 could not
    check, 3 bad input.
    """
    portal = state.check_portal_url(args.portal)
    log_key = command.read_log_key(args.log_key)
    origin = parse_verifier_key(log_key).name
    for project in args.project:
        if not SLUG.fullmatch(project):
            raise command.CommandError(f"--project {project[:80]!r} is not a slug (letters, digits, - and _)")
    if args.from_size is not None and args.from_size < 0:
        raise command.CommandError(f"--from-size must be 0 or more, got {args.from_size}")
    webhook = check_webhook_url(args.webhook) if args.webhook else None
    store = MonitorState(args.state)
    remembered = store.load(origin, log_key)
    if remembered is not None and args.from_size is not None:
        raise command.CommandError(
            f"--from-size is for a first run: {args.state} already remembers the log at size "
            f"{remembered.checkpoint.size}"
        )
    evidence = PortalEvidence(
        portal,
        allow_private=args.allow_private,
        repos=RepoMirror(Path(args.state) / "repositories", allow_private=args.allow_private),
    )
    findings: list[Finding] = []

    def emit(finding: Finding) -> None:
        print(finding.line(), flush=True)
        findings.append(finding)

    monitor = LogMonitor(
        log_key,
        fetch=evidence.fetch_tile,
        evidence=evidence,
        emit=emit,
        keep_fork=store.keep_fork,
        projects=frozenset(args.project),
    )
    try:
        note = fetch_checkpoint(portal, allow_private=args.allow_private)
        outcome = monitor.run(note, remembered, from_size=args.from_size or 0)
    except OSError as exc:
        raise CouldNotMonitor(
            f"cannot write to the state directory: {exc.strerror} ({exc.filename})"
        ) from None
    except CouldNotCheck as exc:
        hint = (
            " (add --allow-private for a portal on this network)"
            if exc.reason == Reason.FORBIDDEN_ADDRESS
            else ""
        )
        raise CouldNotMonitor(
            f"could not check the log at {portal}: {exc}{hint}; nothing was remembered"
        ) from None
    if outcome.advance:
        _writing_state(lambda: store.save(origin, log_key, note, outcome.knowledge))
    print(summary(origin, outcome, findings))
    if webhook and findings:
        document = {"portal": portal, "checkpoint": note, "findings": [f.to_json() for f in findings]}
        try:
            post_webhook(webhook, document)
        except CouldNotCheck as exc:
            print(f"monitor: the findings were not posted: {exc}", file=sys.stderr)
            return command.EXIT_COULD_NOT_CHECK
    return command.EXIT_FAILED if findings else command.EXIT_OK


def _writing_state(write: Callable[[], object]) -> None:
    """Run ``write`` (to the state directory); its failure is a ``CouldNotMonitor`` naming why."""
    try:
        write()
    except OSError as exc:
        raise CouldNotMonitor(
            f"cannot write to the state directory: {exc.strerror} ({exc.filename})"
        ) from None


def summary(origin: str, outcome: Outcome, findings: list[Finding]) -> str:
    """The RESULT line: what was found, in which entries, and what was read to find it."""
    problems = sum(finding.severity == PROBLEM for finding in findings)
    counted = (
        f"{_count(len(findings), 'finding')} ({_count(problems, 'problem')}, "
        f"{_count(len(findings) - problems, 'notice')})"
        if findings
        else "no findings"
    )
    if not outcome.advance:
        return (
            f"RESULT: {counted}; the log {origin} was not followed further: the remembered checkpoint stays"
        )
    if outcome.new_size == outcome.old_size:
        return f"RESULT: {counted}; the log {origin} is still at size {outcome.new_size}, as remembered"
    new = _count(outcome.new_size - outcome.old_size, "new entry", "new entries")
    return (
        f"RESULT: {counted} in {new} of {origin} (entries {outcome.old_size} to {outcome.new_size - 1}, tree "
        f"size {outcome.old_size} -> {outcome.new_size}); read {_count(outcome.tiles_read, 'tile')}, "
        f"{_count(outcome.bundles_read, 'entry bundle')}, {_count(outcome.proofs_read, 'proof bundle')}"
    )


def _count(number: int, noun: str, plural: str = "") -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
