"""C2SP tlog-witness: asking a witness to cosign a checkpoint, and being one.

A log asks a witness to cosign its new checkpoint with ``POST <submission prefix>/add-checkpoint``:

    old <size of the checkpoint the witness last cosigned for this log>
    <0 to 63 lines, each one base64 hash of the RFC 6962 consistency proof from that size>
    <empty line>
    <the signed checkpoint note>

The witness checks the note's signature under the log's keys it trusts, that the old size is the size
it holds and that the proof leads from its checkpoint to the new one, stores the new checkpoint, then
answers 200 with its cosignature line (``verifier.cosignature``). Each refusal has its status:

    400  malformed body, or an old size larger than the checkpoint's
    403  no signature verifies under a trusted key of the checkpoint's origin
    404  a log (origin) the witness does not follow
    409  the old size is not the one the witness holds: the body is that size (``text/x.tlog.size``);
         or the same size with another root hash (no size body): the log forked
    422  the consistency proof does not verify (or is not empty from size 0)

Both sides are here: ``request_cosignature`` is the client a log calls, ``Witness`` the decision a
witness server (``verifier.witness_server``) makes, over a ``WitnessState`` directory holding the latest
cosigned checkpoint of each log. Checking the old size and storing the new checkpoint happen under one
lock per log (``fcntl.flock``, so across threads and processes alike): two concurrent requests can never
roll the stored size back.
"""

import base64
import binascii
import contextlib
import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from verifier.cosignature import Cosignature, Cosigner, CosignerKey, cosign, cosignatures_of
from verifier.errors import FormatError, ProofError, VerifierError
from verifier.live import HardenedClient
from verifier.merkle import verify_consistency
from verifier.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    split_note,
)
from verifier.state import write_atomically

MAX_BODY_BYTES = 64 * 1024
MAX_PROOF_LINES = 63
HASH_SIZE = 32
# A witness answers a few signature lines (one per key it holds, post-quantum ones up to 5 kB each).
MAX_ANSWER_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
ANSWER_ACCEPT = f"text/plain, {SIZE_CONTENT_TYPE}"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_SIZE = (1 << 63) - 1


class AddCheckpoint(NamedTuple):
    """An ``add-checkpoint`` request, parsed: old size, proof hashes, the note and its checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    checkpoint: Checkpoint


class Answer(NamedTuple):
    """A witness's answer to one request, and ``detail``: one line for its log (no secrets in it)."""

    status: int
    content_type: str
    body: bytes
    detail: str


class WitnessConflict(VerifierError):
    """The witness answered 409. ``size`` is the size it holds for the log, or None when the 409 had no
    size body: it holds a checkpoint of the same size with another root hash, so the log forked (or the
    witness is wrong)."""

    def __init__(self, size: int | None, message: str) -> None:
        super().__init__(message)
        self.size = size


