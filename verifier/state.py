"""What the verifier remembers between runs: the last checkpoint it accepted for each log.

A checkpoint proves what the log held at one moment; comparing it with one seen earlier shows whether
the log only grew since. Two checkpoints of the same size with different roots are proof of a fork;
a newer one that no consistency proof links to the remembered one is proof of rewritten history.

State lives in ``$XDG_CACHE_HOME/vitrina-verifier/`` (``~/.cache/vitrina-verifier/`` by default), one
small JSON file per log origin holding the signed note, so a remembered checkpoint is re-verified
every time it is read. ``fetch_consistency_proof`` is the only network access, to a portal the user
named, capped in size and time.
"""

import argparse
import base64
import binascii
import contextlib
import functools
import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from verifier import jsontext
from verifier.bundle import Skip
from verifier.errors import CheckpointError, CouldNotCheck, FormatError, ProofError, VerifierError
from verifier.merkle import verify_consistency
from verifier.note import Checkpoint, verify_checkpoint
from verifier.publish import opener_refusing_redirects
from verifier.reasons import Reason
from verifier.version import __version__

MAX_STATE_BYTES = 512 * 1024
MAX_PROOF_RESPONSE_BYTES = 64 * 1024
FETCH_TIMEOUT = 15.0

# fetch_proof(first, second): the consistency proof between two tree sizes, a list of 32-byte hashes.
ProofFetcher = Callable[[int, int], list[bytes]]


def default_state_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "vitrina-verifier"


class CheckpointStore:
    """The remembered checkpoint of each log origin, in files under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path_for(self, origin: str) -> Path:
        return self.directory / f"{hashlib.sha256(origin.encode()).hexdigest()[:32]}.json"

    def load(self, origin: str) -> tuple[str, str, Checkpoint] | None:
        """Return (verifier key, signed note, Checkpoint) remembered for ``origin``, or None."""
        path = self.path_for(origin)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CouldNotCheck(
                Reason.BAD_RESPONSE, f"cannot read remembered checkpoint {path}: {exc.strerror}"
            ) from None
        try:
            if len(data) > MAX_STATE_BYTES:
                raise FormatError("file too large")
            state = jsontext.loads(data, what="the file")
            vkey, note = state["verifier_key"], state["checkpoint"]
            if not isinstance(vkey, str) or not isinstance(note, str):
                raise FormatError("verifier_key and checkpoint must be strings")
            checkpoint = verify_checkpoint(note, vkey, origin=origin)
        except (ValueError, KeyError, TypeError, VerifierError) as exc:
            raise CouldNotCheck(
                Reason.BAD_RESPONSE,
                f"remembered checkpoint {path} is damaged ({exc}); delete it to start afresh",
            ) from None
        return vkey, note, checkpoint

    def save(self, origin: str, verifier_key: str, note: str) -> None:
        """Write atomically (``write_atomically``), readable only by the user."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        document = {"origin": origin, "verifier_key": verifier_key, "checkpoint": note}
        write_atomically(self.path_for(origin), json.dumps(document, indent=2).encode())


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably, readable only by the user: a temporary file
    in the same directory, flushed to disk, renamed over ``path``, then the directory flushed. A crash
    leaves the old file or the new one, never half of one; the one home of every state file the
    verifier's commands keep (remembered checkpoints, the monitor's state, a witness's checkpoints)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class History:
    """Compares each checkpoint with the one remembered for its log, and remembers the newest.

    ``fetch_proof(first, second)`` returns a consistency proof between two tree sizes (from the portal
    the user named); without it, only checkpoints of the same size can be compared.
    """

    def __init__(self, store: CheckpointStore, fetch_proof: ProofFetcher | None = None) -> None:
        self.store = store
        self.fetch_proof = fetch_proof

    def check(self, checkpoint: Checkpoint, note: str, verifier_key: str) -> str:
        """Return a message when the log is consistent with what was seen; raise when it is not.

        Raises ``CheckpointError``/``ProofError`` (evidence of a fork or rewrite), ``CouldNotCheck``, or
        ``bundle.Skip`` when the comparison needs the network and none was allowed.
        """
        origin = checkpoint.origin
        remembered = self.store.load(origin)
        if remembered is None:
            self._save(origin, verifier_key, note)
            return f"first checkpoint of {origin} seen here (size {checkpoint.size}); remembered"
        old_key, _, old = remembered
        if old_key != verifier_key:
            raise CheckpointError(
                f"this checkpoint is signed by log key {verifier_key[:60]}…, but the one remembered for "
                f"{origin} was signed by {old_key[:60]}…: the log changed its key, or this is another log"
            )
        if old.size == checkpoint.size:
            if old.root != checkpoint.root:
                raise CheckpointError(
                    f"the log has FORKED: the checkpoint remembered for {origin} and this one both have size "
                    f"{old.size} but different roots ({self.store.path_for(origin)})"
                )
            return f"same checkpoint as remembered (size {old.size})"
        first, second = sorted((old, checkpoint), key=lambda c: c.size)
        if self.fetch_proof is None:
            newer = "newer" if checkpoint.size > old.size else "older"
            raise Skip(
                f"the checkpoint is {newer} than the one remembered (size {old.size}); run with --portal URL "
                "to check that the log only grew in between"
            )
        proof = self.fetch_proof(first.size, second.size)
        try:
            verify_consistency(first.size, second.size, proof, first.root, second.root)
        except ProofError as exc:
            raise ProofError(
                f"the log REWROTE HISTORY: no valid consistency proof links the tree of size {first.size} "
                f"to the tree of size {second.size} ({exc})"
            ) from None
        if checkpoint.size > old.size:
            self._save(origin, verifier_key, note)
            return f"the log only grew since the remembered checkpoint (size {old.size} -> {checkpoint.size})"
        return f"older than the remembered checkpoint (size {old.size}) and consistent with it"

    def _save(self, origin: str, verifier_key: str, note: str) -> None:
        try:
            self.store.save(origin, verifier_key, note)
        except OSError as exc:
            raise CouldNotCheck(
                Reason.BAD_RESPONSE,
                f"cannot remember the checkpoint in {self.store.directory}: {exc.strerror}",
            ) from None


