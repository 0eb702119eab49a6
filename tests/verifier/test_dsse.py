"""DSSE v1: the PAE, the JSON envelope, and verification that never trusts ``keyid``."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.verifier import factories
from verifier.dsse import (
    MAX_ENVELOPE_BYTES,
    MAX_SIGNATURES,
    PAYLOAD_TYPE_IN_TOTO,
    Envelope,
    Signature,
    envelope_to_json,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from verifier.errors import FormatError, SignatureError
from verifier.keys import ECDSA_P256, ED25519, generate_private_key, load_private_key, load_public_key
from verifier.statement import parse_statement

# The test vector of the DSSE specification, protocol.md ("Test Vectors") in
# github.com/secure-systems-lab/dsse: ECDSA P-256 / SHA-256 (deterministic, RFC 6979), signature as
# the raw concatenation r || s. The PEM below is the SubjectPublicKeyInfo of the spec's point
# X = 46950820868899156662930047687818585632848591499744589407958293238635476079160,
# Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820.
SPEC_PAYLOAD_TYPE = "http://example.com/HelloWorld"
SPEC_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
SPEC_PUBLIC_KEY_PEM = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ805D3eqNZywjCI19lInBJOp7YMr
CrzAH3CVTAOQ0jgMeCvVTiaRJaRPRDOv8UMs6U4SvKc6pnrIDOoSYI3fdA==
-----END PUBLIC KEY-----
"""
SPEC_ENVELOPE = (
    '{"payload": "aGVsbG8gd29ybGQ=",\n'
    ' "payloadType": "http://example.com/HelloWorld",\n'
    ' "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88Sjt'
    'R6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}'
)

ALGORITHMS = [ED25519, ECDSA_P256]


@pytest.fixture(scope="module")
def key_a():
    return generate_private_key(ED25519)


@pytest.fixture(scope="module")
def key_b():
    return generate_private_key(ECDSA_P256)


def signed(payload, private_key, **kwargs):
    return parse_envelope(sign_envelope(payload, private_key, **kwargs))


def test_pae_matches_the_spec_example():
    assert pae(SPEC_PAYLOAD_TYPE, b"hello world") == SPEC_PAE


def test_pae_counts_bytes_of_the_utf8_payload_type_not_characters():
    assert pae("application/vnd.exämple+json", b"x") == b"DSSEv1 29 application/vnd.ex\xc3\xa4mple+json 1 x"


def test_pae_of_an_empty_payload_ends_with_a_space():
    assert pae(PAYLOAD_TYPE_IN_TOTO, b"") == b"DSSEv1 28 application/vnd.in-toto+json 0 "


def test_spec_public_key_is_the_spec_point():
    numbers = serialization.load_pem_public_key(SPEC_PUBLIC_KEY_PEM.encode()).public_numbers()
    assert numbers.x == 46950820868899156662930047687818585632848591499744589407958293238635476079160
    assert numbers.y == 5640078356564379163099075877009565129882514886557779369047442380624545832820


def test_spec_ecdsa_test_vector_with_raw_signature_verifies():
    envelope = parse_envelope(SPEC_ENVELOPE)
    key = load_public_key(SPEC_PUBLIC_KEY_PEM)
    assert len(envelope.signatures[0].sig) == 64
    assert envelope.signatures[0].keyid == ""
    assert verify_envelope(envelope, [key], payload_type=SPEC_PAYLOAD_TYPE) == key


def test_spec_test_vector_with_another_payload_is_refused():
    envelope = parse_envelope(SPEC_ENVELOPE)
    envelope.payload = b"hello world!"
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [load_public_key(SPEC_PUBLIC_KEY_PEM)], payload_type=SPEC_PAYLOAD_TYPE)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_signed_envelope_round_trips_through_json(algorithm):
    private_key = generate_private_key(algorithm)
    text = envelope_to_json(sign_envelope(b'{"hello": "world"}', private_key))
    envelope = parse_envelope(text)
    assert envelope.payload == b'{"hello": "world"}'
    assert envelope.payload_type == PAYLOAD_TYPE_IN_TOTO
    assert verify_envelope(envelope, [private_key.public_key]) == private_key.public_key


