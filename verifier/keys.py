"""Signing keys: Ed25519 and ECDSA P-256 (with SHA-256), loaded from PEM, named by a key id.

These are the two algorithms the design accepts: Ed25519 because it is simple and hard to misuse,
ECDSA P-256 because it is what ``cosign attest-blob --key`` produces. Anything else is refused at load
time with a message that says what was given, so an operator learns about it when registering a key,
not months later when a signature fails.

A key id is the lowercase hex sha256 of the key's DER SubjectPublicKeyInfo: it depends only on the
key, never on how the PEM was wrapped, so the same key always gets the same id.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from verifier import jsontext
from verifier.errors import FormatError, KeyFormatError

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256"
ALGORITHMS = (ED25519, ECDSA_P256)

_SUPPORTED = "only Ed25519 and ECDSA P-256 keys are supported"
_RAW_P256_SIGNATURE_SIZE = 64

# The cryptography types of the two supported algorithms (a P-256 curve is checked at load time).
_VerifyingKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
_SigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class PublicKey:
    """A trusted public key. Build one with ``load_public_key``; compare and hash by key id."""

    algorithm: str
    key_id: str
    pem: str
    _key: _VerifyingKey = field(repr=False, compare=False)

    @property
    def short_id(self) -> str:
        """The first 8 hex characters of the key id, enough to tell a project's keys apart in a message."""
        return self.key_id[:8] + "…"

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is a valid signature of ``data`` under this key.

        ECDSA signatures are accepted in both encodings found in the wild: DER (cosign, OpenSSL) and
        the raw 64-byte ``r || s`` concatenation (the DSSE specification's own test vector). Each is
        a complete encoding of the same (r, s) pair, so accepting both lets nobody forge anything.
        """
        key = self._key
        if isinstance(key, ed25519.Ed25519PublicKey):
            return _verifies(key.verify, signature, data)
        return any(
            _verifies(key.verify, der, data, ec.ECDSA(hashes.SHA256()))
            for der in _ecdsa_der_candidates(signature)
        )


class PrivateKey:
    """A signing key, for CI-side tooling and tests; the verifier itself only ever needs public keys."""

    def __init__(self, key: _SigningKey) -> None:
        self._key = key
        self.algorithm = _algorithm_of(key.public_key())
        self.public_key = _public_key_from(key.public_key())

    def __repr__(self) -> str:
        return f"PrivateKey({self.algorithm}, key_id={self.public_key.short_id})"

    def sign(self, data: bytes) -> bytes:
        """Return a signature of ``data``: 64 bytes for Ed25519, DER for ECDSA P-256 with SHA-256."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def private_pem(self) -> str:
        """Return the key as an unencrypted PKCS#8 PEM string. Store it like a password."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")


def load_public_key(pem: str | bytes) -> PublicKey:
    """Load an Ed25519 or ECDSA P-256 public key from a PEM ``PUBLIC KEY`` block."""
    data = _pem_bytes(pem)
    label = _pem_label(data)
    if "PRIVATE KEY" in label:
        raise KeyFormatError(
            "this is a private key; give the public key (a '-----BEGIN PUBLIC KEY-----' block) instead"
        )
    if not label.endswith("PUBLIC KEY"):
        raise KeyFormatError(f"expected a '-----BEGIN PUBLIC KEY-----' block, got '-----BEGIN {label}-----'")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFormatError(f"the PEM public key cannot be read: {e}") from e
    return _public_key_from(_supported(key))


def load_private_key(pem: str | bytes, password: str | bytes | None = None) -> PrivateKey:
    """Load an Ed25519 or ECDSA P-256 private key from PEM, decrypting it with ``password`` if given."""
    data = _pem_bytes(pem)
    label = _pem_label(data)
    if "PUBLIC KEY" in label:
        raise KeyFormatError("this is a public key; signing needs the private key")
    if "PRIVATE KEY" not in label:
        raise KeyFormatError(f"expected a PEM private key block, got '-----BEGIN {label}-----'")
    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError as e:
        raise KeyFormatError(
            "the private key is encrypted and needs a password"
            if password is None
            else "the private key is not encrypted; give no password"
        ) from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFormatError(f"the PEM private key cannot be read (wrong password?): {e}") from e
    return PrivateKey(_signing_key(key))


def generate_private_key(algorithm: str = ED25519) -> PrivateKey:
    """Return a new private key, ``"ed25519"`` or ``"ecdsa-p256"``."""
    if algorithm == ED25519:
        return PrivateKey(ed25519.Ed25519PrivateKey.generate())
    if algorithm == ECDSA_P256:
        return PrivateKey(ec.generate_private_key(ec.SECP256R1()))
    raise KeyFormatError(f"{_SUPPORTED} ({', '.join(ALGORITHMS)}), got {algorithm!r}")


def _public_key_from(key: _VerifyingKey) -> PublicKey:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKey(
        algorithm=_algorithm_of(key),
        key_id=hashlib.sha256(der).hexdigest(),
        pem=pem.decode("ascii"),
        _key=key,
    )


def _algorithm_of(key: _VerifyingKey) -> str:
    """Return our name for a supported key's algorithm."""
    return ED25519 if isinstance(key, ed25519.Ed25519PublicKey) else ECDSA_P256


def _supported(key: PublicKeyTypes) -> _VerifyingKey:
    """Return ``key`` if it is Ed25519 or ECDSA P-256, or refuse it saying what it is."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise KeyFormatError(f"{_SUPPORTED}, got {_describe(key)}")


def _signing_key(key: PrivateKeyTypes) -> _SigningKey:
    """Return ``key`` if its public half is supported (``_supported``), or refuse it saying what it is."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        _supported(key.public_key())
        return key
    raise KeyFormatError(f"{_SUPPORTED}, got {_describe(key.public_key())}")


def _describe(key: PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA on curve {key.curve.name}"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def _pem_bytes(pem: object) -> bytes:
    try:
        return jsontext.utf8_bytes(pem, what="the PEM key")
    except FormatError as exc:
        raise KeyFormatError(str(exc)) from None


def _pem_label(data: bytes) -> str:
    """Return the label of the first PEM block (``PUBLIC KEY``, ``EC PRIVATE KEY``...)."""
    start = data.find(b"-----BEGIN ")
    end = data.find(b"-----", start + len(b"-----BEGIN ")) if start >= 0 else -1
    if start < 0 or end < 0:
        raise KeyFormatError("not a PEM key: expected a block starting with '-----BEGIN PUBLIC KEY-----'")
    return data[start + len(b"-----BEGIN ") : end].decode("ascii", "replace")


def _ecdsa_der_candidates(signature: bytes) -> Iterator[bytes]:
    """Yield the DER encodings ``signature`` may stand for: itself, and the raw ``r || s`` reading."""
    yield signature
    if len(signature) == _RAW_P256_SIGNATURE_SIZE:
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        yield encode_dss_signature(r, s)


def _verifies(verify: Callable[..., None], signature: bytes, data: bytes, *args: object) -> bool:
    try:
        verify(signature, data, *args)
    except InvalidSignature:
        return False
    return True
