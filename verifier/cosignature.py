"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped cosignature of a checkpoint.

A cosignature is one more signature line on the checkpoint's signed note,

    — <witness name> base64(key ID || timestamp || Ed25519 signature)

where key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4], timestamp is a big-endian u64 of POSIX
seconds, and the signature covers the message

    cosignature/v1
    time <timestamp>
    <the checkpoint's whole body: origin, size, root, extension lines>

A witness's public key is published as a verifier key of signature type 0x04,
``<name>+<key ID hex>+base64(0x04 || public key)``; its private key file holds the same form as the
log's signer key, ``PRIVATE+KEY+<name>+<key ID hex>+base64(0x04 || seed)``.

Clients are configured with witnesses' verifier keys and ignore every line that is not from one of them
(the log's own signature among them); a line from a configured witness that does not verify is an error.
"""

import base64
import binascii
import hashlib
import time
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from verifier.errors import FormatError, KeyFormatError, SignatureError
from verifier.note import (
    SIGNATURE_PREFIX,
    SIGNER_KEY_PREFIX,
    parse_checkpoint,
    parse_signature_line,
    split_note,
)

COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1"
MAX_TIMESTAMP = (1 << 63) - 1
# A cosignature dated this far in the future is refused (the spec lets verifiers refuse any future time;
# a little slack absorbs clocks that disagree by a few minutes).
FUTURE_SLACK_SECONDS = 600


class Cosigner(NamedTuple):
    """A witness as a client trusts it: its name, key ID and public key."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_hash.hex()}"


class CosignerKey(NamedTuple):
    """A witness's own signing key."""

    name: str
    key_hash: bytes
    private_key: Ed25519PrivateKey

    @property
    def verifier_key(self) -> str:
        return make_cosigner_vkey(self.name, self.private_key.public_key())


class Cosignature(NamedTuple):
    """One verified cosignature: whose, when (POSIX seconds), and its signature line as served."""

    name: str
    key_hash: bytes
    timestamp: int
    line: str


# --- Keys ---------------------------------------------------------------------------------------------


def cosigner_key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + raw).digest()[:4]


def make_cosigner_vkey(name: str, public_key: Ed25519PublicKey) -> str:
    _check_name(name)
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{name}+{cosigner_key_hash(name, public_key).hex()}+{_b64(bytes([COSIGNATURE_V1]) + raw)}"


def parse_cosigner_vkey(vkey: str) -> Cosigner:
    """A witness's verifier key (signature type 0x04); ``KeyFormatError`` names what is wrong."""
    name, hash_hex, key = _split_key(vkey.strip(), "witness key")
    public_key = Ed25519PublicKey.from_public_bytes(_key_material(key, f"witness key {name!r}"))
    if cosigner_key_hash(name, public_key).hex() != hash_hex:
        raise KeyFormatError(f"witness key {name!r}: key hash {hash_hex} does not match the key and name")
    return Cosigner(name, bytes.fromhex(hash_hex), public_key)


def make_cosigner_signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    _check_name(name)
    seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    hash_hex = cosigner_key_hash(name, private_key.public_key()).hex()
    return f"{SIGNER_KEY_PREFIX}{name}+{hash_hex}+{_b64(bytes([COSIGNATURE_V1]) + seed)}"


def parse_cosigner_signer_key(text: str) -> CosignerKey:
    text = text.strip()
    if not text.startswith(SIGNER_KEY_PREFIX):
        raise KeyFormatError(f"witness signing key does not start with {SIGNER_KEY_PREFIX!r}")
    name, hash_hex, key = _split_key(text.removeprefix(SIGNER_KEY_PREFIX), "witness signing key")
    private_key = Ed25519PrivateKey.from_private_bytes(_key_material(key, f"witness signing key {name!r}"))
    if cosigner_key_hash(name, private_key.public_key()).hex() != hash_hex:
        raise KeyFormatError(f"witness signing key {name!r}: key hash {hash_hex} does not match the key")
    return CosignerKey(name, bytes.fromhex(hash_hex), private_key)


def generate_cosigner_key(name: str) -> str:
    """A new witness signing key, in the signer-key form above."""
    return make_cosigner_signer_key(name, Ed25519PrivateKey.generate())