def test_signed_envelope_uses_standard_base64_and_omits_an_unset_keyid(key_a):
    envelope = sign_envelope(b"\xfb\xff\xbf", key_a)
    assert envelope["payload"] == "+/+/"
    assert "keyid" not in envelope["signatures"][0]
    assert sign_envelope(b"x", key_a, keyid="ci-key")["signatures"][0]["keyid"] == "ci-key"


def test_ecdsa_envelope_with_raw_signature_verifies(key_b):
    envelope = signed(b"payload", key_b)
    r, s = decode_dss_signature(envelope.signatures[0].sig)
    raw = Envelope(envelope.payload_type, envelope.payload, [Signature("", r.to_bytes(32) + s.to_bytes(32))])
    assert verify_envelope(raw, [key_b.public_key]) == key_b.public_key


def to_url_safe_unpadded(text):
    return text.replace("+", "-").replace("/", "_").rstrip("=")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_url_safe_and_unpadded_base64_is_accepted(algorithm):
    private_key = generate_private_key(algorithm)
    # These bytes encode to "+/+/Pj8=": both alphabet-specific characters and padding.
    envelope = sign_envelope(b"\xfb\xff\xbf>?", private_key)
    for signature in envelope["signatures"]:
        signature["sig"] = to_url_safe_unpadded(signature["sig"])
    envelope["payload"] = to_url_safe_unpadded(envelope["payload"])
    assert envelope["payload"] == "-_-_Pj8"
    parsed = parse_envelope(envelope)
    assert parsed.payload == b"\xfb\xff\xbf>?"
    assert verify_envelope(parsed, [private_key.public_key]) == private_key.public_key


def test_padded_url_safe_base64_is_accepted():
    assert parse_envelope(envelope_dict(payload="-_-_Pj8=")).payload == b"\xfb\xff\xbf>?"


def flipped(data, position):
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_envelope_with_any_flipped_payload_byte_is_refused(algorithm):
    private_key = generate_private_key(algorithm)
    envelope = signed(b'{"_type":"x","n":1}', private_key)
    for position in range(len(envelope.payload)):
        tampered = Envelope(envelope.payload_type, flipped(envelope.payload, position), envelope.signatures)
        with pytest.raises(SignatureError):
            verify_envelope(tampered, [private_key.public_key])


@pytest.mark.parametrize("encoding", ["ed25519", "ecdsa-der", "ecdsa-raw"])
def test_envelope_with_any_flipped_signature_byte_is_refused(encoding):
    private_key = generate_private_key(ED25519 if encoding == "ed25519" else ECDSA_P256)
    envelope = signed(b'{"_type":"x","n":1}', private_key)
    sig = envelope.signatures[0].sig
    if encoding == "ecdsa-raw":
        r, s = decode_dss_signature(sig)
        sig = r.to_bytes(32) + s.to_bytes(32)
    for position in range(len(sig)):
        tampered = Envelope(envelope.payload_type, envelope.payload, [Signature("", flipped(sig, position))])
        with pytest.raises(SignatureError):
            verify_envelope(tampered, [private_key.public_key])


def test_truncated_or_extended_signature_is_refused(key_b):
    envelope = signed(b"payload", key_b)
    sig = envelope.signatures[0].sig
    for variant in (sig[:-1], sig + b"\x00"):
        tampered = Envelope(envelope.payload_type, envelope.payload, [Signature("", variant)])
        with pytest.raises(SignatureError):
            verify_envelope(tampered, [key_b.public_key])


def test_signature_over_another_payload_type_is_refused(key_a):
    envelope = signed(b"payload", key_a, payload_type="application/vnd.example.other+json")
    envelope.payload_type = PAYLOAD_TYPE_IN_TOTO
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [key_a.public_key])


def test_unexpected_payload_type_is_a_format_error(key_a):
    envelope = signed(b"payload", key_a, payload_type="application/json")
    expected = "payloadType must be application/vnd.in-toto\\+json, got 'application/json'"
    with pytest.raises(FormatError, match=expected):
        verify_envelope(envelope, [key_a.public_key])


def test_envelope_signed_by_another_key_is_refused_listing_the_trusted_keys(key_a, key_b):
    stranger = generate_private_key()
    envelope = signed(b"payload", stranger)
    with pytest.raises(SignatureError) as refused:
        verify_envelope(envelope, [key_a.public_key, key_b.public_key])
    message = str(refused.value)
    assert message.startswith("signature does not verify under any trusted key (keys: ")
    assert key_a.public_key.key_id[:8] in message
    assert key_b.public_key.key_id[:8] in message
    assert stranger.public_key.key_id[:8] not in message


