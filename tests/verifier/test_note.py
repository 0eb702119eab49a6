import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifier import note
from verifier.errors import CheckpointError, FormatError, KeyFormatError, SignatureError

# Known-answer vector from Go's golang.org/x/mod/sumdb/note tests (note_test.go, TestNewVerifier and
# TestSign): a signer key, its verifier key, a text and the exact signed note Go produces.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIGNED = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "vitrina.example/log"
ROOT = bytes(range(32))


def make_key(name=ORIGIN, seed=1):
    private_key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return private_key, note.parse_verifier_key(note.make_verifier_key(name, private_key.public_key()))


def replace_char(text, position):
    return text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1 :]


# --- Keys ---------------------------------------------------------------------------------------------


def test_go_signer_key_yields_go_verifier_key():
    signer = note.parse_signer_key(GO_SIGNER_KEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_hash == bytes.fromhex("c74f20a3")
    assert note.make_verifier_key(signer.name, signer.private_key.public_key()) == GO_VERIFIER_KEY
    assert note.make_signer_key(signer.name, signer.private_key) == GO_SIGNER_KEY


def test_verifier_key_round_trips_and_accepts_raw_public_key():
    private_key, verifier = make_key()
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    vkey = note.make_verifier_key(ORIGIN, raw)
    assert vkey == note.make_verifier_key(ORIGIN, private_key.public_key())
    assert vkey.startswith(ORIGIN + "+" + verifier.key_hash.hex() + "+")
    parsed = note.parse_verifier_key(vkey)
    assert parsed.name == ORIGIN
    assert parsed.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw


def test_key_hash_is_sha256_of_name_newline_type_and_key():
    import hashlib

    _, verifier = make_key("a.example/b")
    raw = verifier.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert verifier.key_hash == hashlib.sha256(b"a.example/b\n\x01" + raw).digest()[:4]


@pytest.mark.parametrize(
    "vkey",
    [
        # From Go's note_test.go: wrong key length and unknown algorithm, each with an adjusted hash.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # name not hashed
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # 7 hex digits
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "",
    ],
)
def test_malformed_verifier_key_is_refused(vkey):
    with pytest.raises(KeyFormatError):
        note.parse_verifier_key(vkey)


def test_key_name_that_cannot_be_utf8_is_refused():
    """The key hash covers the name's UTF-8 bytes; a lone surrogate has none, so the key is malformed."""
    _, verifier = make_key()
    name = "log\ud800"
    vkey = f"{name}+{verifier.key_hash.hex()}+" + base64.b64encode(
        b"\x01" + verifier.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode("ascii")
    with pytest.raises(KeyFormatError, match="invalid key name"):
        note.parse_verifier_key(vkey)
    with pytest.raises(KeyFormatError, match="invalid key name"):
        note.parse_signer_key("PRIVATE+KEY+" + vkey)


def test_malformed_signer_key_is_refused():
    with pytest.raises(KeyFormatError, match="PRIVATE"):
        note.parse_signer_key(GO_VERIFIER_KEY)
    with pytest.raises(KeyFormatError, match="does not match"):
        note.parse_signer_key(GO_SIGNER_KEY.replace("c74f20a3", "c74f20a4"))


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\nb", "a\u2003b"])
def test_invalid_key_names_are_refused(name):
    private_key, _ = make_key()
    with pytest.raises(FormatError):
        note.make_verifier_key(name, private_key.public_key())
    with pytest.raises(FormatError):
        note.sign_note("text\n", name, private_key)


# --- Signing and opening ------------------------------------------------------------------------------


def test_sign_note_matches_go_output_exactly():
    signer = note.parse_signer_key(GO_SIGNER_KEY)
    assert note.sign_note(GO_TEXT, signer.name, signer.private_key) == GO_SIGNED


def test_go_signed_note_opens():
    text, verified_by = note.open_note(GO_SIGNED, [note.parse_verifier_key(GO_VERIFIER_KEY)])
    assert text == GO_TEXT
    assert verified_by == ["PeterNeumann"]


def test_signed_note_round_trips_as_text_and_bytes():
    private_key, verifier = make_key()
    text = "line one\n\nline three after an empty line\n"
    signed = note.sign_note(text, ORIGIN, private_key)
    assert "\n\n\u2014 " + ORIGIN + " " in signed
    assert note.open_note(signed, [verifier]) == (text, [ORIGIN])
    assert note.open_note(signed.encode(), [verifier]) == (text, [ORIGIN])


def test_note_with_flipped_text_byte_fails():
    private_key, verifier = make_key()
    signed = note.sign_note("hello\nworld\n", ORIGIN, private_key)
    for position in range(len("hello\nworld")):
        if signed[position] == "\n":
            continue
        with pytest.raises(SignatureError, match="does not verify"):
            note.open_note(replace_char(signed, position), [verifier])


def test_note_with_flipped_signature_byte_fails():
    private_key, verifier = make_key()
    signed = note.sign_note("hello\n", ORIGIN, private_key)
    name_line = signed.rindex(" ") + 1
    # Bytes 0-3 are the key hash: changing those makes the signature unknown, not invalid.
    signature_start = name_line + 8
    for position in range(signature_start, len(signed) - 3):
        with pytest.raises(SignatureError):
            note.open_note(replace_char(signed, position), [verifier])


def test_note_signed_under_another_key_name_is_not_trusted():
    private_key, _ = make_key("vitrina.example/other")
    _, verifier = make_key(ORIGIN)
    signed = note.sign_note("hello\n", "vitrina.example/other", private_key)
    with pytest.raises(SignatureError, match="not signed by any trusted key") as raised:
        note.open_note(signed, [verifier])
    assert ORIGIN + "+" + verifier.key_hash.hex() in str(raised.value)


def test_note_with_same_name_but_another_key_is_not_trusted():
    private_key, _ = make_key(ORIGIN, seed=2)
    _, verifier = make_key(ORIGIN, seed=1)
    with pytest.raises(SignatureError, match="not signed by any trusted key"):
        note.open_note(note.sign_note("hello\n", ORIGIN, private_key), [verifier])


def test_unknown_extra_signatures_are_ignored():
    private_key, verifier = make_key()
    witness_key, _ = make_key("witness.example/w1", seed=7)
    text = "hello\n"
    ours = note.sign_note(text, ORIGIN, private_key)
    witness_line = note.sign_note(text, "witness.example/w1", witness_key).removeprefix(text + "\n")
    garbage_line = "— other.example " + base64.b64encode(b"\x00\x01\x02\x03not a real signature").decode()
    signed = ours + witness_line + garbage_line + "\n"
    assert note.open_note(signed, [verifier]) == (text, [ORIGIN])
    signed = text + "\n" + witness_line + ours.removeprefix(text + "\n")
    assert note.open_note(signed, [verifier]) == (text, [ORIGIN])


def test_bad_signature_by_known_key_fails_even_beside_a_good_one():
    private_key, verifier = make_key()
    signed = note.sign_note("hello\n", ORIGIN, private_key)
    line = signed.removeprefix("hello\n\n")
    bad_line = replace_char(line, len(line) - 10)
    with pytest.raises(SignatureError, match="does not verify"):
        note.open_note(signed + bad_line, [verifier])


def test_several_trusted_keys_report_every_signer():
    key_a, verifier_a = make_key("a.example", seed=3)
    key_b, verifier_b = make_key("b.example", seed=4)
    text = "hello\n"
    signed = note.sign_note(text, "a.example", key_a) + note.sign_note(text, "b.example", key_b).removeprefix(
        text + "\n"
    )
    assert note.open_note(signed, [verifier_b, verifier_a]) == (text, ["a.example", "b.example"])


def signature_line():
    private_key, _ = make_key()
    return note.sign_note("hello\n", ORIGIN, private_key).removeprefix("hello\n\n")


@pytest.mark.parametrize(
    "malformed",
    [
        pytest.param(lambda line: "hello\n" + line, id="no blank line"),
        pytest.param(lambda line: "hello\n\n", id="no signature line"),
        pytest.param(lambda line: "hello\n\n" + line[:-1], id="no final newline"),
        pytest.param(lambda line: "hello\n\n" + line.replace("\u2014", "-"), id="hyphen instead of em dash"),
        pytest.param(lambda line: "hello\n\n" + line.replace("\u2014 ", "\u2014"), id="no space after dash"),
        pytest.param(lambda line: "hello\n\n" + line.replace("=\n", "\n"), id="unpadded base64"),
        pytest.param(lambda line: "hello\n\n" + line.replace(ORIGIN, "a+b"), id="plus in key name"),
        pytest.param(lambda line: "hello\n\n\u2014 " + ORIGIN + " AAAA\n", id="signature too short"),
        pytest.param(lambda line: "hel\x01lo\n\n" + line, id="control character"),
        pytest.param(lambda line: "hello\r\n\n" + line, id="carriage return"),
        pytest.param(lambda line: "hello\n\n" + line + "\n", id="blank line after signatures"),
        pytest.param(lambda line: "x" * note.MAX_NOTE_BYTES + "\n\n" + line, id="too large"),
        pytest.param(lambda line: "hello\n\n" + line * (note.MAX_SIGNATURES + 1), id="too many signatures"),
    ],
)
def test_malformed_note_is_refused(malformed):
    _, verifier = make_key()
    with pytest.raises(FormatError):
        note.open_note(malformed(signature_line()), [verifier])


def test_note_bytes_that_are_not_utf8_are_refused():
    _, verifier = make_key()
    with pytest.raises(FormatError, match="UTF-8"):
        note.open_note(b"hello \xff\n\n" + signature_line().encode(), [verifier])


def test_sign_note_requires_text_ending_in_newline():
    private_key, _ = make_key()
    with pytest.raises(FormatError, match="newline"):
        note.sign_note("hello", ORIGIN, private_key)


# --- Checkpoints --------------------------------------------------------------------------------------


def test_checkpoint_format_and_parse_round_trip():
    body = note.format_checkpoint(ORIGIN, 1234, ROOT)
    assert body == f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n"
    assert note.parse_checkpoint(body) == note.Checkpoint(ORIGIN, 1234, ROOT, ())
    with_extensions = note.format_checkpoint(ORIGIN, 0, ROOT, ["ext one", "ext two"])
    assert note.parse_checkpoint(with_extensions) == note.Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))