def add_history_options(parser: argparse.ArgumentParser) -> None:
    """The options of every subcommand that checks a proof bundle's log: ``--log-key``, ``--state-dir``,
    ``--no-state`` (read back with ``command.read_log_key`` and ``history_from``)."""
    parser.add_argument(
        "--log-key",
        metavar="KEY",
        help="the log's verifier key (name+hash+base64), or a file holding it; pins the log",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help=f"where remembered checkpoints are kept (default {default_state_dir()})",
    )
    parser.add_argument("--no-state", action="store_true", help="neither read nor remember checkpoints")


def history_from(args: argparse.Namespace, portal: str | None) -> "History | None":
    """The remembered checkpoints the options of ``add_history_options`` ask for, compared through
    ``portal``'s consistency proofs when a portal is given; None with ``--no-state``."""
    if args.no_state:
        return None
    fetch = functools.partial(fetch_consistency_proof, portal) if portal else None
    return History(CheckpointStore(args.state_dir or default_state_dir()), fetch)


def check_portal_url(url: str) -> str:
    """The portal's base URL, http(s) only, without a trailing slash; FormatError otherwise."""
    try:
        parsed = urllib.parse.urlsplit(url)
        # Reading the port checks it: a bad one would otherwise pass for an unreachable portal.
        _port = parsed.port
    except ValueError as exc:
        raise FormatError(f"--portal {url[:80]!r} is not a usable URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FormatError(f"--portal must be an http:// or https:// URL, got {url[:80]!r}")
    if parsed.query or parsed.fragment:
        raise FormatError("--portal must be the portal's base URL, without ? or #")
    return url.rstrip("/")


def _redirect_refused(code: int, new_url: str) -> CouldNotCheck:
    return CouldNotCheck(
        Reason.BAD_RESPONSE, f"the portal redirected to {new_url[:100]}; use that URL with --portal"
    )


def fetch_consistency_proof(
    portal: str, first: int, second: int, *, timeout: float = FETCH_TIMEOUT
) -> list[bytes]:
    """GET the portal's RFC 9162 consistency proof between two tree sizes; a list of 32-byte hashes."""
    url = f"{check_portal_url(portal)}/api/v1/log/proof/consistency?first={first}&second={second}"
    request = urllib.request.Request(  # noqa: S310 - check_portal_url allows http(s) only
        url, headers={"Accept": "application/json", "User-Agent": f"Vitrina-verifier/{__version__}"}
    )
    opener = opener_refusing_redirects(_redirect_refused)
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            body = read_capped(response, MAX_PROOF_RESPONSE_BYTES, deadline)
    except urllib.error.HTTPError as exc:
        detail = _error_message(read_capped(exc, MAX_PROOF_RESPONSE_BYTES, deadline))
        raise CouldNotCheck(
            Reason.BAD_RESPONSE, f"the portal answered {exc.code} to the consistency proof request{detail}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CouldNotCheck(Reason.UNREACHABLE, f"cannot reach the portal at {portal}: {reason}") from None
    return _parse_proof(body, first, second)


def read_capped(response: IO[bytes], max_bytes: int, deadline: float, url: str = "") -> bytes:
    """A portal's answer, read in chunks up to ``max_bytes`` and until ``deadline`` (``time.monotonic``);
    ``CouldNotCheck`` (``TOO_LARGE``, ``TIMEOUT``) past either, naming ``url`` when given."""
    to = f" to {url}" if url else ""
    answering = f" {url}" if url else ""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise CouldNotCheck(Reason.TOO_LARGE, f"the portal's answer{to} is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise CouldNotCheck(Reason.TIMEOUT, f"the portal took too long to answer{answering}")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_message(body: bytes) -> str:
    try:
        message = jsontext.loads(body)["error"]["message"]
    except (FormatError, KeyError, TypeError):
        return ""
    return f": {str(message)[:200]}"


def _parse_proof(body: bytes, first: int, second: int) -> list[bytes]:
    bad = CouldNotCheck(Reason.BAD_RESPONSE, "the portal's consistency proof is malformed")
    try:
        document = jsontext.loads(body)
        hashes = document["proof"]
        if document["first"] != first or document["second"] != second or not isinstance(hashes, list):
            raise bad
        proof = [base64.b64decode(h, validate=True) for h in hashes]
    except (FormatError, ValueError, KeyError, TypeError, binascii.Error):
        raise bad from None
    if len(proof) > 64 or any(len(h) != 32 for h in proof):
        raise bad
    return proof