def _split_key(text: str, what: str) -> tuple[str, str, bytes]:
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError(f"{what} is not of the form name+hash+key")
    name, hash_hex, encoded = parts
    try:
        _check_name(name)
    except FormatError:
        raise KeyFormatError(f"{what} has an invalid name {name[:60]!r}") from None
    if len(hash_hex) != 8 or any(c not in "0123456789abcdef" for c in hash_hex.lower()):
        raise KeyFormatError(f"{what} {name!r} has a key hash that is not 8 hex digits")
    try:
        key = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise KeyFormatError(f"{what} {name!r} is not valid base64") from None
    return name, hash_hex.lower(), key


def _key_material(key: bytes, what: str) -> bytes:
    if not key or key[0] != COSIGNATURE_V1:
        raise KeyFormatError(f"{what} is not a cosignature/v1 key (signature type 0x04)")
    if len(key) != 33:
        raise KeyFormatError(f"{what} does not hold a 32-byte Ed25519 key")
    return key[1:]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() or c < " " or "\ud800" <= c <= "\udfff" for c in name):
        raise FormatError(f"invalid witness name {name[:60]!r}: it must be non-empty, without spaces or '+'")


# --- Signing and verifying ----------------------------------------------------------------------------


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs: the header, the time line and the checkpoint's body."""
    parse_checkpoint(checkpoint_text)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError(f"cosignature timestamp {timestamp} is out of range")
    return f"{HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


def cosign(checkpoint_text: str, key: CosignerKey, timestamp: int | None = None) -> str:
    """The signature line (without its newline) of ``key``'s cosignature of ``checkpoint_text``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = key.private_key.sign(cosigned_message(checkpoint_text, timestamp))
    raw = key.key_hash + timestamp.to_bytes(8, "big") + signature
    return f"{SIGNATURE_PREFIX}{key.name} {_b64(raw)}"


def cosignatures_of(
    note: str | bytes, cosigners: Sequence[Cosigner], *, now: float | None = None
) -> list[Cosignature]:
    """The verified cosignatures on ``note`` by ``cosigners``, one per witness (its newest), in the order of
    ``cosigners``.

    Lines by other keys (the log's signature, unknown witnesses) are ignored. A line by a configured witness
    that does not verify, or is dated more than ``FUTURE_SLACK_SECONDS`` ahead, raises ``SignatureError``:
    it is a forgery or a witness's fault, and a verifier must not quietly count it as absent.
    """
    text, lines = split_note(note)
    parse_checkpoint(text)
    now = time.time() if now is None else now
    best: dict[str, Cosignature] = {}
    for line in lines:
        name, key_hash, raw = parse_signature_line(line)
        for cosigner in cosigners:
            if cosigner.name != name or cosigner.key_hash != key_hash:
                continue
            found = _verify_line(text, line, cosigner, raw, now)
            if cosigner.label not in best or found.timestamp > best[cosigner.label].timestamp:
                best[cosigner.label] = found
    return [best[c.label] for c in cosigners if c.label in best]


def _verify_line(text: str, line: str, cosigner: Cosigner, raw: bytes, now: float) -> Cosignature:
    if len(raw) != 8 + 64:
        raise SignatureError(f"the cosignature by witness {cosigner.label} is not a timestamped Ed25519 one")
    timestamp = int.from_bytes(raw[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise SignatureError(f"the cosignature by witness {cosigner.label} has an out-of-range timestamp")
    if timestamp > now + FUTURE_SLACK_SECONDS:
        raise SignatureError(
            f"the cosignature by witness {cosigner.label} is dated {timestamp}, in the future"
        )
    try:
        cosigner.public_key.verify(raw[8:], cosigned_message(text, timestamp))
    except InvalidSignature:
        raise SignatureError(f"the cosignature by witness {cosigner.label} does not verify") from None
    return Cosignature(cosigner.name, cosigner.key_hash, timestamp, line)


def with_signatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with each of ``lines`` appended as a signature line, unless the note already holds it."""
    _, present = split_note(note)
    added = [line for line in dict.fromkeys(lines) if line not in present]
    return note + "".join(f"{line}\n" for line in added)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
