"""DSSE v1 envelopes: parsing, the pre-authentication encoding (PAE), signing and verification.

Shaped after the specification (github.com/secure-systems-lab/dsse, ``protocol.md`` and
``envelope.md``): a signature covers ``PAE(payloadType, payload)``, never the base64 text, so the
payload type is authenticated along with the payload.

Two rules of the specification that implementations get wrong, and that this module keeps:

- base64 may be standard or URL-safe, padded or not; a verifier must accept either;
- ``keyid`` is an unauthenticated hint and "MUST NOT be used for security decisions": every
  signature is tried against every trusted key, whatever ``keyid`` it claims.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verifier import jsontext
from verifier.errors import FormatError, SignatureError
from verifier.keys import PrivateKey, PublicKey

PAYLOAD_TYPE_IN_TOTO = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = 1024 * 1024
# Each signature is tried against every trusted key; a cap keeps a hostile envelope from making
# verification slow. Real envelopes carry one or two.
MAX_SIGNATURES = 32

_URL_SAFE_TO_STANDARD = str.maketrans("-_", "+/")


@dataclass(frozen=True)
class Signature:
    """One signature of an envelope. ``keyid`` is ``""`` when the envelope gives none."""

    keyid: str
    sig: bytes


@dataclass
class Envelope:
    payload_type: str
    payload: bytes
    signatures: list[Signature]

    def to_dict(self) -> dict[str, Any]:
        """Return the standard JSON envelope, with standard base64 and ``keyid`` only where set."""
        return {
            "payload": _b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [_signature_dict(s.sig, s.keyid) for s in self.signatures],
        }


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 Pre-Authentication Encoding of a payload and its type.

    ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, where LEN is the
    decimal byte length; the type is UTF-8 encoded first, so LEN counts bytes, not characters.
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def parse_envelope(data: object) -> Envelope:
    """Parse a JSON envelope (bytes, text, or an already-decoded dict) into an ``Envelope``.

    Strict about shape so that a malformed envelope is reported as such, naming the field, rather
    than failing later as a bad signature. Unknown top-level fields are ignored, as in the spec's
    protobuf definition. Envelopes over ``MAX_ENVELOPE_BYTES`` are refused before parsing, and so are
    envelopes with more than ``MAX_SIGNATURES`` signatures.
    """
    obj = _load_envelope_json(data)
    if not isinstance(obj, dict):
        raise FormatError(f"envelope must be a JSON object, got {_json_type(obj)}")
    for name in ("payload", "payloadType", "signatures"):
        if name not in obj:
            raise FormatError(f"envelope has no {name!r} field")
    if not isinstance(obj["payloadType"], str):
        raise FormatError(f"payloadType must be a string, got {_json_type(obj['payloadType'])}")
    return Envelope(
        payload_type=obj["payloadType"],
        payload=_b64decode(obj["payload"], "payload"),
        signatures=_parse_signatures(obj["signatures"]),
    )


def verify_envelope(
    envelope: Envelope, keys: Sequence[PublicKey], *, payload_type: str = PAYLOAD_TYPE_IN_TOTO
) -> PublicKey:
    """Return the first trusted key under which one of the envelope's signatures verifies.

    Every signature is tried against every key; ``keyid`` plays no part (see the module docstring).
    Raises ``FormatError`` for an unexpected payload type and ``SignatureError`` when no signature
    verifies, listing the short ids of the keys that were tried.
    """
    if not keys:
        raise SignatureError("there are no trusted keys to verify the signature against; register one first")
    if envelope.payload_type != payload_type:
        raise FormatError(f"payloadType must be {payload_type}, got {envelope.payload_type!r}")
    signed = pae(envelope.payload_type, envelope.payload)
    for key in keys:
        if any(key.verify(signature.sig, signed) for signature in envelope.signatures):
            return key
    tried = ", ".join(key.short_id for key in keys)
    raise SignatureError(f"signature does not verify under any trusted key (keys: {tried})")


def sign_envelope(
    payload: bytes,
    private_key: PrivateKey,
    *,
    payload_type: str = PAYLOAD_TYPE_IN_TOTO,
    keyid: str | None = None,
) -> dict[str, Any]:
    """Sign ``payload`` and return the JSON-ready envelope dict (standard base64).

    ``keyid`` is written as given, and left out when ``None``; verifiers that follow the spec do not
    need it, though some (securesystemslib) match on it.
    """
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payload": _b64encode(payload),
        "payloadType": payload_type,
        "signatures": [_signature_dict(signature, keyid)],
    }


def envelope_to_json(envelope: Envelope | dict[str, Any]) -> str:
    """Serialize an envelope (dict or ``Envelope``) as compact JSON with sorted keys."""
    document = envelope.to_dict() if isinstance(envelope, Envelope) else envelope
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _load_envelope_json(data: object) -> Any:
    if isinstance(data, dict):
        # A dict was parsed by the caller (an API request body); it gets the reader's depth rule too.
        if jsontext.depth_exceeds(data):
            raise FormatError(f"envelope is nested more than {jsontext.MAX_DEPTH} levels deep")
        try:
            _check_size(len(envelope_to_json(data).encode("utf-8")))
        except (TypeError, ValueError) as e:
            raise FormatError(f"envelope holds values that are not JSON: {e}") from e
        return data
    if not isinstance(data, str | bytes):
        raise FormatError(f"envelope must be JSON text or a dict, got {type(data).__name__}")
    data = jsontext.utf8_bytes(data, what="envelope")
    _check_size(len(data))
    return jsontext.loads(data, what="envelope")


def _check_size(size: int) -> None:
    if size > MAX_ENVELOPE_BYTES:
        raise FormatError(f"envelope is {size} bytes; the limit is {MAX_ENVELOPE_BYTES} bytes (1 MiB)")


def _parse_signatures(signatures: object) -> list[Signature]:
    if not isinstance(signatures, list):
        raise FormatError(f"signatures must be a list, got {_json_type(signatures)}")
    if not signatures:
        raise FormatError("signatures is empty; the envelope is not signed")
    if len(signatures) > MAX_SIGNATURES:
        raise FormatError(f"envelope has {len(signatures)} signatures; at most {MAX_SIGNATURES} are accepted")
    return [_parse_signature(entry, f"signatures[{i}]") for i, entry in enumerate(signatures)]


def _parse_signature(entry: object, where: str) -> Signature:
    if not isinstance(entry, dict):
        raise FormatError(f"{where} must be an object, got {_json_type(entry)}")
    if "sig" not in entry:
        raise FormatError(f"{where} has no 'sig' field")
    keyid = entry.get("keyid", "")
    if not isinstance(keyid, str):
        raise FormatError(f"{where}.keyid must be a string, got {_json_type(keyid)}")
    sig = _b64decode(entry["sig"], f"{where}.sig")
    if not sig:
        raise FormatError(f"{where}.sig is empty")
    return Signature(keyid=keyid, sig=sig)


def _b64decode(text: object, field: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not, refusing anything else.

    Non-canonical spellings (stray bits in the last character, wrong padding, mixed alphabets) are
    refused so that each byte string has exactly one accepted spelling per alphabet.
    """
    if not isinstance(text, str):
        raise FormatError(f"{field} must be a base64 string, got {_json_type(text)}")
    if not text.isascii():
        # The base64 module refuses non-ASCII text with a bare ValueError, not binascii.Error.
        raise FormatError(f"{field} is not valid base64: it holds characters other than ASCII")
    if any(c in text for c in "+/") and any(c in text for c in "-_"):
        raise FormatError(f"{field} is not valid base64: it mixes the standard and URL-safe alphabets")
    standard = text.translate(_URL_SAFE_TO_STANDARD)
    unpadded = standard.rstrip("=")
    try:
        raw = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error as e:
        raise FormatError(f"{field} is not valid base64") from e
    canonical = _b64encode(raw)
    if standard not in (canonical, canonical.rstrip("=")):
        raise FormatError(f"{field} is not valid base64: non-canonical encoding or wrong padding")
    return raw


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _signature_dict(sig: bytes, keyid: str | None) -> dict[str, str]:
    entry = {"sig": _b64encode(sig)}
    if keyid:
        entry["keyid"] = keyid
    return entry


def _json_type(value: object) -> str:
    """Name a decoded JSON value's type the way the JSON text spells it."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