def test_empty_key_list_is_refused_with_its_own_message(key_a):
    with pytest.raises(SignatureError, match="no trusted keys") as refused:
        verify_envelope(signed(b"payload", key_a), [])
    assert "does not verify" not in str(refused.value)


def test_keyid_naming_another_key_does_not_stop_the_right_key_from_verifying(key_a, key_b):
    envelope = signed(b"payload", key_a, keyid=key_b.public_key.key_id)
    assert verify_envelope(envelope, [key_b.public_key, key_a.public_key]) == key_a.public_key


def test_keyid_naming_the_trusted_key_does_not_make_a_wrong_signature_verify(key_a):
    envelope = signed(b"payload", generate_private_key(), keyid=key_a.public_key.key_id)
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [key_a.public_key])


def test_one_valid_signature_among_invalid_ones_is_enough(key_a):
    good = signed(b"payload", key_a).signatures[0]
    bad = signed(b"payload", generate_private_key()).signatures[0]
    envelope = Envelope(PAYLOAD_TYPE_IN_TOTO, b"payload", [bad, Signature("", b"\x00" * 64), good])
    assert verify_envelope(envelope, [key_a.public_key]) == key_a.public_key


def test_first_trusted_key_that_verifies_is_returned(key_a, key_b):
    envelope = Envelope(
        PAYLOAD_TYPE_IN_TOTO,
        b"payload",
        signed(b"payload", key_a).signatures + signed(b"payload", key_b).signatures,
    )
    assert verify_envelope(envelope, [key_b.public_key, key_a.public_key]) == key_b.public_key


def envelope_dict(**fields):
    envelope = {"payload": "aGVsbG8=", "payloadType": PAYLOAD_TYPE_IN_TOTO, "signatures": [{"sig": "c2ln"}]}
    envelope.update(fields)
    return {name: value for name, value in envelope.items() if value is not ...}


def test_envelope_parses_the_same_from_bytes_text_and_dict():
    envelope = envelope_dict(signatures=[{"sig": "c2ln", "keyid": "k1"}])
    text = json.dumps(envelope)
    expected = Envelope(PAYLOAD_TYPE_IN_TOTO, b"hello", [Signature("k1", b"sig")])
    assert parse_envelope(envelope) == parse_envelope(text) == parse_envelope(text.encode()) == expected


def test_unknown_envelope_fields_are_ignored():
    assert parse_envelope(envelope_dict(extension={"kind": "x"})).payload == b"hello"


def test_envelope_to_json_is_the_same_for_dict_and_envelope(key_a):
    envelope = sign_envelope(b"payload", key_a, keyid="k")
    text = envelope_to_json(envelope)
    assert envelope_to_json(parse_envelope(text)) == text
    assert json.loads(text) == envelope


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"payload": "\xff"}', "not UTF-8"),
        ("[]", "must be a JSON object, got a list"),
        (envelope_dict(payload=...), "no 'payload' field"),
        (envelope_dict(payloadType=...), "no 'payloadType' field"),
        (envelope_dict(signatures=...), "no 'signatures' field"),
        (envelope_dict(payloadType=1), "payloadType must be a string, got a number"),
        (envelope_dict(payload=None), "payload must be a base64 string, got null"),
        (envelope_dict(payload="aGVsbG8*"), "payload is not valid base64"),
        (envelope_dict(payload="aGVs bG8="), "payload is not valid base64"),
        (envelope_dict(payload="aGVsbG8=\n"), "payload is not valid base64"),
        (envelope_dict(payload="aGVsbG9="), "non-canonical"),
        (envelope_dict(payload="aGVsbG8=="), "wrong padding"),
        (envelope_dict(payload="aGVsb"), "payload is not valid base64"),
        (envelope_dict(payload="+_8="), "mixes the standard and URL-safe"),
        (envelope_dict(signatures={"sig": "c2ln"}), "signatures must be a list, got an object"),
        (envelope_dict(signatures=[]), "signatures is empty"),
        (envelope_dict(signatures=["c2ln"]), "signatures\\[0\\] must be an object, got a string"),
        (envelope_dict(signatures=[{"keyid": "k"}]), "signatures\\[0\\] has no 'sig' field"),
        (
            envelope_dict(signatures=[{"sig": "c2ln"}, {"sig": "%%%"}]),
            "signatures\\[1\\].sig is not valid base64",
        ),
        (envelope_dict(signatures=[{"sig": ""}]), "signatures\\[0\\].sig is empty"),
        (envelope_dict(signatures=[{"sig": "c2ln", "keyid": 7}]), "signatures\\[0\\].keyid must be a string"),
        ('{"payload": "aGVsbG8=", "payload": "d29ybGQ="}', "the key 'payload' appears twice"),
        (42, "must be JSON text or a dict, got int"),
        (envelope_dict(payload=b"aGVsbG8="), "not JSON"),
        (envelope_dict(signatures=[{"sig": "c2ln"}] * (MAX_SIGNATURES + 1)), "at most 32 are accepted"),
    ],
)
def test_malformed_envelope_is_refused_naming_the_field(data, complaint):
    with pytest.raises(FormatError, match=complaint):
        parse_envelope(data)