def test_c2sp_checkpoint_example_parses():
    # The example body in the C2SP tlog-checkpoint specification.
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = note.parse_checkpoint(body)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root.hex().startswith("0ac5186a")


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n12\n{ROOT64}",  # no trailing newline
        f"{ORIGIN}\n12\n",  # no root line
        f"\n12\n{ROOT64}\n",  # empty origin
        f"{ORIGIN}\n012\n{ROOT64}\n",  # leading zero
        f"{ORIGIN}\n00\n{ROOT64}\n",
        f"{ORIGIN}\n+12\n{ROOT64}\n",
        f"{ORIGIN}\n-1\n{ROOT64}\n",
        f"{ORIGIN}\n 12\n{ROOT64}\n",
        f"{ORIGIN}\n1_2\n{ROOT64}\n",
        f"{ORIGIN}\n\n{ROOT64}\n",
        f"{ORIGIN}\n9223372036854775808\n{ROOT64}\n",  # beyond int64
        f"{ORIGIN}\n12\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte root
        f"{ORIGIN}\n12\n{ROOT64.rstrip('=')}\n",  # unpadded base64
        f"{ORIGIN}\n12\n{ROOT64[:-2]}B=\n",  # non-canonical trailing bits
        f"{ORIGIN}\n12\n{ROOT64}\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoint_is_refused(body):
    with pytest.raises(FormatError):
        note.parse_checkpoint(body)


