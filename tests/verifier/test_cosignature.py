"""C2SP tlog-cosignature v1: witness keys, the signed message, and which lines a client counts."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifier.cosignature import (
    FUTURE_SLACK_SECONDS,
    cosign,
    cosignatures_of,
    cosigned_message,
    generate_cosigner_key,
    make_cosigner_vkey,
    parse_cosigner_signer_key,
    parse_cosigner_vkey,
    with_signatures,
)
from verifier.errors import FormatError, KeyFormatError, SignatureError
from verifier.note import format_checkpoint, make_verifier_key, sign_note, verify_checkpoint

ORIGIN = "example.org/vitrina"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def log_key():
    return Ed25519PrivateKey.generate()


def witness(name):
    return parse_cosigner_signer_key(generate_cosigner_key(name))


def checkpoint_note(log_key, size=7, root=b"\x07" * 32):
    text = format_checkpoint(ORIGIN, size, root)
    return text, sign_note(text, ORIGIN, log_key)


def test_the_key_id_commits_to_the_name_and_signature_type_0x04():
    key = witness("witness.example/w1")
    raw = key.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = hashlib.sha256(b"witness.example/w1\n\x04" + raw).digest()[:4]
    assert key.key_hash == expected
    name, hash_hex, encoded = key.verifier_key.split("+", 2)
    assert (name, hash_hex) == ("witness.example/w1", expected.hex())
    assert base64.b64decode(encoded) == b"\x04" + raw


def test_a_verifier_key_round_trips_and_a_log_key_is_not_a_witness_key():
    key = witness("w1.example")
    assert parse_cosigner_vkey(key.verifier_key).public_key.public_bytes(
        Encoding.Raw, PublicFormat.Raw
    ) == key.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    log_vkey = make_verifier_key("w1.example", key.private_key.public_key())
    with pytest.raises(KeyFormatError, match="signature type 0x04"):
        parse_cosigner_vkey(log_vkey)


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda v: v.replace("+", " ", 1), "name"),
        (lambda v: "+".join(v.split("+", 2)[:2]), "name\\+hash\\+key"),
        (lambda v: v.split("+", 2)[0] + "+00000000+" + v.split("+", 2)[2], "does not match"),
        (lambda v: v[:-4] + "!!!!", "base64"),
    ],
)
def test_a_malformed_witness_key_is_refused_naming_the_problem(mangle, message):
    with pytest.raises(KeyFormatError, match=message):
        parse_cosigner_vkey(mangle(witness("w1.example").verifier_key))


def test_the_signed_message_is_the_header_the_time_and_the_whole_body():
    body = format_checkpoint(ORIGIN, 20852163, b"\x01" * 32, ["extension line"])
    assert cosigned_message(body, 1679315147) == (b"cosignature/v1\ntime 1679315147\n" + body.encode())
    with pytest.raises(FormatError, match="out of range"):
        cosigned_message(body, 1 << 63)


def test_a_cosignature_verifies_beside_the_log_signature(log_key):
    text, note = checkpoint_note(log_key)
    w1, w2 = witness("w1.example"), witness("w2.example")
    cosigned = with_signatures(note, [cosign(text, w1, NOW), cosign(text, w2, NOW + 1)])
    found = cosignatures_of(
        cosigned, [parse_cosigner_vkey(w1.verifier_key), parse_cosigner_vkey(w2.verifier_key)], now=NOW
    )
    assert [(c.name, c.timestamp) for c in found] == [("w1.example", NOW), ("w2.example", NOW + 1)]
    # The log's own verification ignores the witnesses' lines.
    log_vkey = make_verifier_key(ORIGIN, log_key.public_key())
    assert verify_checkpoint(cosigned, log_vkey).size == 7


def test_lines_of_unknown_witnesses_are_ignored_and_absent_ones_not_counted(log_key):
    text, note = checkpoint_note(log_key)
    known, stranger = witness("w1.example"), witness("stranger.example")
    cosigned = with_signatures(note, [cosign(text, stranger, NOW)])
    assert cosignatures_of(cosigned, [parse_cosigner_vkey(known.verifier_key)], now=NOW) == []


def test_a_cosignature_of_another_checkpoint_does_not_verify(log_key):
    text, note = checkpoint_note(log_key, size=7)
    other, _ = checkpoint_note(log_key, size=8)
    w1 = witness("w1.example")
    moved = with_signatures(note, [cosign(other, w1, NOW)])
    with pytest.raises(SignatureError, match="w1.example.*does not verify"):
        cosignatures_of(moved, [parse_cosigner_vkey(w1.verifier_key)], now=NOW)


def test_a_forged_timestamp_breaks_the_signature(log_key):
    text, note = checkpoint_note(log_key)
    w1 = witness("w1.example")
    line = cosign(text, w1, NOW)
    name, encoded = line.split(" ")[1:]
    raw = bytearray(base64.b64decode(encoded))
    raw[4:12] = (NOW - 3600).to_bytes(8, "big")
    forged = f"— {name} {base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(SignatureError, match="does not verify"):
        cosignatures_of(with_signatures(note, [forged]), [parse_cosigner_vkey(w1.verifier_key)], now=NOW)


def test_a_cosignature_dated_in_the_future_is_refused(log_key):
    text, note = checkpoint_note(log_key)
    w1 = witness("w1.example")
    ahead = with_signatures(note, [cosign(text, w1, NOW + FUTURE_SLACK_SECONDS + 60)])
    with pytest.raises(SignatureError, match="in the future"):
        cosignatures_of(ahead, [parse_cosigner_vkey(w1.verifier_key)], now=NOW)
    slightly = with_signatures(note, [cosign(text, w1, NOW + 30)])
    assert len(cosignatures_of(slightly, [parse_cosigner_vkey(w1.verifier_key)], now=NOW)) == 1


def test_a_witness_counts_once_with_its_newest_cosignature(log_key):
    text, note = checkpoint_note(log_key)
    w1 = witness("w1.example")
    twice = with_signatures(note, [cosign(text, w1, NOW - 10), cosign(text, w1, NOW)])
    (found,) = cosignatures_of(twice, [parse_cosigner_vkey(w1.verifier_key)], now=NOW)
    assert found.timestamp == NOW


def test_adding_a_line_the_note_holds_adds_nothing(log_key):
    text, note = checkpoint_note(log_key)
    line = cosign(text, witness("w1.example"), NOW)
    once = with_signatures(note, [line])
    assert with_signatures(once, [line, line]) == once
    assert once.count(line) == 1


def test_the_signer_key_file_form_round_trips_and_refuses_a_log_key():
    text = generate_cosigner_key("w1.example")
    assert text.startswith("PRIVATE+KEY+w1.example+")
    key = parse_cosigner_signer_key(text + "\n")
    assert key.verifier_key == make_cosigner_vkey("w1.example", key.private_key.public_key())
    with pytest.raises(KeyFormatError, match="PRIVATE\\+KEY"):
        parse_cosigner_signer_key(key.verifier_key)
