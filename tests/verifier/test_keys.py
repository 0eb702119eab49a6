"""Loading, naming, signing with and verifying under Ed25519 and ECDSA P-256 keys."""

import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from verifier.errors import KeyFormatError
from verifier.keys import (
    ECDSA_P256,
    ED25519,
    generate_private_key,
    load_private_key,
    load_public_key,
)

ALGORITHMS = [ED25519, ECDSA_P256]


def public_pem(crypto_private_key):
    return crypto_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(crypto_private_key, encryption=None):
    return crypto_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_public_key_round_trips_through_pem(algorithm):
    key = generate_private_key(algorithm).public_key
    loaded = load_public_key(key.pem)
    assert loaded.algorithm == algorithm
    assert loaded == key
    assert load_public_key(key.pem.encode()) == key


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_key_id_is_the_sha256_of_the_der_subject_public_key_info(algorithm):
    key = generate_private_key(algorithm).public_key
    der = serialization.load_pem_public_key(key.pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key.key_id == hashlib.sha256(der).hexdigest()
    assert key.short_id == key.key_id[:8] + "…"


def test_key_id_does_not_depend_on_pem_line_endings_or_surrounding_text():
    key = generate_private_key().public_key
    rewrapped = "A comment before the block\r\n" + key.pem.replace("\n", "\r\n") + "\r\n"
    loaded = load_public_key(rewrapped)
    assert loaded.key_id == key.key_id
    assert loaded.pem == key.pem


def test_different_keys_have_different_ids():
    assert generate_private_key().public_key.key_id != generate_private_key().public_key.key_id


def test_public_key_is_immutable():
    key = generate_private_key().public_key
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.key_id = "0" * 64


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_signature_verifies_only_for_the_signed_data_and_key(algorithm):
    private_key = generate_private_key(algorithm)
    signature = private_key.sign(b"release 1.0")
    assert private_key.public_key.verify(signature, b"release 1.0")
    assert not private_key.public_key.verify(signature, b"release 1.1")
    assert not generate_private_key(algorithm).public_key.verify(signature, b"release 1.0")


def test_ecdsa_signature_is_accepted_as_der_and_as_raw_r_concatenated_with_s():
    private_key = generate_private_key(ECDSA_P256)
    der = private_key.sign(b"data")
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert der[0] == 0x30
    assert private_key.public_key.verify(der, b"data")
    assert private_key.public_key.verify(raw, b"data")
    assert not private_key.public_key.verify(raw, b"other data")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("signature", [b"", b"\x00" * 64, b"\x30" * 70, b"not a signature"])
def test_garbage_signature_does_not_verify(algorithm, signature):
    assert not generate_private_key(algorithm).public_key.verify(signature, b"data")


def test_text_that_is_not_pem_is_refused():
    with pytest.raises(KeyFormatError, match="not a PEM key"):
        load_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDm7 user@host")


def test_private_key_given_as_public_key_is_refused():
    with pytest.raises(KeyFormatError, match="this is a private key"):
        load_public_key(generate_private_key().private_pem())


def test_rsa_key_is_refused_saying_what_it_is(rsa_key):
    with pytest.raises(KeyFormatError) as refused:
        load_public_key(public_pem(rsa_key))
    assert str(refused.value) == "only Ed25519 and ECDSA P-256 keys are supported, got RSA-2048"


def test_pkcs1_rsa_public_key_is_refused_as_rsa(rsa_key):
    pkcs1 = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    with pytest.raises(KeyFormatError, match="got RSA-2048"):
        load_public_key(pkcs1)


@pytest.mark.parametrize(
    ("crypto_key", "described"),
    [
        (ec.generate_private_key(ec.SECP384R1()), "ECDSA on curve secp384r1"),
        (ec.generate_private_key(ec.SECP256K1()), "ECDSA on curve secp256k1"),
        (ed448.Ed448PrivateKey.generate(), "Ed448"),
    ],
)
def test_other_curves_are_refused_saying_which(crypto_key, described):
    with pytest.raises(KeyFormatError, match=f"keys are supported, got {described}"):
        load_public_key(public_pem(crypto_key))


def test_certificate_is_refused_naming_the_block():
    with pytest.raises(KeyFormatError, match="got '-----BEGIN CERTIFICATE-----'"):
        load_public_key("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")


def test_corrupt_public_key_block_is_refused():
    with pytest.raises(KeyFormatError, match="cannot be read"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


@pytest.mark.parametrize("load", [load_public_key, load_private_key])
def test_text_that_cannot_be_utf8_is_refused_as_a_bad_key(load):
    """A lone surrogate (from a JSON "\\ud800" escape, say) cannot be encoded: a key error, not a crash."""
    with pytest.raises(KeyFormatError, match="not UTF-8"):
        load("-----BEGIN PUBLIC KEY-----\ud800\n-----END PUBLIC KEY-----\n")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_private_key_round_trips_through_pem(algorithm):
    private_key = generate_private_key(algorithm)
    loaded = load_private_key(private_key.private_pem())
    assert loaded.algorithm == algorithm
    assert loaded.public_key == private_key.public_key
    assert private_key.public_key.verify(loaded.sign(b"data"), b"data")


def test_encrypted_private_key_loads_with_its_password():
    crypto_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_pem(crypto_key, serialization.BestAvailableEncryption(b"s3cret"))
    assert load_private_key(pem, password="s3cret").algorithm == ECDSA_P256
    with pytest.raises(KeyFormatError, match="needs a password"):
        load_private_key(pem)
    with pytest.raises(KeyFormatError, match="wrong password"):
        load_private_key(pem, password="guess")


def test_public_key_given_as_private_key_is_refused():
    with pytest.raises(KeyFormatError, match="this is a public key"):
        load_private_key(generate_private_key().public_key.pem)


def test_rsa_private_key_is_refused(rsa_key):
    with pytest.raises(KeyFormatError, match="got RSA-2048"):
        load_private_key(private_pem(rsa_key))


def test_unknown_algorithm_cannot_be_generated():
    with pytest.raises(KeyFormatError, match="got 'rsa'"):
        generate_private_key("rsa")


def test_private_key_repr_does_not_show_the_secret():
    private_key = generate_private_key()
    assert "PRIVATE" not in repr(private_key)
    assert private_key.public_key.key_id[:8] in repr(private_key)
