"""C2SP signed notes (signed-note v1.0.0, Ed25519) and the checkpoints they carry (tlog-checkpoint v1.0.0).

A signed note is a text ending in a newline, a blank line, and signature lines

    — <key name> base64(key ID || Ed25519 signature of the text)

where the dash is U+2014 and key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4]. A
verifier key is published as ``<name>+<key ID hex>+base64(0x01 || public key)``; the signer key
as ``PRIVATE+KEY+<name>+<key ID hex>+base64(0x01 || seed)``, the format of Go's sumdb/note.

A checkpoint is a note whose text is the log origin, the tree size and the base64 root hash, one per
line, then optional extension lines. Vitrina signs checkpoints with a key named after the origin.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from verifier.errors import CheckpointError, FormatError, KeyFormatError, SignatureError

ED25519 = 0x01
SIGNATURE_PREFIX = "\N{EM DASH} "
SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
# The spec asks verifiers to accept at least 16 signatures, and witnesses' post-quantum signatures
# take up to 5 kB each; a checkpoint's text is a few hundred bytes.
MAX_NOTE_BYTES = 256 * 1024
MAX_SIGNATURES = 100

# Keys are taken as cryptography objects or as their 32 raw bytes (the public key, or the seed).
PublicKey = Ed25519PublicKey | bytes
PrivateKey = Ed25519PrivateKey | bytes


class Verifier(NamedTuple):
    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey


class Signer(NamedTuple):
    name: str
    key_hash: bytes
    private_key: Ed25519PrivateKey


class Checkpoint(NamedTuple):
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


# --- Keys ---------------------------------------------------------------------------------------------


def key_hash(name: str, public_key: PublicKey) -> bytes:
    """The RECOMMENDED key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + _public_bytes(public_key)).digest()[:4]


def make_verifier_key(name: str, public_key: PublicKey) -> str:
    _check_name(name)
    encoded = _b64encode(bytes([ED25519]) + _public_bytes(public_key))
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> Verifier:
    name, hash_hex, key = _split_key(vkey, "verifier key")
    public_key = Ed25519PublicKey.from_public_bytes(_ed25519_key_bytes(key, vkey))
    _check_key_hash(name, public_key, hash_hex, vkey)
    return Verifier(name, bytes.fromhex(hash_hex), public_key)


def make_signer_key(name: str, private_key: PrivateKey) -> str:
    _check_name(name)
    private_key = _private_key(private_key)
    seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    hash_hex = key_hash(name, private_key.public_key()).hex()
    return f"{SIGNER_KEY_PREFIX}{name}+{hash_hex}+{_b64encode(bytes([ED25519]) + seed)}"


def parse_signer_key(text: str) -> Signer:
    if not text.startswith(SIGNER_KEY_PREFIX):
        raise KeyFormatError(f"signer key does not start with {SIGNER_KEY_PREFIX!r}")
    name, hash_hex, key = _split_key(text.removeprefix(SIGNER_KEY_PREFIX), "signer key")
    private_key = Ed25519PrivateKey.from_private_bytes(_ed25519_key_bytes(key, f"signer key for {name!r}"))
    _check_key_hash(name, private_key.public_key(), hash_hex, f"signer key for {name!r}")
    return Signer(name, bytes.fromhex(hash_hex), private_key)


def _split_key(text: str, what: str) -> tuple[str, str, bytes]:
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError(f"{what} is not of the form name+hash+key")
    name, hash_hex, key = parts
    if not _is_valid_name(name):
        raise KeyFormatError(f"{what} has an invalid key name {name!r}")
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hash_hex):
        raise KeyFormatError(f"{what} for {name!r} has a key hash that is not 8 hex digits")
    return name, hash_hex.lower(), _b64decode(key, KeyFormatError, f"{what} for {name!r}")


def _ed25519_key_bytes(key: bytes, what: str) -> bytes:
    if not key or key[0] != ED25519:
        raise KeyFormatError(f"{what} is not an Ed25519 key (signature type 0x01)")
    if len(key) != 33:
        raise KeyFormatError(f"{what} does not hold a 32-byte Ed25519 key")
    return key[1:]


def _check_key_hash(name: str, public_key: Ed25519PublicKey, hash_hex: str, what: str) -> None:
    if key_hash(name, public_key).hex() != hash_hex:
        raise KeyFormatError(f"{what}: key hash {hash_hex} does not match the key and name")


def _public_bytes(public_key: PublicKey) -> bytes:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(public_key, bytes) and len(public_key) == 32:
        return public_key
    raise KeyFormatError("public key is neither an Ed25519PublicKey nor 32 raw bytes")


def _private_key(private_key: PrivateKey) -> Ed25519PrivateKey:
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key
    if isinstance(private_key, bytes) and len(private_key) == 32:
        return Ed25519PrivateKey.from_private_bytes(private_key)
    raise KeyFormatError("private key is neither an Ed25519PrivateKey nor a 32-byte seed")


def _label(verifier: Verifier) -> str:
    return f"{verifier.name}+{verifier.key_hash.hex()}"


def _is_valid_name(name: str) -> bool:
    """Key names are non-empty UTF-8 with no Unicode space and no '+' (signed-note, Format).

    UTF-8 because the key hash covers the name's bytes: a lone surrogate has no bytes to hash.
    """
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() or c < " " or "\ud800" <= c <= "\udfff" for c in name)
    )


def _check_name(name: str) -> None:
    if not _is_valid_name(name):
        raise FormatError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")