class WitnessRefused(VerifierError):
    """Any other answer than a 200 holding a valid cosignature of the checkpoint asked about (garbage, a
    cosignature of another checkpoint, a bad signature): ``status`` is the HTTP status it came with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- The request body ---------------------------------------------------------------------------------


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The body of an ``add-checkpoint`` request; ``FormatError`` for what ``parse_add_checkpoint``
    would refuse."""
    if not 0 <= old_size <= _MAX_SIZE:
        raise FormatError(f"old size {old_size} is out of range")
    if len(proof) > MAX_PROOF_LINES:
        raise FormatError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes, not {len(proof)}")
    if any(len(node) != HASH_SIZE for node in proof):
        raise FormatError(f"every consistency proof hash must be {HASH_SIZE} bytes")
    text, _ = split_note(note)
    parse_checkpoint(text)
    lines = "".join(base64.b64encode(node).decode("ascii") + "\n" for node in proof)
    body = f"old {old_size}\n{lines}\n{note}".encode()
    if len(body) > MAX_BODY_BYTES:
        raise FormatError(f"the add-checkpoint body is larger than {MAX_BODY_BYTES} bytes")
    return body


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an ``add-checkpoint`` body strictly (sizes in decimal without leading zeros, canonical base64
    32-byte hashes, at most 63 of them, a signed checkpoint note), or raise ``FormatError`` saying where."""
    if len(body) > MAX_BODY_BYTES:
        raise FormatError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("the body is not UTF-8") from None
    old_line, found, rest = text.partition("\n")
    if not found or not old_line.startswith("old "):
        raise FormatError("the body does not start with an 'old <size>' line")
    old_size = _size(old_line.removeprefix("old "), "old size")
    proof: list[bytes] = []
    while True:
        line, found, rest = rest.partition("\n")
        if not found:
            raise FormatError("the body has no empty line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise FormatError(f"the consistency proof has more than {MAX_PROOF_LINES} lines")
        proof.append(_proof_hash(line, len(proof) + 1))
    note_text, _ = split_note(rest)
    return AddCheckpoint(old_size, tuple(proof), rest, parse_checkpoint(note_text))


def _size(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_SIZE:
        raise FormatError(f"{what} {text[:40]!r} is not a decimal number without leading zeros")
    return int(text)


def _proof_hash(line: str, number: int) -> bytes:
    try:
        node = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise FormatError(f"consistency proof line {number} is not base64") from None
    if base64.b64encode(node).decode("ascii") != line or len(node) != HASH_SIZE:
        raise FormatError(f"consistency proof line {number} is not the canonical base64 of a 32-byte hash")
    return node


# --- The client ---------------------------------------------------------------------------------------


def request_cosignature(
    url: str,
    note: str,
    old_size: int,
    proof: Sequence[bytes],
    cosigner: Cosigner,
    *,
    timeout: float = 10.0,
    allow_private: bool = False,
) -> Cosignature:
    """Ask the witness at submission prefix ``url`` to cosign the checkpoint ``note``, from the size
    ``old_size`` it holds, with the consistency ``proof`` from that size; return its verified cosignature
    of this checkpoint.

    Raises ``WitnessConflict`` on a 409, ``WitnessRefused`` on any other answer than a 200 carrying a
    cosignature by ``cosigner`` that verifies over this checkpoint, and ``CouldNotCheck`` when the witness
    cannot be reached, or does not answer in full within ``timeout`` seconds (the whole exchange) or
    under ``MAX_ANSWER_BYTES``. ``allow_private`` lets the URL be a loopback or private address, as
    ``verifier.live.fetch_live``'s does. ``FormatError`` means the arguments are not a request.
    """
    body = format_add_checkpoint(old_size, proof, note)
    endpoint = url.rstrip("/") + "/add-checkpoint"
    client = HardenedClient(
        allow_private=allow_private,
        connect_timeout=min(3.0, timeout),
        total_timeout=timeout,
        max_redirects=0,
    )
    answer = client.post(endpoint, body, max_bytes=MAX_ANSWER_BYTES, accept=ANSWER_ACCEPT)
    who = f"witness {cosigner.label} at {endpoint}"
    if answer.status == 200:
        return _cosignature_in(answer.body, note, cosigner, who)
    if answer.status == 409:
        raise _conflict(answer.body, answer.content_type, who)
    raise WitnessRefused(
        answer.status, f"{who} refused the checkpoint: HTTP {answer.status}{_said(answer.body)}"
    )


def _cosignature_in(body: bytes, note: str, cosigner: Cosigner, who: str) -> Cosignature:
    """The cosignature by ``cosigner`` among the signature lines of a 200 answer, verified over the
    checkpoint of ``note`` (only the lines the witness returned are looked at)."""
    try:
        lines = body.decode("utf-8").split("\n")
        if lines.pop() != "" or not lines or len(lines) > MAX_SIGNATURES:
            raise FormatError("it is not one or more signature lines, each ending in a newline")
        for line in lines:
            parse_signature_line(line)
        text, _ = split_note(note)
        found = cosignatures_of(text + "\n" + "".join(f"{line}\n" for line in lines), [cosigner])
    except UnicodeDecodeError:
        raise WitnessRefused(200, f"{who} answered 200 with a body that is not UTF-8") from None
    except VerifierError as exc:
        raise WitnessRefused(
            200, f"{who} answered 200 without a valid cosignature of the checkpoint: {exc}"
        ) from None
    if not found:
        raise WitnessRefused(200, f"{who} answered 200 without a cosignature by its key")
    return found[0]


def _conflict(body: bytes, content_type: str | None, who: str) -> VerifierError:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != SIZE_CONTENT_TYPE:
        return WitnessConflict(
            None,
            f"{who} holds a checkpoint of the same size with another root hash: the log forked, or the "
            f"witness is wrong{_said(body)}",
        )
    match = re.fullmatch(rb"(0|[1-9][0-9]{0,18})\n", body)
    if match is None or int(match[1]) > _MAX_SIZE:
        return WitnessRefused(409, f"{who} answered 409 with a malformed size{_said(body)}")
    size = int(match[1])
    return WitnessConflict(size, f"{who} holds the log at size {size}, not the old size sent")


def _said(body: bytes) -> str:
    """The first line of an answer's body, printable and short, to quote in a message."""
    line = body[:200].decode("utf-8", "replace").split("\n")[0]
    line = "".join(c if c.isprintable() else "?" for c in line).strip()
    return f" ({line})" if line else ""


# --- The witness --------------------------------------------------------------------------------------