def test_oversized_envelope_is_refused_before_parsing():
    huge_payload = base64.b64encode(b"x" * MAX_ENVELOPE_BYTES).decode()
    for data in (envelope_dict(payload=huge_payload), json.dumps(envelope_dict(payload=huge_payload))):
        with pytest.raises(FormatError, match="the limit is 1048576 bytes"):
            parse_envelope(data)
    with pytest.raises(FormatError, match="limit"):
        parse_envelope(b"[" * (MAX_ENVELOPE_BYTES + 1))


def test_envelope_just_under_the_size_limit_is_parsed():
    payload = b"x" * (MAX_ENVELOPE_BYTES // 2)
    assert parse_envelope(envelope_dict(payload=base64.b64encode(payload).decode())).payload == payload


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_factory_envelope_verifies_under_the_pair_and_names_the_given_release(algorithm):
    pair = factories.key_pair(algorithm)
    digest, commit = factories.random_digest(), factories.random_commit()
    envelope = parse_envelope(factories.signed_envelope(pair, artifact_digest=digest, commit=commit))
    assert verify_envelope(envelope, [load_public_key(pair.public_pem)]).key_id == pair.key_id
    assert load_private_key(pair.private_pem).public_key == pair.public_key
    facts = parse_statement(envelope.payload)
    assert (facts.artifact_digest, facts.source_commit) == (digest, commit)
    assert facts.source_uri == factories.REPO_URI


def test_envelope_with_the_maximum_number_of_signatures_is_parsed():
    envelope = parse_envelope(envelope_dict(signatures=[{"sig": "c2ln"}] * MAX_SIGNATURES))
    assert len(envelope.signatures) == MAX_SIGNATURES


@pytest.mark.parametrize("text", ["aGVsbG8é", "\x80===", "c2ln\u00a0", "😀😀"])
@pytest.mark.parametrize("field", ["payload", "sig"])
def test_non_ascii_base64_is_refused_as_malformed_in_every_input_form(field, text):
    envelope = (
        envelope_dict(payload=text) if field == "payload" else envelope_dict(signatures=[{"sig": text}])
    )
    where = "payload" if field == "payload" else "signatures\\[0\\].sig"
    for data in (envelope, json.dumps(envelope), json.dumps(envelope).encode()):
        with pytest.raises(FormatError, match=f"{where} is not valid base64"):
            parse_envelope(data)


def test_text_that_cannot_be_utf8_is_refused_as_malformed():
    with pytest.raises(FormatError, match="not UTF-8"):
        parse_envelope('{"payload": "\ud800"}')
    text = json.dumps(envelope_dict(payload="\ud800"))
    for data in (text, text.encode()):
        with pytest.raises(FormatError, match="lone UTF-16 surrogate"):
            parse_envelope(data)
    with pytest.raises(FormatError, match="payload is not valid base64"):
        parse_envelope(envelope_dict(payload="\ud800"))


@pytest.mark.parametrize("data", [b"[" * 100_000, "[" * 100_000 + "]" * 100_000])
def test_deeply_nested_envelope_text_is_refused_as_malformed(data):
    with pytest.raises(FormatError, match="nested more than"):
        parse_envelope(data)


def test_deeply_nested_envelope_dict_is_refused_as_malformed():
    nested = []
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(FormatError, match="nested more than"):
        parse_envelope(envelope_dict(payloadType=nested))