# --- Signed notes -------------------------------------------------------------------------------------


def sign_note(text: str, name: str, private_key: PrivateKey) -> str:
    """The note ``text`` followed by one Ed25519 signature line by the key ``name``."""
    _check_name(name)
    _check_note_characters(text)
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    private_key = _private_key(private_key)
    signature = private_key.sign(_utf8(text))
    encoded = _b64encode(key_hash(name, private_key.public_key()) + signature)
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def open_note(note: str | bytes, verifiers: list[Verifier]) -> tuple[str, list[str]]:
    """Check a note's signatures; return its text and the names of the keys whose signatures verified.

    Signatures by keys not among ``verifiers`` (matched on name and key hash) are ignored, as the
    spec requires; a signature by a known key that fails makes the whole note fail.
    """
    note = _note_text(note)
    text, signature_lines = _split_note(note)
    verified_by: list[str] = []
    seen: list[str] = []
    for line in signature_lines:
        name, hash_, signature = _parse_signature_line(line)
        seen.append(f"{name}+{hash_.hex()}")
        for verifier in verifiers:
            if verifier.name != name or verifier.key_hash != hash_:
                continue
            try:
                verifier.public_key.verify(signature, text.encode())
            except InvalidSignature:
                raise SignatureError(f"the signature by key {_label(verifier)} does not verify") from None
            if name not in verified_by:
                verified_by.append(name)
    if not verified_by:
        trusted = ", ".join(_label(v) for v in verifiers) or "none"
        raise SignatureError(
            f"note is not signed by any trusted key (trusted: {trusted}; signed by: {', '.join(seen)})"
        )
    return text, verified_by


def _note_text(note: str | bytes) -> str:
    data = note if isinstance(note, bytes) else _utf8(note)
    if len(data) > MAX_NOTE_BYTES:
        raise FormatError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("note is not valid UTF-8") from None
    _check_note_characters(text)
    return text


def _check_note_characters(text: str) -> None:
    if any(c < " " and c != "\n" for c in text):
        raise FormatError("note contains a control character other than newline")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError("note is not valid UTF-8") from None


def split_note(note: str | bytes) -> tuple[str, list[str]]:
    """A note's text (with its final newline) and its signature lines, after the size and character checks."""
    return _split_note(_note_text(note))


def parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """A signature line's key name, 4-byte key ID and signature bytes."""
    return _parse_signature_line(line)


def _split_note(note: str) -> tuple[str, list[str]]:
    """The text (with its final newline) and the signature lines, split at the last blank line."""
    split = note.rfind("\n\n")
    if split < 0:
        raise FormatError("note has no blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        raise FormatError("note does not end with a signature line and a newline")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(f"note has more than {MAX_SIGNATURES} signatures")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise FormatError(f"signature line does not start with an em dash and a space: {line[:40]!r}")
    name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    if not _is_valid_name(name):
        raise FormatError(f"signature line has an invalid key name {name!r}")
    raw = _b64decode(encoded, FormatError, f"signature by {name!r}")
    if len(raw) < 5:
        raise FormatError(f"signature by {name!r} is too short")
    return name, raw[:4], raw[4:]


# --- Checkpoints --------------------------------------------------------------------------------------


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    if not origin or "\n" in origin:
        raise FormatError("checkpoint origin must be a non-empty line")
    if size < 0:
        raise FormatError(f"checkpoint tree size {size} is negative")
    if len(root) != 32:
        raise FormatError("checkpoint root must be a 32-byte hash")
    for line in extensions:
        if not line or "\n" in line:
            raise FormatError("checkpoint extension lines must be non-empty single lines")
    return "".join(f"{line}\n" for line in [origin, str(size), _b64encode(root), *extensions])


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body strictly: origin, decimal size, base64 32-byte root, extension lines."""
    if not text.endswith("\n"):
        raise FormatError("checkpoint does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError("checkpoint has fewer than three lines (origin, tree size, root hash)")
    origin, size, root, *extensions = lines
    if not origin:
        raise FormatError("checkpoint origin is empty")
    if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size) or int(size) >= 1 << 63:
        raise FormatError(f"checkpoint tree size {size[:40]!r} is not a decimal number without leading zeros")
    root_hash = _b64decode(root, FormatError, "checkpoint root hash")
    if len(root_hash) != 32:
        raise FormatError("checkpoint root hash is not 32 bytes")
    if not all(extensions):
        raise FormatError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def verify_checkpoint(note: str | bytes, verifier_key: str, *, origin: str | None = None) -> Checkpoint:
    """Open a checkpoint signed by ``verifier_key``, whose name must be the checkpoint's origin."""
    verifier = parse_verifier_key(verifier_key)
    if origin is not None and verifier.name != origin:
        raise CheckpointError(f"key {_label(verifier)} is not the key of log {origin!r}")
    text, _ = open_note(note, [verifier])
    checkpoint = parse_checkpoint(text)
    if checkpoint.origin != verifier.name:
        raise CheckpointError(
            f"checkpoint is for log {checkpoint.origin!r}, but was signed by key {_label(verifier)}"
        )
    return checkpoint


# --- Base64 -------------------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, error: type[FormatError], what: str) -> bytes:
    """Standard base64 with padding, and only the canonical encoding of the bytes it decodes to."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise error(f"{what} is not valid base64") from None
    if not text or _b64encode(data) != text:
        raise error(f"{what} is not canonical base64")
    return data