class WitnessState:
    """A witness's memory: for each log (origin), the latest checkpoint note it cosigned, in one file
    of ``directory`` named after the SHA-256 of the origin (any origin is a safe file name that way).

    ``locked(origin)`` serializes every read-check-write of one log, across threads and processes;
    ``store`` replaces the file atomically and durably (temporary file, fsync, rename, fsync of the
    directory), so a crash leaves the old checkpoint or the new one, never a mix.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FormatError(f"witness state directory {self.directory} does not exist")

    def _path(self, origin: str, suffix: str) -> Path:
        return self.directory / (hashlib.sha256(origin.encode()).hexdigest() + suffix)

    @contextlib.contextmanager
    def locked(self, origin: str) -> Iterator[None]:
        fd = os.open(self._path(origin, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the only descriptor of this open file releases the lock

    def latest(self, origin: str) -> Checkpoint | None:
        """The checkpoint last cosigned for ``origin``, or None; ``FormatError`` if its file is damaged."""
        path = self._path(origin, ".checkpoint")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_NOTE_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            text, _ = split_note(data)
            checkpoint = parse_checkpoint(text)
        except FormatError as exc:
            raise FormatError(f"the witness state file {path} is damaged: {exc}") from None
        if checkpoint.origin != origin:
            raise FormatError(
                f"the witness state file {path} holds log {checkpoint.origin!r}, not {origin!r}"
            )
        return checkpoint

    def store(self, origin: str, note: str) -> None:
        write_atomically(self._path(origin, ".checkpoint"), note.encode())


class Witness:
    """A witness: its key, the logs it follows (origin -> the log's verifier keys it trusts) and its
    state. ``add_checkpoint`` is the whole protocol, in the order of the spec's checks."""

    def __init__(
        self,
        key: CosignerKey,
        logs: Mapping[str, Sequence[Verifier]],
        state: WitnessState,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.logs = {origin: list(verifiers) for origin, verifiers in logs.items()}
        self.state = state
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = parse_add_checkpoint(body)
        except FormatError as exc:
            return text_answer(400, f"malformed add-checkpoint body: {exc}")
        checkpoint = request.checkpoint
        origin, size, old = checkpoint.origin, checkpoint.size, request.old_size
        verifiers = self.logs.get(origin)
        if not verifiers:
            return text_answer(404, f"unknown log {origin[:100]!r}")
        try:
            open_note(request.note, verifiers)
        except VerifierError as exc:
            return text_answer(403, f"log {origin!r}: {exc}")
        if old > size:
            return text_answer(
                400, f"log {origin!r}: old size {old} is larger than the checkpoint's size {size}"
            )
        with self.state.locked(origin):
            try:
                latest = self.state.latest(origin)
            except (FormatError, OSError) as exc:
                return text_answer(500, f"log {origin!r}: cannot read the witness's state: {exc}")
            held = latest.size if latest else 0
            if old != held:
                detail = f"log {origin!r}: old size {old}, but the witness holds size {held}"
                return Answer(409, SIZE_CONTENT_TYPE, f"{held}\n".encode(), detail)
            refusal = _consistency_refusal(request, latest)
            if refusal is not None:
                return refusal
            try:
                self.state.store(origin, request.note)
            except OSError as exc:
                return text_answer(500, f"log {origin!r}: cannot store the checkpoint: {exc.strerror}")
        line = cosign(split_note(request.note)[0], self.key, int(self.clock()))
        return Answer(200, TEXT_CONTENT_TYPE, f"{line}\n".encode(), f"cosigned log {origin!r} at size {size}")


def _consistency_refusal(request: AddCheckpoint, latest: Checkpoint | None) -> Answer | None:
    """422 when the proof does not lead from the held checkpoint to the new one, 409 for another root
    at the same size; None when the new checkpoint extends the held one."""
    checkpoint, old, proof = request.checkpoint, request.old_size, list(request.proof)
    origin, size = checkpoint.origin, checkpoint.size
    if old == size or old == 0:
        if proof:
            return text_answer(
                422, f"log {origin!r}: the consistency proof from size {old} to {size} must be empty"
            )
        if latest is not None and old == size and latest.root != checkpoint.root:
            return text_answer(
                409, f"log {origin!r}: another root hash than the one held at size {size}: a fork"
            )
        return None
    assert latest is not None  # old == held > 0
    try:
        verify_consistency(old, size, proof, latest.root, checkpoint.root)
    except ProofError as exc:
        return text_answer(422, f"log {origin!r}: {exc}")
    return None


def text_answer(status: int, message: str) -> Answer:
    """A refusal: ``message`` as the plain-text body and as the log line's detail."""
    return Answer(status, TEXT_CONTENT_TYPE, f"{message}\n".encode(), message)