def test_format_checkpoint_refuses_bad_fields():
    with pytest.raises(FormatError):
        note.format_checkpoint("", 1, ROOT)
    with pytest.raises(FormatError):
        note.format_checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(FormatError):
        note.format_checkpoint(ORIGIN, 1, ROOT[:16])
    with pytest.raises(FormatError):
        note.format_checkpoint(ORIGIN, 1, ROOT, [""])


def signed_checkpoint(origin=ORIGIN, key_name=ORIGIN, seed=1):
    private_key, _ = make_key(key_name, seed)
    vkey = note.make_verifier_key(key_name, private_key.public_key())
    return note.sign_note(note.format_checkpoint(origin, 42, ROOT), key_name, private_key), vkey


def test_verify_checkpoint_returns_the_checkpoint():
    signed, vkey = signed_checkpoint()
    assert note.verify_checkpoint(signed, vkey) == note.Checkpoint(ORIGIN, 42, ROOT, ())
    assert note.verify_checkpoint(signed, vkey, origin=ORIGIN).size == 42


def test_checkpoint_signed_by_key_not_named_after_origin_is_refused():
    signed, vkey = signed_checkpoint(origin="other.example/log", key_name=ORIGIN)
    with pytest.raises(CheckpointError, match="other.example/log"):
        note.verify_checkpoint(signed, vkey)


def test_checkpoint_of_another_log_than_expected_is_refused():
    signed, vkey = signed_checkpoint()
    with pytest.raises(CheckpointError, match="elsewhere.example"):
        note.verify_checkpoint(signed, vkey, origin="elsewhere.example/log")


def test_checkpoint_under_another_key_is_refused():
    signed, _ = signed_checkpoint(seed=1)
    _, other_vkey = signed_checkpoint(seed=2)
    with pytest.raises(SignatureError):
        note.verify_checkpoint(signed, other_vkey)


def test_signed_malformed_checkpoint_is_refused():
    private_key, _ = make_key()
    signed = note.sign_note(f"{ORIGIN}\n042\n{ROOT64}\n", ORIGIN, private_key)
    with pytest.raises(FormatError, match="leading zeros"):
        note.verify_checkpoint(signed, note.make_verifier_key(ORIGIN, private_key.public_key()))


def test_worked_example_of_the_log_format_document():
    # docs/formats/log.md publishes this checkpoint so that others can test their verifiers.
    private_key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    vkey = "vitrina.example/log+5ef4d2a8+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
    signed = (
        "vitrina.example/log\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n\n"
        "— vitrina.example/log XvTSqKhat1727yMWP9qijlTUwi6X5RHr+gdJwMmj8imwiBjE0fW"
        "Y9Tb6SExkUjeoNR3hudoBYetvwnjVDLT+8CcMIQg=\n"
    )
    root = bytes.fromhex("36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1")
    assert note.make_verifier_key("vitrina.example/log", private_key.public_key()) == vkey
    assert (
        note.sign_note(
            note.format_checkpoint("vitrina.example/log", 3, root), "vitrina.example/log", private_key
        )
        == signed
    )
    assert note.verify_checkpoint(signed, vkey) == note.Checkpoint("vitrina.example/log", 3, root, ())
