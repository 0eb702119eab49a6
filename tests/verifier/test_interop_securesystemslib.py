"""Interoperability with securesystemslib 1.x, the DSSE implementation used by in-toto and TUF tooling.

An envelope signed by one implementation must verify with the other, for both key algorithms, so
that a CI job may sign with whichever it already has.
"""

import copy

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib import dsse as sslib_dsse
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from verifier.dsse import PAYLOAD_TYPE_IN_TOTO, pae, parse_envelope, sign_envelope, verify_envelope
from verifier.errors import SignatureError
from verifier.keys import ECDSA_P256, ED25519, generate_private_key, load_private_key
from verifier.statement import build_statement, parse_statement, statement_to_payload

PAYLOAD = statement_to_payload(
    build_statement(
        artifact_name="portal.tar.gz",
        artifact_digest="sha256:" + "ab" * 32,
        repo_uri="https://git.example.org/city/portal.git",
        commit="0123456789abcdef0123456789abcdef01234567",
    )
)

SSLIB_SIGNERS = {ED25519: CryptoSigner.generate_ed25519, ECDSA_P256: CryptoSigner.generate_ecdsa}


def sslib_key_for(public_key):
    """The securesystemslib view of one of our public keys."""
    return SSlibKey.from_crypto(serialization.load_pem_public_key(public_key.pem.encode()))


def sslib_signed_envelope(signer, payload=PAYLOAD):
    envelope = sslib_dsse.Envelope(payload=payload, payload_type=PAYLOAD_TYPE_IN_TOTO, signatures={})
    envelope.sign(signer)
    return envelope.to_dict()


@pytest.mark.parametrize("algorithm", [ED25519, ECDSA_P256])
def test_envelope_signed_by_securesystemslib_verifies_with_ours(algorithm):
    signer = SSLIB_SIGNERS[algorithm]()
    public_key = load_private_key(signer.private_bytes).public_key
    envelope = parse_envelope(sslib_signed_envelope(signer))
    assert verify_envelope(envelope, [public_key]) == public_key
    assert parse_statement(envelope.payload).source_commit == "0123456789abcdef0123456789abcdef01234567"


def test_envelope_signed_by_securesystemslib_with_another_key_is_refused_by_ours():
    envelope = parse_envelope(sslib_signed_envelope(CryptoSigner.generate_ed25519()))
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [generate_private_key().public_key])


@pytest.mark.parametrize("algorithm", [ED25519, ECDSA_P256])
def test_envelope_we_sign_verifies_with_securesystemslib(algorithm):
    private_key = generate_private_key(algorithm)
    sslib_key = sslib_key_for(private_key.public_key)
    # securesystemslib only tries keys whose keyid matches the signature's (its issue #416), so we
    # give it the keyid it computes; our own verifier ignores keyid.
    ours = sign_envelope(PAYLOAD, private_key, keyid=sslib_key.keyid)
    envelope = sslib_dsse.Envelope.from_dict(copy.deepcopy(ours))
    assert envelope.payload == PAYLOAD
    assert envelope.verify([sslib_key], 1) == {sslib_key.keyid: sslib_key}


def test_envelope_we_sign_with_another_key_is_refused_by_securesystemslib():
    private_key = generate_private_key()
    sslib_key = sslib_key_for(generate_private_key().public_key)
    ours = sign_envelope(PAYLOAD, private_key, keyid=sslib_key.keyid)
    with pytest.raises(VerificationError):
        sslib_dsse.Envelope.from_dict(ours).verify([sslib_key], 1)


@pytest.mark.parametrize("payload_type", [PAYLOAD_TYPE_IN_TOTO, "http://example.com/HelloWorld", "x"])
@pytest.mark.parametrize("payload", [b"", b"hello world", PAYLOAD])
def test_our_pae_equals_securesystemslib_pae(payload_type, payload):
    assert pae(payload_type, payload) == sslib_dsse.Envelope(payload, payload_type, {}).pae()
